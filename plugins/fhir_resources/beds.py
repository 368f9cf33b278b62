"""Location (a bed) -> ``bed_status_changed`` (clinical-reference §2.2, §1.6 table 0116).

- A bed is a Location whose ``physicalType`` (R4/R4B) or ``form`` (R5) has code ``bd`` in
  ``location-physical-type``; ``mode = kind`` (a type of location, not a bed) and a ``status``
  other than ``active`` are skipped (``status`` is administrative; absent counts as active).
- ``operationalStatus`` (v2-0116) gives the status: C closed, H cleaning, I isolated,
  K contaminated, O occupied, U available; other or local codes give ``unknown`` and keep the
  code in ``bed_info.operational_status`` (§1.6: never drop them). No operationalStatus: skip.
- ``bed_id``: the first identifier value, else the Location id, made a hub identifier.
- ``room``/``unit``: ancestors through ``partOf`` found in the same delivery or ``contained``
  (``ro`` -> room, ``wa`` -> unit); an unresolved ``partOf.display`` is taken as the room, the
  bed's direct parent in the v2-to-FHIR chain (§1.5).
- ``hospital_id``: ``managingOrganization`` (of the bed, else its first resolved ancestor) via
  ``hospital_by_organization``, else ``default_hospital``, else the Location is skipped and
  counted.
- ``patient_id`` (only for an occupied bed): an Encounter in the same delivery whose active
  ``location`` is this bed (§2.2 [DESIGN]); Location itself never names a patient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.events import BedStatusChanged, EventDraft
from plugins.fhir_resources.common import Context, codes, draft, ref_id, sanitise
from plugins.observations import fhir_time

if TYPE_CHECKING:
    from adapters.fhir.receiver import FhirEntry

PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
V2_0116 = "http://terminology.hl7.org/CodeSystem/v2-0116"
BED_STATUS = {
    "C": "closed",
    "H": "cleaning",
    "I": "isolated",
    "K": "contaminated",
    "O": "occupied",
    "U": "available",
}
_MAX_DEPTH = 8  # a partOf cycle in a bad feed must not loop


def is_bed(resource: dict[str, Any]) -> bool:
    return any(
        "bd" in codes(resource.get(element), PHYSICAL_TYPE) for element in ("physicalType", "form")
    )


def _level(resource: dict[str, Any]) -> str | None:
    for element in ("physicalType", "form"):
        for code in codes(resource.get(element), PHYSICAL_TYPE):
            if code in ("ro", "wa"):
                return code
    return None


def _status(resource: dict[str, Any]) -> tuple[str, str] | None:
    coding = resource.get("operationalStatus")
    if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
        return None
    code = coding["code"]
    known = coding.get("system") in (None, V2_0116) and code in BED_STATUS
    return (BED_STATUS[code] if known else "unknown"), code


def _bed_id(resource: dict[str, Any]) -> str | None:
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict):
            value = sanitise(identifier.get("value"))
            if value:
                return value
    return sanitise(resource.get("id"))


def _patient_in(entry: FhirEntry, ctx: Context) -> str | None:
    for ref, resource in ctx.resources.items():
        if resource.get("resourceType") != "Encounter" or ref not in ctx.patients:
            continue
        for stay in resource.get("location") or []:
            if not isinstance(stay, dict) or stay.get("status") != "active":
                continue
            period = stay.get("period")
            if isinstance(period, dict) and period.get("end"):
                continue
            target = stay.get("location")
            if entry.reference and ref_id(target, "Location") == entry.reference.split("/")[-1]:
                return ctx.patients[ref]
    return None


def map_bed(entry: FhirEntry, ctx: Context) -> list[EventDraft]:
    resource = entry.resource
    assert resource is not None
    if not is_bed(resource):
        return []
    if resource.get("mode") == "kind" or resource.get("status", "active") != "active":
        ctx.skip(entry, "not an active bed instance")
        return []
    status = _status(resource)
    bed_id = _bed_id(resource)
    if status is None or bed_id is None:
        ctx.skip(entry, "no operationalStatus" if status is None else "no bed id")
        return []
    info: dict[str, Any] = {"bed_id": bed_id, "status": status[0], "operational_status": status[1]}
    if isinstance(resource.get("name"), str) and resource["name"].strip():
        info["bed"] = resource["name"].strip()[:128]
    if entry.reference:
        info["location"] = entry.reference
    organization = resource.get("managingOrganization")
    parent_ref = resource.get("partOf")
    parent = ctx.resolve(parent_ref, resource)
    depth = 0
    while isinstance(parent, dict) and depth < _MAX_DEPTH:
        depth += 1
        name = parent.get("name")
        level = _level(parent)
        if isinstance(name, str) and name.strip():
            key = {"ro": "room", "wa": "unit"}.get(level or "")
            if key and key not in info:
                info[key] = name.strip()[:128]
        organization = organization or parent.get("managingOrganization")
        parent = ctx.resolve(parent.get("partOf"), parent)
    if depth == 0 and isinstance(parent_ref, dict) and isinstance(parent_ref.get("display"), str):
        info["room"] = parent_ref["display"].strip()[:128] or None
    hospital = ctx.hospital(organization)
    if hospital is None:
        ctx.skip(entry, "no hospital for the managing organization")
        return []
    if status[0] == "occupied":
        info["patient_id"] = _patient_in(entry, ctx)
    meta = resource.get("meta")
    payload = BedStatusChanged.model_validate(
        {
            "hospital_id": hospital,
            "bed_info": {k: v for k, v in info.items() if v is not None},
            "timestamp": fhir_time(meta.get("lastUpdated")) if isinstance(meta, dict) else None,
        }
    )
    return [draft(entry, ctx, payload)]
