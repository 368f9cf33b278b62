"""Flag -> ``patient_alert`` or ``hospital_alert`` (clinical-reference §2.5, cheat-sheet §6).

About a patient:
- ``active`` -> an alert with ``action = "raise"``. Flag has no severity element, so the
  ``flag-priority`` extension decides when present (PH critical, PM warning, PL/PN info),
  else ``warning`` for category ``safety``/``clinical`` and ``info`` otherwise.
- ``inactive``/``entered-in-error``, or ``active`` with ``period.end`` passed -> ``info`` with
  ``action = "retract"``: the UI removes what it shows for ``alert_data.flag``.
- ``alert_data.message`` is ``Flag.code.text`` (else a display, else the code); subject and
  author displays are never copied, they may be names.

About a Location or Organization (the cheat-sheet's facility flags), categories ``safety`` and
``admin`` only: ``hospital_alert`` with ``alert_type`` ``emergency`` for safety, ``capacity``
for admin (a ward closed to admissions); the same alert type with ``action = "retract"`` when
the flag ends. Hospital: the Organization (or the Location's ``managingOrganization`` when the
Location is in the delivery) via ``hospital_by_organization``, else ``default_hospital``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.events import EventDraft, HospitalAlert, PatientAlert
from plugins.fhir_resources.common import Context, codes, concept_text, draft, ref_type
from plugins.observations import fhir_time

if TYPE_CHECKING:
    from adapters.fhir.receiver import FhirEntry

FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
FLAG_PRIORITY_EXT = "http://hl7.org/fhir/StructureDefinition/flag-priority"
FLAG_PRIORITY = "http://hl7.org/fhir/flag-priority-code"
PRIORITY_SEVERITY = {"PH": "critical", "PM": "warning", "PL": "info", "PN": "info"}
WARNING_CATEGORIES = ("safety", "clinical")
FACILITY_ALERT = {"safety": "emergency", "admin": "capacity"}


def categories(resource: dict[str, Any]) -> list[str]:
    found: list[str] = []
    raw = resource.get("category")
    for concept in raw if isinstance(raw, list) else [raw]:
        found += [c for c in codes(concept, FLAG_CATEGORY) if c not in found]
    return found


def severity(resource: dict[str, Any], cats: list[str]) -> str:
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == FLAG_PRIORITY_EXT:
            for code in codes(extension.get("valueCodeableConcept"), FLAG_PRIORITY):
                if code in PRIORITY_SEVERITY:
                    return PRIORITY_SEVERITY[code]
    return "warning" if any(c in WARNING_CATEGORIES for c in cats) else "info"


def is_current(resource: dict[str, Any], now: datetime) -> bool:
    if resource.get("status") != "active":
        return False
    period = resource.get("period")
    end = fhir_time(period.get("end")) if isinstance(period, dict) else None
    return end is None or end > now


def _data(entry: FhirEntry, resource: dict[str, Any], cats: list[str], raising: bool) -> Any:
    data: dict[str, Any] = {
        "message": concept_text(resource.get("code")) or "Flag",
        "flag": entry.reference,
        "category": cats,
        "status": resource.get("status"),
        "action": "raise" if raising else "retract",
    }
    period = resource.get("period")
    if isinstance(period, dict):
        data["period"] = {k: period[k] for k in ("start", "end") if isinstance(period.get(k), str)}
    return data


def _when(resource: dict[str, Any], raising: bool) -> datetime | None:
    meta = resource.get("meta")
    if isinstance(meta, dict) and (stamp := fhir_time(meta.get("lastUpdated"))):
        return stamp
    period = resource.get("period")
    if not isinstance(period, dict):
        return None
    return fhir_time(period.get("start") if raising else period.get("end"))


def map_flag(entry: FhirEntry, ctx: Context) -> list[EventDraft]:
    resource = entry.resource
    assert resource is not None
    status = resource.get("status")
    if status not in ("active", "inactive", "entered-in-error"):
        ctx.skip(entry, "unknown flag status")
        return []
    raising = is_current(resource, ctx.now)
    cats = categories(resource)
    subject = resource.get("subject")
    kind = ref_type(subject)
    if kind in ("Location", "Organization"):
        return _facility(entry, ctx, resource, cats, raising)
    if kind not in ("Patient", None):
        ctx.skip(entry, f"flag subject {kind} is not mapped")
        return []
    patient = entry.patient_id
    if not patient:
        ctx.skip(entry, "no patient id")
        return []
    payload = PatientAlert.model_validate(
        {
            "patient_id": patient,
            "alert_type": severity(resource, cats) if raising else "info",
            "alert_data": _data(entry, resource, cats, raising),
            "hospital_id": ctx.census_hospital(patient),
            "timestamp": _when(resource, raising),
        }
    )
    return [draft(entry, ctx, payload)]


def _facility(
    entry: FhirEntry, ctx: Context, resource: dict[str, Any], cats: list[str], raising: bool
) -> list[EventDraft]:
    alert_type = next((FACILITY_ALERT[c] for c in cats if c in FACILITY_ALERT), None)
    if alert_type is None:
        ctx.skip(entry, "facility flag category is not safety or admin")
        return []
    subject = resource.get("subject")
    organization = subject
    if ref_type(subject) == "Location":
        location = ctx.resolve(subject, resource)
        organization = location.get("managingOrganization") if isinstance(location, dict) else None
    hospital = ctx.hospital(organization)
    if hospital is None:
        ctx.skip(entry, "no hospital for the flag subject")
        return []
    data = _data(entry, resource, cats, raising)
    data["subject"] = subject.get("reference") if isinstance(subject, dict) else None
    payload = HospitalAlert.model_validate(
        {
            "hospital_id": hospital,
            "alert_type": alert_type,
            "alert_data": data,
            "timestamp": _when(resource, raising),
        }
    )
    return [draft(entry, ctx, payload)]
