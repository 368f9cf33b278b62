"""The seed's six ``emit_*`` signatures, as (event type, body) builders shared by ``hub.emit``
(in-process) and ``hub.client`` (over HTTP), so both accept exactly the same arguments.

Optional fields beyond the seed's (``hospital_id``, ``timestamp``, ``priority`` ...) pass through
``extra``; the event models validate everything.
"""

from __future__ import annotations

from typing import Any

Body = tuple[str, dict[str, Any]]


def _with(body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def patient_alert(
    patient_id: str, alert_type: str, alert_data: dict[str, Any] | None = None, **extra: Any
) -> Body:
    return "patient_alert", _with(
        {"patient_id": patient_id, "alert_type": alert_type, "alert_data": alert_data or {}}, extra
    )


def risk_update(
    patient_id: str,
    risk_score: float,
    risk_level: str,
    explanation: dict[str, Any] | None = None,
    **extra: Any,
) -> Body:
    body = {
        "patient_id": patient_id,
        "risk_score": risk_score,
        "risk_level": risk_level,
        "explanation": explanation or {},
    }
    return "risk_updated", _with(body, extra)


def hospital_alert(
    hospital_id: str, alert_type: str, alert_data: dict[str, Any] | None = None, **extra: Any
) -> Body:
    return "hospital_alert", _with(
        {"hospital_id": hospital_id, "alert_type": alert_type, "alert_data": alert_data or {}},
        extra,
    )


def triage_update(triage_id: str, status: str, patient_id: str, **extra: Any) -> Body:
    return "triage_updated", _with(
        {"triage_id": triage_id, "status": status, "patient_id": patient_id}, extra
    )


def availability_update(
    hospital_id: str, staff_id: str, staff_type: str, available: bool, **extra: Any
) -> Body:
    body = {
        "hospital_id": hospital_id,
        "staff_id": staff_id,
        "staff_type": staff_type,
        "available": available,
    }
    return "staff_availability_changed", _with(body, extra)


def bed_status_update(hospital_id: str, bed_info: dict[str, Any], **extra: Any) -> Body:
    return "bed_status_changed", _with({"hospital_id": hospital_id, "bed_info": bed_info}, extra)


BUILDERS = {
    "emit_patient_alert": patient_alert,
    "emit_risk_update": risk_update,
    "emit_hospital_alert": hospital_alert,
    "emit_triage_update": triage_update,
    "emit_availability_update": availability_update,
    "emit_bed_status_update": bed_status_update,
}
