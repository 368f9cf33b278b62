"""The seed's six emit functions for code running inside the hub (plugins, components).

Each validates, journals durably and then emits, exactly like ``POST /api/events/{type}``, and
returns the journaled event. The seed passed ``socketio`` first; it is accepted and ignored, so
ported code keeps working::

    from hub.emit import emit_patient_alert
    event = await emit_patient_alert(patient_id="P123", alert_type="critical",
                                     alert_data={"message": "High risk detected"})
"""

from __future__ import annotations

from typing import Any

from hub import seed_api
from hub.events import Event, EventDraft, parse_payload
from hub.runtime import HubContext, current_hub


async def _emit(body: seed_api.Body, hub: HubContext | None, source: str, id: str | None) -> Event:
    context = hub or current_hub()
    event_type, data = body
    draft = EventDraft(payload=parse_payload(event_type, data), source=source, id=id)
    [appended] = await context.publish([draft])
    return appended.event


async def emit_patient_alert(
    patient_id: str,
    alert_type: str,
    alert_data: dict[str, Any] | None = None,
    *,
    hub: HubContext | None = None,
    source: str = "internal",
    id: str | None = None,
    socketio: Any = None,
    **extra: Any,
) -> Event:
    body = seed_api.patient_alert(patient_id, alert_type, alert_data, **extra)
    return await _emit(body, hub, source, id)


async def emit_risk_update(
    patient_id: str,
    risk_score: float,
    risk_level: str,
    explanation: dict[str, Any] | None = None,
    *,
    hub: HubContext | None = None,
    source: str = "internal",
    id: str | None = None,
    socketio: Any = None,
    **extra: Any,
) -> Event:
    body = seed_api.risk_update(patient_id, risk_score, risk_level, explanation, **extra)
    return await _emit(body, hub, source, id)


async def emit_hospital_alert(
    hospital_id: str,
    alert_type: str,
    alert_data: dict[str, Any] | None = None,
    *,
    hub: HubContext | None = None,
    source: str = "internal",
    id: str | None = None,
    socketio: Any = None,
    **extra: Any,
) -> Event:
    body = seed_api.hospital_alert(hospital_id, alert_type, alert_data, **extra)
    return await _emit(body, hub, source, id)


async def emit_triage_update(
    triage_id: str,
    status: str,
    patient_id: str,
    *,
    hub: HubContext | None = None,
    source: str = "internal",
    id: str | None = None,
    socketio: Any = None,
    **extra: Any,
) -> Event:
    body = seed_api.triage_update(triage_id, status, patient_id, **extra)
    return await _emit(body, hub, source, id)


async def emit_availability_update(
    hospital_id: str,
    staff_id: str,
    staff_type: str,
    available: bool,
    *,
    hub: HubContext | None = None,
    source: str = "internal",
    id: str | None = None,
    socketio: Any = None,
    **extra: Any,
) -> Event:
    body = seed_api.availability_update(hospital_id, staff_id, staff_type, available, **extra)
    return await _emit(body, hub, source, id)


async def emit_bed_status_update(
    hospital_id: str,
    bed_info: dict[str, Any],
    *,
    hub: HubContext | None = None,
    source: str = "internal",
    id: str | None = None,
    socketio: Any = None,
    **extra: Any,
) -> Event:
    body = seed_api.bed_status_update(hospital_id, bed_info, **extra)
    return await _emit(body, hub, source, id)
