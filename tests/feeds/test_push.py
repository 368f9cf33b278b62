"""Webhook updates and snapshots over real HTTP into the census and Socket.IO rooms, and how
they meet HL7 ADT about the same bed (docs/feeds.md). Synthetic data only."""

from __future__ import annotations

import json

import httpx

from tests.conftest import HubProcess, token, uid
from tests.feeds.conftest import API_KEY, admin, metric, send, service
from tests.hl7.test_adt_events import adt
from tests.hl7.test_adt_events import send as send_hl7
from tests.test_socketio import Listener


async def watch(hub: HubProcess, hospital: str) -> Listener:
    listener = Listener()
    await listener.connect(hub, token(hospitals=[hospital]))
    assert (await listener.join(f"hospital_{hospital}"))["ok"] is True
    return listener


def beds_of(listener: Listener) -> list[tuple[str, str, str | None]]:
    return [
        (e["bed_info"]["bed_id"], e["bed_info"]["status"], e["bed_info"].get("patient_id"))
        for e in listener.of("bed_status_changed")
    ]


def board(hub: HubProcess, hospital: str) -> dict[str, dict[str, object]]:
    reply = httpx.get(
        f"{hub.url}/api/hospitals/{hospital}/beds",
        headers={"Authorization": f"Bearer {token(hospitals=[hospital])}"},
    )
    assert reply.status_code == 200, reply.text
    return {b["bed_id"]: b for b in reply.json()["beds"]}


async def test_webhook_updates_single_and_list_reach_the_hospital_room(
    feed_hub: HubProcess,
) -> None:
    h, p = uid("H"), uid("P")
    watcher = await watch(feed_hub, h)
    one = send(
        feed_hub,
        "POST",
        "/feeds/beds/default",
        {"bed_id": "ICU-1", "unit": "ICU", "hospital": h, "status": "O", "patient_id": p},
    )
    assert one.status_code == 200, one.text
    assert one.json()["events"] == 1 and one.json()["duplicate"] is False
    updates = [
        {"bed_id": "ICU-2", "unit": "ICU", "room": "2", "status": "available"},
        {"bed_id": "ICU 3", "unit": "ICU", "status": "K", "updated_at": "2026-03-10T16:00:00"},
    ]
    keyed = service()
    keyed["Idempotency-Key"] = uid("k")
    many = send(feed_hub, "POST", "/feeds/beds/default", updates, headers=keyed, hospital=h)
    assert many.status_code == 200 and many.json()["events"] == 2, many.text
    again = send(feed_hub, "POST", "/feeds/beds/default", updates, headers=keyed, hospital=h)
    assert again.json()["duplicate"] is True and again.json()["input_id"] == many.json()["input_id"]
    await watcher.wait_for(lambda: len(watcher.of("bed_status_changed")) >= 3)
    assert beds_of(watcher) == [
        ("ICU-1", "occupied", p),
        ("ICU-2", "available", None),
        ("ICU_3", "contaminated", None),  # sanitised like HL7 ids
    ]
    last = watcher.of("bed_status_changed")[-1]
    assert last["source"] == "feed:default" and last["timestamp"] == "2026-03-10T16:00:00.000Z"
    census = board(feed_hub, h)
    assert census["ICU-1"]["patient_id"] == p and census["ICU_3"]["status"] == "contaminated"
    assert census["ICU-1"]["source"] == "feed:default"
    await watcher.close()


async def test_json_snapshot_emits_only_changes_and_leaves_absent_beds_alone(
    feed_hub: HubProcess,
) -> None:
    h = uid("H")
    watcher = await watch(feed_hub, h)
    beds = [{"bed_id": f"W1-{i}", "unit": "W1", "status": "U"} for i in range(10)]
    first = send(feed_hub, "PUT", "/feeds/beds/default", {"hospital": h, "beds": beds})
    assert first.status_code == 200 and first.json()["events"] == 10, first.text
    same = send(feed_hub, "PUT", "/feeds/beds/default", {"hospital": h, "beds": beds})
    assert same.json()["duplicate"] is True
    beds[3] = {**beds[3], "status": "occupied", "patient_id": "PX1"}
    beds[7] = {**beds[7], "status": "cleaning"}
    changed = send(feed_hub, "PUT", "/feeds/beds/default", {"hospital": h, "beds": beds})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["events"], changed.json()["unchanged"]) == (2, 8)
    # a partial snapshot: beds it does not list keep their state
    partial = send(feed_hub, "PUT", "/feeds/beds/default", {"hospital": h, "beds": beds[:2]})
    assert partial.json()["events"] == 0 and partial.json()["unchanged"] == 2
    await watcher.wait_for(lambda: len(watcher.of("bed_status_changed")) >= 12)
    await watcher.close()
    assert beds_of(watcher)[10:] == [("W1-3", "occupied", "PX1"), ("W1-7", "cleaning", None)]
    assert len(watcher.of("bed_status_changed")) == 12
    census = board(feed_hub, h)
    assert len(census) == 10 and census["W1-7"]["status"] == "cleaning"


async def test_csv_snapshot_with_bom_crlf_and_any_column_order(feed_hub: HubProcess) -> None:
    h = uid("H")
    watcher = await watch(feed_hub, h)
    csv = (
        "\ufeffStatus,bed_id,unit,updated_at,patient_id\r\n"
        "O,C-1,CCU,2026-03-10T10:00:00Z,PC1\r\n"
        "U,C-2,CCU,2026-03-10T10:00:00Z,\r\n"
        "\r\n"
    ).encode()
    headers = {**service(), "Content-Type": "text/csv"}
    reply = send(feed_hub, "PUT", "/feeds/beds/default", content=csv, headers=headers, hospital=h)
    assert reply.status_code == 200 and reply.json()["events"] == 2, reply.text
    changed = csv.replace(b"U,C-2,CCU,2026-03-10T10:00:00Z", b"C,C-2,CCU,2026-03-10T11:00:00Z")
    again = send(
        feed_hub, "PUT", "/feeds/beds/default", content=changed, headers=headers, hospital=h
    )
    assert again.json()["events"] == 1 and again.json()["unchanged"] == 1, again.text
    await watcher.wait_for(lambda: len(watcher.of("bed_status_changed")) >= 3)
    assert beds_of(watcher) == [
        ("C-1", "occupied", "PC1"),
        ("C-2", "available", None),
        ("C-2", "closed", None),
    ]
    await watcher.close()


def test_bad_rows_are_refused_naming_row_and_column_and_kept(feed_hub: HubProcess) -> None:
    headers = {**service(), "Content-Type": "text/csv"}
    h = uid("H")
    cases = [
        (b"bed_id,status,updated_at\nA,U,2026-03-10\nB,U,yesterday\n", 3, "updated_at"),
        (b"bed_id,unit\nA,W\n", 1, "status"),
        (b"bed_id,status\nA,U\n,U\n", 3, "bed_id"),
        (b"bed_id,status\nA,U\nB,U,extra\n", 3, None),
    ]
    for body, row, column in cases:
        reply = send(
            feed_hub, "PUT", "/feeds/beds/default", content=body, headers=headers, hospital=h
        )
        assert reply.status_code == 422, reply.text
        assert reply.json()["row"] == row and reply.json().get("column") == column, reply.text
        assert f"row {row}" in reply.json()["detail"]
    # a status nobody maps is the plugin's refusal: kept as an error, reprocessable
    unknown = send(
        feed_hub,
        "PUT",
        "/feeds/beds/default",
        content=b"bed_id,status\nA,U\nB,Q\n",
        headers=headers,
        hospital=h,
    )
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_status"
    assert (unknown.json()["row"], unknown.json()["column"]) == (3, "status")
    nowhere = send(feed_hub, "POST", "/feeds/beds/default", {"bed_id": "A", "status": "U"})
    assert nowhere.status_code == 422 and nowhere.json()["column"] == "hospital"
    notjson = send(
        feed_hub,
        "POST",
        "/feeds/beds/default",
        content=b"{oops",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert notjson.status_code == 400 and notjson.json()["error"] == "invalid_json"
    xml = send(
        feed_hub,
        "POST",
        "/feeds/beds/default",
        content=b"<a/>",
        headers={**headers, "Content-Type": "application/xml"},
    )
    assert xml.status_code == 415
    kept = httpx.get(
        f"{feed_hub.url}/api/inbound", params={"source": "feed:default"}, headers=admin()
    ).json()["entries"]
    statuses = [e["status"] for e in kept]
    assert statuses.count("rejected") >= 6 and "error" in statuses
    item = next(e for e in kept if e["id"] == unknown.json()["input_id"])
    assert item["status"] == "error" and "row 3, status" in item["error"]


def test_credentials_are_checked_per_source(feed_hub: HubProcess) -> None:
    update = {"bed_id": "K1", "hospital": uid("H"), "status": "U"}
    path = "/feeds/beds/bedboard"
    assert send(feed_hub, "POST", path, update, headers={}).status_code == 401
    wrong = send(feed_hub, "POST", path, update, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    # bedboard takes its API key only, not the hub's tokens
    assert send(feed_hub, "POST", path, update).status_code == 401
    assert send(feed_hub, "POST", path, update, headers={"X-API-Key": API_KEY}).status_code == 200
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert send(feed_hub, "POST", path, update, headers=bearer).status_code == 200
    nurse = {"Authorization": f"Bearer {token()}"}
    refused = send(feed_hub, "POST", "/feeds/beds/default", update, headers=nurse)
    assert refused.status_code == 403 and "nurse" in refused.json()["detail"]
    forged = {"Authorization": f"Bearer {token(role='service', secret='w' * 40)}"}
    assert send(feed_hub, "POST", "/feeds/beds/default", update, headers=forged).status_code == 401
    big = [dict(update, bed_id=f"K{i}") for i in range(200)]
    too_big = send(feed_hub, "PUT", path, big, headers={"X-API-Key": API_KEY})
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    # bedboard is configured for beds only
    staff = {"staff_id": "S1", "available": True}
    assert send(feed_hub, "POST", "/feeds/staff/bedboard", staff, headers=bearer).status_code == 404


async def test_stale_and_conflicting_updates_against_an_hl7_discharge(
    feed_hub: HubProcess,
) -> None:
    fac, patient = uid("F"), uid("P")
    watcher = await watch(feed_hub, fac)
    stale0 = metric(feed_hub, "hub_feed_stale_total", source="feed:bedboard", kind="beds")
    conflicts0 = metric(feed_hub, "hub_census_conflicts_total", kind="beds")
    # HL7: admitted to 5B/305/2, then discharged; EVN-6 is 2026-03-10 15:55 for both
    acks = await send_hl7(
        feed_hub,
        adt("A01", uid("c"), f"{patient}^^^HOSP^MR", f"I|5B^305^2^{fac}"),
        adt("A03", uid("c"), f"{patient}^^^HOSP^MR", f"I|5B^305^2^{fac}", structure="ADT_A03"),
    )
    assert [code for code, _ in acks] == ["AA", "AA"]
    key = {"X-API-Key": API_KEY}
    bed = {"unit": "5B", "room": "305", "bed": "2", "hospital": fac}
    # the bed board's older view (patient still in the bed) is stale: ignored and counted
    old = {**bed, "status": "O", "patient_id": patient, "updated_at": "2026-03-10T15:00:00Z"}
    stale = send(feed_hub, "POST", "/feeds/beds/bedboard", old, headers=key)
    assert stale.status_code == 200, stale.text
    assert (stale.json()["events"], stale.json()["stale"], stale.json()["conflicts"]) == (0, 1, 1)
    # housekeeping finished later: newer than the discharge, so it wins, as a conflict
    ready = {**bed, "status": "ready", "updated_at": "2026-03-10T16:30:00Z"}
    applied = send(feed_hub, "POST", "/feeds/beds/bedboard", ready, headers=key)
    assert (applied.json()["events"], applied.json()["conflicts"]) == (1, 1), applied.text
    # the same board's own next word is no conflict, and repeating it changes nothing
    dirty = {"bed_id": "5B:305:2", "hospital": fac, "status": "housekeeping"}
    dirty["updated_at"] = "2026-03-10T16:40:00Z"
    assert (
        send(feed_hub, "POST", "/feeds/beds/bedboard", dirty, headers=key).json()["conflicts"] == 0
    )
    repeat = send(feed_hub, "POST", "/feeds/beds/bedboard", dirty, headers=key).json()
    assert (repeat["events"], repeat["unchanged"]) == (0, 1)
    await watcher.wait_for(lambda: len(watcher.of("bed_status_changed")) >= 4)
    await watcher.close()
    assert beds_of(watcher) == [
        ("5B:305:2", "occupied", patient),
        ("5B:305:2", "cleaning", None),
        ("5B:305:2", "available", None),
        ("5B:305:2", "cleaning", None),
    ]
    sources = [e["source"] for e in watcher.of("bed_status_changed")]
    assert sources == ["mllp:default", "mllp:default", "feed:bedboard", "feed:bedboard"]
    census = board(feed_hub, fac)["5B:305:2"]
    assert (census["status"], census["source"]) == ("cleaning", "feed:bedboard")
    assert census["updated_at"] == "2026-03-10T16:40:00.000Z" and census["unit"] == "5B"
    stale_now = metric(feed_hub, "hub_feed_stale_total", source="feed:bedboard", kind="beds")
    assert stale_now - stale0 == 1
    assert metric(feed_hub, "hub_census_conflicts_total", kind="beds") - conflicts0 == 2


async def test_staff_feed_webhook_and_csv_snapshot_drive_on_duty_counts(
    feed_hub: HubProcess,
) -> None:
    h = uid("H")
    watcher = await watch(feed_hub, h)
    on = [
        {"staff_id": "D1", "staff_type": "doctor", "available": True, "unit": "ED"},
        {"staff_id": "N1", "staff_type": "RN", "available": "on_duty", "unit": "ED"},
    ]
    reply = send(feed_hub, "POST", "/feeds/staff/default", on, hospital=h)
    assert reply.status_code == 200 and reply.json()["events"] == 2, reply.text
    roster = (
        b"available,staff_id,hospital,staff_type,unit\r\nfalse,N1,%s,RN,ED\r\n1,N2,%s,nurse,\r\n"
    )
    headers = {**service(), "Content-Type": "text/csv"}
    body = roster % (h.encode(), h.encode())
    snap = send(feed_hub, "PUT", "/feeds/staff/default", content=body, headers=headers)
    assert snap.status_code == 200 and snap.json()["events"] == 2, snap.text
    await watcher.wait_for(lambda: len(watcher.of("staff_availability_changed")) >= 4)
    await watcher.close()
    seen = [
        (e["staff_id"], e["staff_type"], e["available"])
        for e in watcher.of("staff_availability_changed")
    ]
    assert seen == [
        ("D1", "doctor", True),
        ("N1", "nurse", True),
        ("N1", "nurse", False),
        ("N2", "nurse", True),
    ]
    counts = httpx.get(
        f"{feed_hub.url}/api/hospitals/{h}/staff",
        headers={"Authorization": f"Bearer {token(hospitals=[h])}"},
    ).json()
    assert counts["on_duty"] == {"doctor": 1, "nurse": 1, "other": 0}
    assert counts["on_duty_total"] == 2
    n1 = next(m for m in counts["staff"] if m["staff_id"] == "N1")
    assert n1["available"] is False and n1["source"] == "feed:default" and n1["unit"] == "ED"


def test_one_kept_alive_connection_survives_refusals_and_oversized_bodies(
    feed_hub: HubProcess,
) -> None:
    """The lean HTTP path (hub/http_lean.py) answers without reading a refused body; the
    connection must still carry the next request."""
    update = {"bed_id": "KA1", "hospital": uid("H"), "status": "U"}
    path = "/feeds/beds/bedboard"
    with httpx.Client(base_url=feed_hub.url, timeout=10) as client:
        for _ in range(3):
            assert client.post(path, json=update).status_code == 401  # body left unread
            ok = client.post(path, json=update, headers={"X-API-Key": API_KEY})
            assert ok.status_code == 200
        big = [dict(update, bed_id=f"KA{i}") for i in range(200)]
        # no Content-Length: the limit is enforced while reading the stream
        chunks = iter([json.dumps(big).encode()])
        streamed = client.put(
            path, content=chunks, headers={"X-API-Key": API_KEY, "Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert client.post(path, json=update, headers={"X-API-Key": API_KEY}).status_code == 200
        # a path no input serves still reaches the rest of the hub
        assert client.get("/health").status_code == 200
