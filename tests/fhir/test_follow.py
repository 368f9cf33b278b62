"""id-only and empty notifications, missed events and silence, against a FHIR server over real
HTTP (integration-engines.md §3.1 receiver obligations, §9.5). Synthetic data only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hub.testing import free_port
from tests.conftest import HubProcess, token, uid
from tests.fhir.fhir_server import FhirServer
from tests.fhir.test_receiver import notification, observation, post
from tests.test_socketio import Listener

SYSTEM = "Hsys"


@pytest.fixture(scope="module")
def follow_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    state: Path = tmp_path_factory.mktemp("follow")
    hub = HubProcess(state)
    hub.fhir_port = free_port()  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{hub.fhir_port}/fhir"  # type: ignore[attr-defined]
    settings = json.loads(hub.env()["HUB_PLUGINS__SETTINGS"])
    common = {
        "accept_hub_tokens": True,
        "base_url": base,
        "gap_grace_s": 0.3,
        "fetch_backoff_s": 0.05,
        "alert_hospital": SYSTEM,
    }
    settings["fhir"] = {
        "sources": [
            {"name": "default", **common},
            {"name": "watched", **common, "heartbeat_s": 1.0},
            # a server that sends no heartbeats: only the hub-wide silence watchdog notices
            {**common, "name": "quiet", "max_silence_s": 1.5, "alert_hospital": "Hquiet"},
            {**common, "name": "flaky", "alert_hospital": "Hflaky"},
        ]
    }
    hub.extra_env["HUB_PLUGINS__SETTINGS"] = json.dumps(settings)
    yield hub.start()
    hub.stop()


@pytest.fixture
async def server(follow_hub: HubProcess) -> AsyncIterator[FhirServer]:
    async with FhirServer().serve(follow_hub.fhir_port) as running:  # type: ignore[attr-defined]
        yield running


def base(hub: HubProcess) -> str:
    return f"http://127.0.0.1:{hub.fhir_port}/fhir"  # type: ignore[attr-defined]


async def watch(hub: HubProcess, patient: str) -> Listener:
    listener = Listener()
    await listener.connect(hub, token(patients=[patient], hospitals=[SYSTEM]))
    assert (await listener.join(f"patient_{patient}"))["ok"] is True
    assert (await listener.join(f"hospital_{SYSTEM}"))["ok"] is True
    return listener


def messages(listener: Listener) -> list[str]:
    return [a["alert_data"]["message"] for a in listener.of("patient_alert")]


async def test_id_only_foci_are_read_with_retries(
    follow_hub: HubProcess, server: FhirServer
) -> None:
    patient = uid("p")
    obs = observation(uid("o"), patient, 6.9, "HH")
    server.add(obs)
    server.fail_next = 2  # two 503s: the read is retried
    watcher = await watch(follow_hub, patient)
    sub = uid("sub")
    reply = post(
        follow_hub,
        notification(
            "R4", "event-notification", 1, [obs], sub, base=base(follow_hub), content="id-only"
        ),
    )
    assert reply.status_code == 200, reply.text
    await watcher.wait_for(lambda: bool(watcher.of("patient_alert")))
    assert messages(watcher) == ["Potassium 6.9 mmol/L (critical high)"]
    assert sum(f"/fhir/Observation/{obs['id']}" in r for r in server.requests) == 3
    await watcher.close()


async def test_empty_notifications_search_for_what_changed(
    follow_hub: HubProcess, server: FhirServer
) -> None:
    patient = uid("p")
    obs = observation(uid("o"), patient, 1.8, "LL")
    server.add(obs, updated="2099-01-01T00:00:00Z")
    watcher = await watch(follow_hub, patient)
    reply = post(
        follow_hub,
        notification(
            "R5", "event-notification", 1, [obs], uid("sub"), base=base(follow_hub), content="empty"
        ),
    )
    assert reply.status_code == 200, reply.text
    await watcher.wait_for(lambda: bool(watcher.of("patient_alert")))
    assert messages(watcher) == ["Potassium 1.8 mmol/L (critical low)"]
    assert any(r.startswith("/fhir/Observation?_lastUpdated=ge") for r in server.requests)
    await watcher.close()


@pytest.mark.parametrize("events_supported", [True, False])
async def test_a_gap_raises_a_system_alert_and_is_recovered(
    follow_hub: HubProcess, server: FhirServer, events_supported: bool
) -> None:
    server.supports_events = events_supported
    patient, sub = uid("p"), uid("sub")
    watcher = await watch(follow_hub, patient)
    obs = [observation(uid("o"), patient, 6.0 + i / 10, "HH") for i in range(4)]
    for number, resource in enumerate(obs, start=1):
        server.add(resource, updated=f"2099-01-0{number}T00:00:00Z")
        server.events[number] = f"Observation/{resource['id']}"
    for number in (1, 4):  # 2 and 3 never arrive
        sent = notification(
            "R4B", "event-notification", number, [obs[number - 1]], sub, base=base(follow_hub)
        )
        sent["entry"][0]["resource"]["notificationEvent"][0]["timestamp"] = (
            f"2099-01-0{number}T00:00:00Z"
        )
        assert post(follow_hub, sent).status_code == 200
    await watcher.wait_for(lambda: len(watcher.of("patient_alert")) >= 4)
    system = [a["alert_data"] for a in watcher.of("hospital_alert")]
    assert system and system[0]["missed_from"] == 2 and system[0]["missed_to"] == 3
    assert system[0]["source"] == "default" and "never arrived" in system[0]["message"]
    assert sorted(messages(watcher)) == sorted(
        f"Potassium {6.0 + i / 10:g} mmol/L (critical high)" for i in range(4)
    )
    asked = [r for r in server.requests if "$events" in r or "_lastUpdated" in r]
    assert ("$events" in asked[0]) is True
    if not events_supported:
        assert any("_lastUpdated" in r for r in asked)
    await watcher.close()


async def test_a_counter_that_goes_down_is_a_restart_not_a_gap(
    follow_hub: HubProcess, server: FhirServer
) -> None:
    patient, sub = uid("p"), uid("sub")
    watcher = await watch(follow_hub, patient)
    first, after_restart = (observation(uid("o"), patient, v, "HH") for v in (6.1, 6.2))
    for number, resource in ((7, first), (1, after_restart)):
        assert (
            post(
                follow_hub, notification("R5", "event-notification", number, [resource], sub)
            ).status_code
            == 200
        )
    await watcher.wait_for(lambda: len(watcher.of("patient_alert")) >= 2)
    await asyncio.sleep(1.0)  # past the grace period: no gap may be reported
    assert watcher.of("hospital_alert") == []
    await watcher.close()


async def test_silence_is_reported_with_the_servers_status_and_cleared(
    follow_hub: HubProcess, server: FhirServer
) -> None:
    patient = uid("p")
    watcher = await watch(follow_hub, patient)
    sub = uid("sub")
    obs = observation(uid("o"), patient, 6.6, "HH")
    server.add(obs, updated="2099-02-01T00:00:00Z")
    server.events[1] = f"Observation/{obs['id']}"
    server.status = "error"
    # a heartbeat, then silence: the server's $status says it sent an event that never came
    beat = notification("R4", "heartbeat", None, [], sub, base=base(follow_hub))
    assert post(follow_hub, beat, path="/fhir/watched").status_code == 200
    await watcher.wait_for(lambda: bool(watcher.of("hospital_alert")), timeout=10)
    silent = watcher.of("hospital_alert")[0]["alert_data"]
    assert silent["silent"] is True and silent["source"] == "watched"
    assert silent["server_status"] == "error" and "the server says" in silent["message"]
    ready = httpx.get(follow_hub.url + "/ready")
    assert ready.status_code == 503 and "fhir:watched" in ready.text
    # the missed event is then recovered like any gap
    await watcher.wait_for(lambda: bool(watcher.of("patient_alert")), timeout=10)
    assert messages(watcher) == ["Potassium 6.6 mmol/L (critical high)"]
    assert any(a["alert_data"].get("missed_from") == 1 for a in watcher.of("hospital_alert"))
    assert post(follow_hub, beat, path="/fhir/watched").status_code == 200
    await watcher.wait_for(
        lambda: any("again" in a["alert_data"]["message"] for a in watcher.of("hospital_alert"))
    )
    assert httpx.get(follow_hub.url + "/ready").status_code == 200
    admin = {"Authorization": f"Bearer {token(role='admin')}"}
    status = httpx.get(follow_hub.url + "/api/fhir/watched/subscriptions", headers=admin).json()
    mine = status["subscriptions"][f"{base(follow_hub)}/Subscription/{sub}"]
    assert mine["status"] == "active" and mine["silent"] is False
    assert mine["last_event_number"] == 1
    nurse = {"Authorization": f"Bearer {token()}"}
    listing = httpx.get(follow_hub.url + "/api/fhir/watched/subscriptions", headers=nurse)
    assert listing.status_code == 403
    await watcher.close()


async def test_a_source_without_heartbeats_is_watched_for_silence(
    follow_hub: HubProcess, server: FhirServer
) -> None:
    watcher = Listener()
    await watcher.connect(follow_hub, token(hospitals=["Hquiet"]))
    # the alert may predate this test (the hub started with the module): replay the room
    assert (await watcher.join("hospital_Hquiet", since=0))["ok"] is True
    await watcher.wait_for(lambda: bool(watcher.of("hospital_alert")), timeout=10)
    silent = watcher.of("hospital_alert")[0]["alert_data"]
    assert (silent["input"], silent["problem"], silent["state"]) == (
        "fhir:quiet",
        "silent",
        "raised",
    )
    beat = notification("R4", "heartbeat", None, [], uid("sub"), base=base(follow_hub))
    assert post(follow_hub, beat, path="/fhir/quiet").status_code == 200
    await watcher.wait_for(lambda: len(watcher.of("hospital_alert")) >= 2, timeout=10)
    assert watcher.of("hospital_alert")[1]["alert_data"]["state"] == "cleared"
    await watcher.close()


async def test_reads_that_keep_failing_raise_one_alert(
    follow_hub: HubProcess, server: FhirServer
) -> None:
    patient = uid("p")
    watcher = Listener()
    await watcher.connect(follow_hub, token(patients=[patient], hospitals=["Hflaky"]))
    assert (await watcher.join(f"patient_{patient}"))["ok"] is True
    assert (await watcher.join("hospital_Hflaky"))["ok"] is True
    sub = uid("sub")
    server.fail_next = 1000  # the server answers 503 to everything
    for number in (1, 2):
        obs = observation(uid("o"), patient, 6.0 + number, "HH")
        server.add(obs)
        sent = notification(
            "R4", "event-notification", number, [obs], sub, base=base(follow_hub), content="id-only"
        )
        assert post(follow_hub, sent, path="/fhir/flaky").status_code == 200
    await watcher.wait_for(lambda: bool(watcher.of("hospital_alert")), timeout=10)
    await asyncio.sleep(1.0)
    failing = [a["alert_data"] for a in watcher.of("hospital_alert")]
    assert (
        len(failing) == 1 and failing[0]["problem"] == "failing" and "503" in failing[0]["message"]
    )
    server.fail_next = 0
    obs = observation(uid("o"), patient, 7.5, "HH")
    server.add(obs)
    sent = notification(
        "R4", "event-notification", 3, [obs], sub, base=base(follow_hub), content="id-only"
    )
    assert post(follow_hub, sent, path="/fhir/flaky").status_code == 200
    await watcher.wait_for(lambda: len(watcher.of("hospital_alert")) >= 2, timeout=10)
    assert watcher.of("hospital_alert")[1]["alert_data"]["state"] == "cleared"
    await watcher.wait_for(lambda: bool(watcher.of("patient_alert")), timeout=10)
    await watcher.close()
