"""The patient alerts of a hospital still open: raised, not acknowledged, not withdrawn or
replaced. What a screen opened mid-shift loads first, before following the rooms live."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hub.alerts import ALERT_EVENTS, observation_key, replaces
from hub.events import iso, utc_now

if TYPE_CHECKING:
    from hub.runtime import HubContext


async def open_alerts(hub: HubContext, hospital_id: str, hours: float) -> dict[str, Any]:
    since = iso(utc_now() - timedelta(hours=hours))
    events = await hub.journal.read_recent(ALERT_EVENTS, since)
    alerts: dict[str, dict[str, Any]] = {}
    latest_for: dict[tuple[str, str], str] = {}  # (patient, observation) -> newest alert id
    for event in events:  # seq order
        data = event.data
        if event.type == "alert_acknowledged":
            alerts.pop(data["alert_id"], None)
            continue
        if event.type == "alert_escalated":
            found = alerts.get(data["alert_id"])
            if found is not None:
                found["escalation"] = {"step": data["step"], "escalate_to": data["escalate_to"]}
            continue
        patient = data["patient_id"]
        hospital = data.get("hospital_id") or hub.census.patient_hospital(patient)
        if hospital != hospital_id:
            continue
        replaced = replaces(data)
        if replaced is not None:
            alerts.pop(latest_for.pop(replaced, ""), None)
        if (data.get("alert_data") or {}).get("action") == "retract":
            continue
        alerts[event.id] = event.wire()
        key = observation_key(data)
        if key is not None:
            latest_for[key] = event.id
    newest_first = sorted(alerts.values(), key=lambda a: a["seq"], reverse=True)
    return {
        "hospital_id": hospital_id,
        "since": since,
        "seq": hub.journal.last_seq,
        "alerts": newest_first,
    }
