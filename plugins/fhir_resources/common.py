"""Helpers the resource mappings share: reading coded elements and references, resolving
hospitals, counting skipped resources and building drafts with idempotent ids."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.events import EventDraft, EventPayload

if TYPE_CHECKING:
    from adapters.fhir.receiver import FhirDelivery, FhirEntry
    from hub.runtime import HubContext
    from plugins.fhir_resources import FhirResourceSettings

log = logging.getLogger("plugins.fhir_resources")

# (resource type, reason) -> count; mirrored into the hub's Prometheus registry when present.
SKIPPED: Counter[tuple[str, str]] = Counter()

_NOT_ID = re.compile(r"[^A-Za-z0-9._:\-]")


@dataclass
class Context:
    """What one mapping call may read: settings, where the delivery came from and its
    other resources (a transaction Bundle often carries the bed's room or the slot's schedule)."""

    settings: FhirResourceSettings
    source: str  # InboundMessage.source, e.g. "fhir:default"
    source_name: str  # the FHIR source's configured name, e.g. "default"
    now: datetime
    hub: HubContext | None = None
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)  # "Type/id" -> hub patient id
    skip_metric: Any = None

    def skip(self, entry: FhirEntry, reason: str) -> None:
        rtype = entry.resource_type or "unknown"
        SKIPPED[(rtype, reason)] += 1
        if self.skip_metric is not None:
            self.skip_metric.labels(rtype, reason).inc()
        # the reference and the reason only: resources carry patient data
        log.info(
            "fhir resource skipped",
            extra={"source": self.source, "reference": entry.reference, "reason": reason},
        )

    def resolve(self, reference: Any, container: dict[str, Any] | None = None) -> Any:
        """A referenced resource found in ``container``'s contained list or in the delivery."""
        ref = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(ref, str) or not ref:
            return None
        if ref.startswith("#") and container is not None:
            for inner in container.get("contained") or []:
                if isinstance(inner, dict) and inner.get("id") == ref[1:]:
                    return inner
            return None
        return self.resources.get(ref) or self.resources.get(relative(ref) or "")

    def hospital_of_org(self, reference: Any) -> str | None:
        """The hub hospital an Organization reference names, per ``hospital_by_organization``."""
        if not isinstance(reference, dict):
            return None
        by_org = self.settings.hospital_by_organization
        rid = ref_id(reference, "Organization")
        if rid is not None:
            found = by_org.get(rid) or by_org.get(f"Organization/{rid}")
            if found:
                return found
        identifier = reference.get("identifier")
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            return by_org.get(identifier["value"])
        return None

    def hospital(self, reference: Any) -> str | None:
        return self.hospital_of_org(reference) or self.settings.default_hospital

    def census_hospital(self, patient: str) -> str | None:
        """The patient's hospital when the census places them in exactly one."""
        return self.hub.census.patient_hospital(patient) if self.hub is not None else None


def index_delivery(delivery: FhirDelivery) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Validated resources of a delivery by ``Type/id`` and fullUrl, and patients by reference."""
    resources: dict[str, dict[str, Any]] = {}
    patients: dict[str, str] = {}
    valid = set()
    for entry in delivery.entries:
        if entry.resource is None:
            continue
        valid.add(id(entry.resource))
        if entry.reference:
            resources[entry.reference] = entry.resource
            if entry.patient_id:
                patients[entry.reference] = entry.patient_id
    # FhirEntry has no fullUrl; the raw entries do, and share the resource dicts with it
    for raw in delivery.delivery.entries:
        if raw.full_url and raw.resource is not None and id(raw.resource) in valid:
            resources[raw.full_url] = raw.resource
            ref = _type_id(raw.resource)
            if ref in patients:
                patients[raw.full_url] = patients[ref]
    return resources, patients


def _type_id(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def relative(reference: str) -> str | None:
    """``Type/id`` of an absolute or versioned reference."""
    parts = [p for p in reference.split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return None


def ref_id(reference: Any, rtype: str) -> str | None:
    """The id of a Reference to ``rtype`` (relative, absolute or versioned), else None."""
    ref = reference.get("reference") if isinstance(reference, dict) else reference
    if not isinstance(ref, str):
        return None
    rel = relative(ref)
    if rel is None or not rel.startswith(f"{rtype}/"):
        return None
    return rel.split("/", 1)[1] or None


def ref_type(reference: Any) -> str | None:
    ref = reference.get("reference") if isinstance(reference, dict) else None
    rel = relative(ref) if isinstance(ref, str) else None
    if rel is not None:
        return rel.split("/", 1)[0]
    rtype = reference.get("type") if isinstance(reference, dict) else None
    return rtype if isinstance(rtype, str) else None


def sanitise(value: Any) -> str | None:
    """A hub identifier (letters, digits, ``. _ : -``) made from a FHIR id or identifier."""
    if not isinstance(value, str):
        return None
    cleaned = _NOT_ID.sub("-", value.strip()).lstrip("._:-")[:128]
    return cleaned or None


def codings(concept: Any) -> list[dict[str, Any]]:
    if isinstance(concept, dict) and "coding" not in concept and "code" in concept:
        return [concept]  # a bare Coding (R4 Encounter.class, Location.operationalStatus)
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def codes(concept: Any, system: str | None, *, systemless: bool = True) -> list[str]:
    """Codes of a CodeableConcept or Coding in ``system`` (any system when None); codings
    without a system count when ``systemless`` since many feeds omit it."""
    found = []
    for coding in codings(concept):
        code = coding.get("code")
        if not isinstance(code, str) or not code:
            continue
        have = coding.get("system")
        if system is None or have == system or (systemless and have is None):
            found.append(code)
    return found


def concept_text(concept: Any) -> str | None:
    """A CodeableConcept's text, else its first display, else its first code."""
    if not isinstance(concept, dict):
        return None
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for coding in codings(concept):
        if isinstance(coding.get("display"), str) and coding["display"].strip():
            return str(coding["display"]).strip()
    for coding in codings(concept):
        if isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def event_id(entry: FhirEntry, kind: str) -> str | None:
    # the same resource version always maps to the same id, so a resend is journaled once
    return f"fhir:{entry.version_key}:{kind}" if entry.version_key else None


def draft(entry: FhirEntry, ctx: Context, payload: EventPayload) -> EventDraft:
    return EventDraft(payload=payload, source=ctx.source, id=event_id(entry, payload.event_type))
