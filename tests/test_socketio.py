"""Socket.IO clients against a real hub: authentication, rooms, the six events, resume."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import socketio

from tests.conftest import SECRET, HubProcess, token, uid

SIX_EVENTS = (
    "patient_alert",
    "risk_updated",
    "triage_updated",
    "hospital_alert",
    "staff_availability_changed",
    "bed_status_changed",
)


class Listener:
    """A socketio.AsyncClient that records every event it receives."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.connect_error: Any = None
        self.disconnected = asyncio.Event()

        @self.client.on("*")
        async def _any(event: str, data: Any) -> None:
            self.events.append((event, data))

        @self.client.event
        async def connect_error(data: Any) -> None:
            self.connect_error = data

        @self.client.event
        async def disconnect(*_: Any) -> None:
            self.disconnected.set()

    async def connect(self, hub: HubProcess, tok: str | None, **kw: Any) -> None:
        auth = {"token": tok} if tok is not None else None
        await self.client.connect(hub.url, auth=auth, transports=["websocket"], **kw)

    async def join(self, room: str, since: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"room": room}
        if since is not None:
            data["since"] = since
        return await self.client.call("join_room", data, timeout=30)  # type: ignore[no-any-return]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [d for e, d in self.events if e == event_type]

    async def wait_for(self, predicate: Any, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; got {[e for e, _ in self.events][-20:]}")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


async def post(hub: HubProcess, event_type: str, body: dict[str, Any], tok: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{hub.url}/api/events/{event_type}",
            json=body,
            headers={"Authorization": f"Bearer {tok}"},
        )
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tok", "reason"),
    [
        (None, "missing token"),
        ("not-a-jwt", "malformed token"),
        (token(ttl_s=-120), "token expired"),
        (token(secret="another-secret-" + "y" * 40), "invalid signature"),
    ],
    ids=["missing", "malformed", "expired", "wrong-signature"],
)
async def test_bad_tokens_are_refused_with_reason(
    hub_server: HubProcess, tok: str | None, reason: str
) -> None:
    listener = Listener()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await listener.connect(hub_server, tok)
    assert listener.connect_error == {
        "message": "unauthorized",
        "data": {"code": 401, "reason": reason},
    } or listener.connect_error == {"code": 401, "reason": reason}


async def test_connect_with_auth_payload_gets_connection_response(hub_server: HubProcess) -> None:
    listener = Listener()
    await listener.connect(hub_server, token(sub="nurse-7", hospitals=["H1"]))
    await listener.wait_for(lambda: listener.of("connection_response"))
    response = listener.of("connection_response")[0]
    assert response["status"] == "connected"
    assert response["user_id"] == "nurse-7"
    assert response["role"] == "nurse"
    await listener.close()


async def test_bearer_header_authenticates_non_browser_clients(hub_server: HubProcess) -> None:
    listener = Listener()
    await listener.client.connect(
        hub_server.url,
        headers={"Authorization": f"Bearer {token(hospitals=['H1'])}"},
        transports=["websocket"],
    )
    assert (await listener.join("hospital_H1"))["ok"] is True
    await listener.close()


async def test_client_is_disconnected_when_its_token_expires(hub_server: HubProcess) -> None:
    listener = Listener()
    # leeway is 30 s by default, so a token valid for 1 s more is accepted now and cut soon
    await listener.connect(hub_server, token(hospitals=["H1"], ttl_s=1))
    await asyncio.wait_for(listener.disconnected.wait(), timeout=10)


# --- rooms ---------------------------------------------------------------------------------


async def test_room_authorization(hub_server: HubProcess, service_token: str) -> None:
    h1, h2, p_in, p_out, p_granted = uid("H"), uid("H"), uid("P"), uid("P"), uid("P")
    await post(
        hub_server,
        "patient_alert",
        {"patient_id": p_in, "hospital_id": h1, "alert_type": "info"},
        service_token,
    )
    await post(
        hub_server,
        "patient_alert",
        {"patient_id": p_out, "hospital_id": h2, "alert_type": "info"},
        service_token,
    )
    nurse = Listener()
    await nurse.connect(hub_server, token(hospitals=[h1], patients=[p_granted]))
    joined = await nurse.join(f"hospital_{h1}")
    assert joined["ok"] is True and joined["room"] == f"hospital_{h1}"
    assert isinstance(joined["seq"], int) and joined["seq"] >= 2
    denied = await nurse.join(f"hospital_{h2}")
    assert denied["ok"] is False and denied["error"] == "forbidden"
    assert (await nurse.join(f"patient_{p_in}"))["ok"] is True
    assert (await nurse.join(f"patient_{p_out}"))["error"] == "forbidden"
    assert (await nurse.join(f"patient_{p_granted}"))["ok"] is True
    assert (await nurse.join("triage_queue"))["ok"] is True
    for bad in ("bogus", "patient_", "patient_../x", "hospital_H1/x", 42, "room_1"):
        reply = await nurse.join(bad)  # type: ignore[arg-type]
        assert reply["ok"] is False and reply["error"] == "invalid_room", bad
    await nurse.wait_for(lambda: len(nurse.of("room_joined")) >= 4)
    joined_rooms = [d["room"] for d in nurse.of("room_joined")]
    assert joined_rooms[:3] == [f"hospital_{h1}", f"patient_{p_in}", f"patient_{p_granted}"]
    left = await nurse.client.call("leave_room", {"room": f"patient_{p_in}"})
    assert left == {"ok": True, "room": f"patient_{p_in}"}
    await nurse.wait_for(lambda: nurse.of("room_left"))
    await nurse.close()

    porter = Listener()
    await porter.connect(hub_server, token(role="porter", hospitals=[h1]))
    assert (await porter.join("triage_queue"))["error"] == "forbidden"
    await porter.close()

    admin = Listener()
    await admin.connect(hub_server, token(role="admin"))
    assert (await admin.join(f"patient_{p_out}"))["ok"] is True
    assert (await admin.join(f"hospital_{h2}"))["ok"] is True
    await admin.close()


async def test_patient_and_triage_joins_are_audited(
    hub_server: HubProcess, service_token: str, admin_token: str
) -> None:
    h1, p1, t1, p_other = uid("H"), uid("P"), uid("T"), uid("P")
    await post(
        hub_server,
        "triage_updated",
        {"triage_id": t1, "status": "pending", "patient_id": p1, "hospital_id": h1},
        service_token,
    )
    nurse = Listener()
    sub = uid("nurse-")
    await nurse.connect(hub_server, token(sub=sub, hospitals=[h1]))
    assert (await nurse.join(f"triage_{t1}"))["ok"] is True
    assert (await nurse.join(f"patient_{p_other}"))["ok"] is False
    assert (await nurse.client.call("leave_room", {"room": f"triage_{t1}"}))["ok"] is True
    await nurse.close()
    r = httpx.get(
        f"{hub_server.url}/api/audit",
        params={"subject": sub},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert r.status_code == 200
    entries = [(e["action"], e["room"], e["outcome"]) for e in r.json()["entries"]]
    assert entries == [
        ("join", f"triage_{t1}", "allowed"),
        ("join", f"patient_{p_other}", "denied"),
        ("leave", f"triage_{t1}", "allowed"),
    ]
    assert all(
        e["at"].endswith("Z") and e["client"].startswith("127.0.0.1") for e in r.json()["entries"]
    )
    # the audit trail is for admins only
    nurse_tok = token(hospitals=[h1])
    r = httpx.get(f"{hub_server.url}/api/audit", headers={"Authorization": f"Bearer {nurse_tok}"})
    assert r.status_code == 403


async def test_join_flood_is_rate_limited(hub_server: HubProcess) -> None:
    listener = Listener()
    await listener.connect(hub_server, token(hospitals=["H1"]))
    replies = await asyncio.gather(*(listener.join("hospital_H1") for _ in range(150)))
    errors = [r.get("error") for r in replies if not r["ok"]]
    assert errors and set(errors) == {"rate_limited"}
    assert sum(r["ok"] for r in replies) >= 50
    await listener.close()


async def test_malformed_join_requests_get_specific_errors(hub_server: HubProcess) -> None:
    listener = Listener()
    await listener.connect(hub_server, token(hospitals=["H1"]))
    assert (await listener.client.call("join_room", "hospital_H1"))["error"] == "bad_request"
    reply = await listener.client.call("join_room", {"room": "hospital_H1", "since": -1})
    assert reply["error"] == "bad_request"
    reply = await listener.client.call("leave_room", {"room": "hospital_H1"})
    assert reply["error"] == "not_joined"
    # the connection survives all of it
    assert (await listener.join("hospital_H1"))["ok"] is True
    await listener.close()


# --- the six events ------------------------------------------------------------------------


async def test_all_six_events_reach_their_rooms_with_seed_fields(
    hub_server: HubProcess, service_token: str
) -> None:
    h, p, t = uid("H"), uid("P"), uid("T")
    # place the patient in the hospital so the nurse may join the patient and triage rooms
    await post(
        hub_server,
        "bed_status_changed",
        {"hospital_id": h, "bed_info": {"bed_id": "B1", "status": "occupied", "patient_id": p}},
        service_token,
    )
    await post(
        hub_server,
        "triage_updated",
        {"triage_id": t, "status": "pending", "patient_id": p, "hospital_id": h},
        service_token,
    )
    nurse = Listener()
    await nurse.connect(hub_server, token(hospitals=[h]))
    for room in (f"hospital_{h}", f"patient_{p}", f"triage_{t}", "triage_queue"):
        assert (await nurse.join(room))["ok"] is True, room
    bodies = {
        "patient_alert": {
            "patient_id": p,
            "alert_type": "critical",
            "alert_data": {"message": "Potassium 6.8 mmol/L", "severity": "high"},
        },
        "risk_updated": {
            "patient_id": p,
            "risk_score": 0.92,
            "risk_level": "critical",
            "explanation": {"feature": "heart_rate", "impact": "high"},
        },
        "triage_updated": {"triage_id": t, "status": "assigned", "patient_id": p},
        "hospital_alert": {
            "hospital_id": h,
            "alert_type": "emergency",
            "alert_data": {"message": "Emergency situation"},
        },
        "staff_availability_changed": {
            "hospital_id": h,
            "staff_id": "doc_001",
            "staff_type": "doctor",
            "available": True,
        },
        "bed_status_changed": {
            "hospital_id": h,
            "bed_info": {"bed_id": "bed_101", "status": "occupied", "patient_id": p},
        },
    }
    accepted = {}
    for event_type, body in bodies.items():
        accepted[event_type] = await post(hub_server, event_type, body, service_token)
    await nurse.wait_for(
        lambda: all(any(d["id"] == accepted[e]["id"] for d in nurse.of(e)) for e in SIX_EVENTS)
    )
    for event_type, body in bodies.items():
        received = [d for d in nurse.of(event_type) if d["id"] == accepted[event_type]["id"]]
        # in several of the event's rooms, still delivered once
        assert len(received) == 1, event_type
        event = received[0]
        for key, value in body.items():
            assert event[key] == value or (
                isinstance(value, dict) and value.items() <= event[key].items()
            ), key
        assert event["type"] == event_type
        assert event["seq"] == accepted[event_type]["seq"]
        assert event["timestamp"].endswith("Z") and event["received_at"].endswith("Z")
        assert event["source"] == "api"
        assert event["version"] == 1
    await nurse.close()


async def test_events_go_only_to_their_rooms(hub_server: HubProcess, service_token: str) -> None:
    h1, h2 = uid("H"), uid("H")
    a, b = Listener(), Listener()
    await a.connect(hub_server, token(hospitals=[h1]))
    await b.connect(hub_server, token(hospitals=[h2]))
    await a.join(f"hospital_{h1}")
    await b.join(f"hospital_{h2}")
    sent = await post(
        hub_server,
        "hospital_alert",
        {"hospital_id": h1, "alert_type": "capacity", "alert_data": {}},
        service_token,
    )
    marker = await post(
        hub_server,
        "hospital_alert",
        {"hospital_id": h2, "alert_type": "system", "alert_data": {}},
        service_token,
    )
    await a.wait_for(lambda: a.of("hospital_alert"))
    await b.wait_for(lambda: b.of("hospital_alert"))
    assert [d["id"] for d in a.of("hospital_alert")] == [sent["id"]]
    assert [d["id"] for d in b.of("hospital_alert")] == [marker["id"]]
    await a.close()
    await b.close()


# --- resume --------------------------------------------------------------------------------


async def test_resume_with_since_has_no_gap_or_duplicate_while_events_flow(
    hub_server: HubProcess, service_token: str
) -> None:
    h = uid("H")
    room = f"hospital_{h}"
    watcher = Listener()
    await watcher.connect(hub_server, token(hospitals=[h]))
    first = await watcher.join(room)
    start_seq = first["seq"]

    stop = asyncio.Event()
    published: list[int] = []

    async def producer() -> None:
        async with httpx.AsyncClient() as http:
            i = 0
            while not stop.is_set() and i < 600:
                r = await http.post(
                    f"{hub_server.url}/api/events/staff_availability_changed",
                    json={
                        "hospital_id": h,
                        "staff_id": f"S{i}",
                        "staff_type": "nurse",
                        "available": i % 2 == 0,
                    },
                    headers={"Authorization": f"Bearer {service_token}"},
                )
                assert r.status_code == 202
                published.append(r.json()["seq"])
                i += 1

    task = asyncio.create_task(producer())
    await watcher.wait_for(lambda: len(published) >= 50)
    # the client drops mid-stream, then resumes from the last seq it saw, while events flow
    seen_before = [d["seq"] for d in watcher.of("staff_availability_changed")]
    last_seen = seen_before[-1] if seen_before else start_seq
    await watcher.close()
    await asyncio.sleep(0.2)
    resumed = Listener()
    await resumed.connect(hub_server, token(hospitals=[h]))
    ack = await resumed.join(room, since=last_seen)
    assert ack["ok"] is True and ack["replayed"] >= 1
    await asyncio.sleep(0.5)
    stop.set()
    await task
    await resumed.wait_for(
        lambda: (
            resumed.of("staff_availability_changed")
            and resumed.of("staff_availability_changed")[-1]["seq"] >= published[-1]
        )
    )
    after = [d["seq"] for d in resumed.of("staff_availability_changed")]
    assert after == sorted(after), "out of order"
    assert len(after) == len(set(after)), "duplicate at the seam"
    combined = [s for s in seen_before if s <= last_seen] + after
    assert combined == published, "gap: some published events never arrived"
    await resumed.close()


async def test_resume_when_offline_gets_everything_in_order(
    hub_server: HubProcess, service_token: str
) -> None:
    p, h = uid("P"), uid("H")
    ids = []
    for i in range(30):
        r = await post(
            hub_server,
            "risk_updated",
            {"patient_id": p, "hospital_id": h, "risk_score": i / 30, "risk_level": "low"},
            service_token,
        )
        ids.append(r["id"])
    listener = Listener()
    await listener.connect(hub_server, token(hospitals=[h]))
    ack = await listener.join(f"patient_{p}", since=0)
    assert ack["ok"] and ack["replayed"] == 30 and ack["truncated"] is False
    await listener.wait_for(lambda: len(listener.of("risk_updated")) >= 30)
    assert [d["id"] for d in listener.of("risk_updated")] == ids
    await listener.close()


async def test_history_over_http_is_authorized_like_a_join(
    hub_server: HubProcess, service_token: str
) -> None:
    h, other = uid("H"), uid("H")
    seqs = [
        (
            await post(
                hub_server,
                "hospital_alert",
                {"hospital_id": h, "alert_type": "system", "alert_data": {"n": i}},
                service_token,
            )
        )["seq"]
        for i in range(5)
    ]
    auth = {"Authorization": f"Bearer {token(hospitals=[h])}"}
    async with httpx.AsyncClient(base_url=hub_server.url, headers=auth) as http:
        r = await http.get("/api/events", params={"room": f"hospital_{h}", "limit": 3})
        assert r.status_code == 200
        page = r.json()
        assert [e["seq"] for e in page["events"]] == seqs[:3] and page["more"] is True
        r = await http.get(
            "/api/events", params={"room": f"hospital_{h}", "since": page["next_since"]}
        )
        assert [e["seq"] for e in r.json()["events"]] == seqs[3:]
        r = await http.get("/api/events", params={"room": f"hospital_{other}"})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        r = await http.get("/api/events", params={"room": "nope"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_room"
    r = httpx.get(f"{hub_server.url}/api/events", params={"room": f"hospital_{h}"})
    assert r.status_code == 401


def test_secret_is_shared_with_fixture() -> None:
    # guards the fixtures: tokens are minted with the secret the hub runs with
    assert len(SECRET) >= 32
