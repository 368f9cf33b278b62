"""Closing the loop on patient alerts, against a real hub over Socket.IO and HTTP: a clinician
acknowledges (journaled once, broadcast so every screen clears it, audited) and critical alerts
nobody acknowledges escalate to the hospital room step by step (issue 7). Synthetic data only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HubProcess, publish, token, uid
from tests.test_socketio import Listener

SERVICE = token(role="service", sub="svc-alerts")
ADMIN = token(role="admin", sub="admin-alerts")


@pytest.fixture(scope="module")
def alert_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    # a short chain so the test sees both steps: 1.0 s to the charge nurse, 2.0 s further up
    hub = HubProcess(
        tmp_path_factory.mktemp("alerts"),
        extra_env={
            "HUB_ALERTS__ESCALATION_AFTER_S": "[1.0, 2.0]",
            "HUB_ALERTS__CHECK_INTERVAL_S": "0.1",
        },
    ).start()
    yield hub
    hub.stop()


def raise_alert(hub: HubProcess, patient: str, hospital: str, severity: str = "critical") -> str:
    body = {
        "patient_id": patient,
        "hospital_id": hospital,
        "alert_type": severity,
        "alert_data": {"message": "Potassium 6.9 mmol/L (critical high)"},
    }
    r = publish(hub, "patient_alert", body, SERVICE)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def nurse(hub: HubProcess, patient: str, hospital: str, sub: str) -> Listener:
    listener = Listener()
    await listener.connect(hub, token(hospitals=[hospital], sub=sub))
    # the patient's room opens to the hospital's staff once the hub knows the patient is there
    # (the alert says so); since=0 brings the alert raised before the nurse looked
    assert (await listener.join(f"patient_{patient}", since=0))["ok"] is True
    assert (await listener.join(f"hospital_{hospital}"))["ok"] is True
    return listener


async def ack(listener: Listener, alert_id: Any, **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await listener.client.call(
        "ack_alert", {"id": alert_id, **extra}, timeout=10
    )
    return reply


def audit(hub: HubProcess, room: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{hub.url}/api/audit",
        params={"room": room},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


async def test_an_acknowledgement_clears_the_alert_on_every_screen_once(
    alert_hub: HubProcess,
) -> None:
    patient, hospital = uid("P"), uid("H")
    alert_id = raise_alert(alert_hub, patient, hospital, "warning")
    first = await nurse(alert_hub, patient, hospital, "nurse-a")
    second = await nurse(alert_hub, patient, hospital, "nurse-b")
    await second.wait_for(lambda: bool(second.of("patient_alert")))

    reply = await ack(first, alert_id, note="seen, repeating the sample")
    assert reply["ok"] is True and reply["duplicate"] is False
    event = reply["event"]
    assert event["type"] == "alert_acknowledged" and event["alert_id"] == alert_id
    assert (event["acknowledged_by"], event["note"]) == ("nurse-a", "seen, repeating the sample")
    assert (event["patient_id"], event["hospital_id"]) == (patient, hospital)
    # the other screen hears of it, once (it is in both rooms the event goes to)
    await second.wait_for(lambda: bool(second.of("alert_acknowledged")))
    await asyncio.sleep(0.2)
    assert [e["id"] for e in second.of("alert_acknowledged")] == [event["id"]]

    # acknowledging again (the other nurse, a double click) changes nothing
    again = await ack(second, alert_id)
    assert again["ok"] is True and again["duplicate"] is True
    assert again["event"]["id"] == event["id"] and again["event"]["acknowledged_by"] == "nurse-a"
    await asyncio.sleep(0.2)
    assert len(second.of("alert_acknowledged")) == 1

    # resume shows it too: a screen that was away learns the alert is done
    late = Listener()
    await late.connect(alert_hub, token(hospitals=[hospital], sub="nurse-c"))
    assert (await late.join(f"patient_{patient}", since=0))["ok"] is True
    await late.wait_for(lambda: bool(late.of("alert_acknowledged")))
    assert [e["alert_id"] for e in late.of("alert_acknowledged")] == [alert_id]

    rows = [r for r in audit(alert_hub, f"patient_{patient}") if r["action"] == "ack_alert"]
    assert [(r["subject"], r["outcome"]) for r in rows] == [
        ("nurse-a", "allowed"),
        ("nurse-b", "allowed"),
    ]
    for listener in (first, second, late):
        await listener.close()


async def test_acknowledging_is_refused_clearly(alert_hub: HubProcess) -> None:
    patient, hospital = uid("P"), uid("H")
    alert_id = raise_alert(alert_hub, patient, hospital, "info")
    outsider = Listener()
    await outsider.connect(alert_hub, token(hospitals=[uid("Hother")], sub="outsider"))
    denied = await ack(outsider, alert_id)
    assert (denied["ok"], denied["error"]) == (False, "forbidden")
    assert (await ack(outsider, "no-such-event"))["error"] == "not_found"
    assert (await ack(outsider, 42))["error"] == "bad_request"
    await outsider.close()
    rows = [r for r in audit(alert_hub, f"patient_{patient}") if r["action"] == "ack_alert"]
    assert [(r["subject"], r["outcome"]) for r in rows] == [("outsider", "denied")]

    # the same over HTTP, with status codes
    url = f"{alert_hub.url}/api/alerts"
    mine = {"Authorization": f"Bearer {token(hospitals=[hospital], sub='nurse-h')}"}
    r = httpx.post(f"{url}/{alert_id}/ack", json={"note": "ok"}, headers=mine, timeout=10)
    assert r.status_code == 200 and r.json()["event"]["acknowledged_by"] == "nurse-h"
    bed = {"hospital_id": hospital, "bed_info": {"bed_id": "B1", "status": "available"}}
    other = publish(alert_hub, "bed_status_changed", bed, SERVICE).json()["id"]
    r = httpx.post(f"{url}/{other}/ack", headers=mine, timeout=10)
    assert (r.status_code, r.json()["error"]) == (409, "not_an_alert")
    r = httpx.post(f"{url}/{uid('none')}/ack", headers=mine, timeout=10)
    assert r.status_code == 404
    r = httpx.post(f"{url}/{alert_id}/ack", content=b"[1]", headers=mine, timeout=10)
    assert r.status_code == 400
    # nobody can fake an acknowledgement by publishing one
    forged = {
        "alert_id": alert_id,
        "patient_id": patient,
        "alert_type": "info",
        "acknowledged_by": "x",
        "acknowledged_role": "nurse",
        "acknowledged_at": "2026-01-01T00:00:00Z",
    }
    r = publish(alert_hub, "alert_acknowledged", forged, SERVICE)
    assert r.status_code == 403 and "ack_alert" in r.json()["detail"]


async def test_an_unacknowledged_critical_alert_escalates_step_by_step(
    alert_hub: HubProcess,
) -> None:
    patient, hospital = uid("P"), uid("H")
    charge = Listener()  # the charge nurse watches the hospital room only
    await charge.connect(alert_hub, token(hospitals=[hospital], sub="charge"))
    assert (await charge.join(f"hospital_{hospital}"))["ok"] is True
    ignored = raise_alert(alert_hub, patient, hospital)
    answered = raise_alert(alert_hub, patient, hospital)
    raise_alert(alert_hub, patient, hospital, "warning")  # not in escalate_types
    bedside = await nurse(alert_hub, patient, hospital, "bedside")
    assert (await ack(bedside, answered))["ok"] is True

    await charge.wait_for(lambda: len(charge.of("alert_escalated")) >= 2, timeout=10)
    await asyncio.sleep(1.5)  # nothing more comes: the chain has two steps
    steps = [(e["alert_id"], e["step"], e["escalate_to"]) for e in charge.of("alert_escalated")]
    assert steps == [(ignored, 1, "charge_nurse"), (ignored, 2, "nursing_supervisor")]
    first = charge.of("alert_escalated")[0]
    assert first["alert_type"] == "critical" and first["unacknowledged_s"] >= 1.0
    assert first["alert_data"]["message"].startswith("Potassium")

    # acknowledging it afterwards still clears it, in the hospital room as well
    assert (await ack(bedside, ignored))["ok"] is True
    await charge.wait_for(lambda: bool(charge.of("alert_acknowledged")))
    rows = [r for r in audit(alert_hub, f"hospital_{hospital}") if r["action"] == "escalate"]
    assert [r["reason"] for r in rows] == [
        f"{ignored} step 1 to charge_nurse",
        f"{ignored} step 2 to nursing_supervisor",
    ]
    await charge.close()
    await bedside.close()


async def test_escalation_survives_a_restart(tmp_path: Path) -> None:
    env = {
        "HUB_ALERTS__ESCALATION_AFTER_S": "[2.0]",
        "HUB_ALERTS__ESCALATION_TO": '["charge_nurse"]',
        "HUB_ALERTS__CHECK_INTERVAL_S": "0.1",
    }
    hub = HubProcess(tmp_path, extra_env=env).start()
    patient, hospital = uid("P"), uid("H")
    try:
        alert_id = raise_alert(hub, patient, hospital)
        hub.stop()  # before the step was due
        hub.start()
        charge = Listener()
        await charge.connect(hub, token(hospitals=[hospital], sub="charge"))
        assert (await charge.join(f"hospital_{hospital}", since=0))["ok"] is True
        await charge.wait_for(lambda: bool(charge.of("alert_escalated")), timeout=10)
        assert [e["alert_id"] for e in charge.of("alert_escalated")] == [alert_id]
        await charge.close()
    finally:
        hub.stop()


async def test_a_screen_opened_mid_shift_loads_the_open_alerts(alert_hub: HubProcess) -> None:
    """GET /api/alerts?hospital=H: raised, not acknowledged, not withdrawn or replaced."""
    hospital, patient = uid("H"), uid("P")
    acked = raise_alert(alert_hub, patient, hospital, "warning")
    still_open = raise_alert(alert_hub, patient, hospital, "info")
    raise_alert(alert_hub, uid("P"), uid("Helsewhere"))  # another hospital

    def result(action: str, severity: str) -> str:
        body = {
            "patient_id": patient,
            "hospital_id": hospital,
            "alert_type": severity,
            "alert_data": {"message": "K", "observation": "Observation/k1", "action": action},
        }
        r = publish(alert_hub, "patient_alert", body, SERVICE)
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    result("raise", "critical")
    corrected = result("supersede", "warning")  # replaces the critical one
    result("raise", "critical")
    result("retract", "info")  # withdraws that one
    mine = {"Authorization": f"Bearer {token(hospitals=[hospital], sub='nurse-o')}"}
    r = httpx.post(f"{alert_hub.url}/api/alerts/{acked}/ack", headers=mine, timeout=10)
    assert r.status_code == 200

    r = httpx.get(f"{alert_hub.url}/api/alerts", params={"hospital": hospital}, headers=mine)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["id"] for a in body["alerts"]] == [corrected, still_open]  # newest first
    assert body["seq"] >= max(a["seq"] for a in body["alerts"])
    other = {"Authorization": f"Bearer {token(hospitals=[uid('H')], sub='x')}"}
    r = httpx.get(f"{alert_hub.url}/api/alerts", params={"hospital": hospital}, headers=other)
    assert r.status_code == 403
    r = httpx.get(f"{alert_hub.url}/api/alerts", params={"hospital": "a b"}, headers=mine)
    assert r.status_code == 400
