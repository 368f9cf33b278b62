"""Encounter (emergency) -> ``triage_updated`` (clinical-reference §2.3, §5.2).

- Only Encounters whose class is ``EMER`` (v3-ActCode): a Coding in R4/R4B, a list of
  CodeableConcepts in R5. The shape of ``class`` tells the versions apart.
- Status, R4/R4B: ``planned``/``arrived`` -> pending, ``triaged`` -> triaged,
  ``in-progress`` -> assigned, ``finished`` -> completed, ``cancelled``/``entered-in-error``
  -> cancelled; ``onleave``/``unknown`` give no event.
- Status, R5: ``discharged``/``completed`` -> completed, ``cancelled``/``entered-in-error``/
  ``discontinued`` -> cancelled; otherwise ``subjectStatus`` decides: ``arrived`` -> pending,
  ``triaged`` -> triaged, ``receiving-care`` -> assigned; ``on-leave``, ``departed`` or no
  subjectStatus give no event.
- ``priority``: ``Encounter.priority`` (v3-ActPriority) through ``priority_by_act_code``.
  The reference's local mapping (ESI1 -> S/EM, ESI2 -> EM/UR, ESI3 -> UR, ESI4/5 -> R) reverses
  without ambiguity only for ``S`` -> 1, so that is the default; sites add their own codes.
- ``triage_id`` is the Encounter id; ``hospital_id`` from ``serviceProvider`` via
  ``hospital_by_organization``, else ``default_hospital``, else None (the payload allows it
  and dropping a case from the queue would be worse than an unplaced one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.events import EventDraft, TriageUpdated
from plugins.fhir_resources.common import Context, codes, draft, sanitise
from plugins.observations import fhir_time

if TYPE_CHECKING:
    from datetime import datetime

    from adapters.fhir.receiver import FhirEntry

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
SUBJECT_STATUS = "http://terminology.hl7.org/CodeSystem/encounter-subject-status"
R4_STATUS = {
    "planned": "pending",
    "arrived": "pending",
    "triaged": "triaged",
    "in-progress": "assigned",
    "finished": "completed",
    "cancelled": "cancelled",
    "entered-in-error": "cancelled",
}
R5_STATUS = {
    "discharged": "completed",
    "completed": "completed",
    "cancelled": "cancelled",
    "entered-in-error": "cancelled",
    "discontinued": "cancelled",
}
R5_SUBJECT_STATUS = {"arrived": "pending", "triaged": "triaged", "receiving-care": "assigned"}


def version_of(resource: dict[str, Any]) -> str | None:
    cls = resource.get("class")
    if isinstance(cls, list):
        return "R5"
    if isinstance(cls, dict):
        return "R4"
    return None


def is_emergency(resource: dict[str, Any]) -> bool:
    cls = resource.get("class")
    concepts = cls if isinstance(cls, list) else [cls]
    return any("EMER" in codes(concept, ACT_CODE) for concept in concepts)


def triage_status(resource: dict[str, Any]) -> str | None:
    status = resource.get("status")
    if version_of(resource) == "R4":
        return R4_STATUS.get(status) if isinstance(status, str) else None
    if isinstance(status, str) and status in R5_STATUS:
        return R5_STATUS[status]
    subject = next(iter(codes(resource.get("subjectStatus"), SUBJECT_STATUS)), None)
    return R5_SUBJECT_STATUS.get(subject or "")


def _priority(resource: dict[str, Any], ctx: Context) -> tuple[int | None, str | None]:
    for code in codes(resource.get("priority"), ACT_PRIORITY):
        return ctx.settings.priority_by_act_code.get(code), code
    return None, None


def _when(resource: dict[str, Any], status: str) -> datetime | None:
    meta = resource.get("meta")
    if isinstance(meta, dict) and (stamp := fhir_time(meta.get("lastUpdated"))):
        return stamp
    period = resource.get("actualPeriod") or resource.get("period")
    if not isinstance(period, dict):
        return None
    if status in ("completed", "cancelled") and period.get("end"):
        return fhir_time(period.get("end"))
    return fhir_time(period.get("start"))


def map_triage(entry: FhirEntry, ctx: Context) -> list[EventDraft]:
    resource = entry.resource
    assert resource is not None
    if not is_emergency(resource):
        return []
    status = triage_status(resource)
    triage_id = sanitise(resource.get("id"))
    if status is None:
        ctx.skip(entry, "encounter status without a triage state")
        return []
    if not entry.patient_id or triage_id is None:
        ctx.skip(entry, "no patient subject" if triage_id else "no encounter id")
        return []
    priority, priority_code = _priority(resource, ctx)
    details: dict[str, Any] = {
        "encounter": entry.reference,
        "fhir_status": resource.get("status"),
    }
    subject = next(iter(codes(resource.get("subjectStatus"), SUBJECT_STATUS)), None)
    if subject:
        details["subject_status"] = subject
    if priority_code:
        details["priority_code"] = priority_code
    payload = TriageUpdated.model_validate(
        {
            "triage_id": triage_id,
            "status": status,
            "patient_id": entry.patient_id,
            "hospital_id": ctx.hospital(resource.get("serviceProvider")),
            "priority": priority,
            "details": details,
            "timestamp": _when(resource, status),
        }
    )
    return [draft(entry, ctx, payload)]
