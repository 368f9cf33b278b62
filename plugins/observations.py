"""FHIR Observations to ``patient_alert`` (clinical-reference §2.1, interpretation table).

- ``final``, ``amended``, ``corrected`` (and ``preliminary`` when enabled) are judged: the
  worst ``Observation.interpretation`` code (v3 ObservationInterpretation) decides the alert
  type: ``HH``, ``LL``, ``AA`` critical; ``H``, ``L``, ``A``, ``HU``, ``LU``, ``>``, ``<``
  warning (the map is configurable). Without an interpretation, configured critical ranges
  per LOINC code decide.
- Each alert names what and how much ("Potassium 6.8 mmol/L (critical high)"), never who, and
  carries ``alert_data.observation`` (``Observation/{id}``), the key a UI groups alerts by.
- ``amended``/``corrected`` results carry ``alert_data.action = "supersede"``: the UI replaces
  what it shows for that observation, and an amended result that is now normal still sends an
  ``info`` alert with ``action = "supersede"`` so a stale critical alert is cleared.
- ``entered-in-error``/``cancelled`` send an ``info`` alert with ``action = "retract"``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from hub import hookimpl
from hub.events import EventDraft, PatientAlert

if TYPE_CHECKING:
    from adapters.fhir.receiver import FhirDelivery, FhirEntry
    from hub.inputs import InboundMessage
    from hub.runtime import HubContext

INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LOINC = "http://loinc.org"
RANK = {"info": 0, "warning": 1, "critical": 2}
INTERPRETATION_WORDS = {
    "HH": "critical high",
    "LL": "critical low",
    "AA": "critical abnormal",
    "H": "high",
    "L": "low",
    "A": "abnormal",
    "HU": "significantly high",
    "LU": "significantly low",
    ">": "off scale high",
    "<": "off scale low",
}


class CriticalRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: str = Field(description="UCUM unit the limits are in; other units are not judged.")
    low: float | None = Field(None, description="Critical below this value.")
    high: float | None = Field(None, description="Critical above this value.")
    name: str | None = Field(None, description="Name used in the alert text.")


class ObservationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity_by_interpretation: dict[str, str] = Field(
        default_factory=lambda: {
            "HH": "critical",
            "LL": "critical",
            "AA": "critical",
            "H>": "critical",
            "L<": "critical",
            "H": "warning",
            "L": "warning",
            "A": "warning",
            "HU": "warning",
            "LU": "warning",
            ">": "warning",
            "<": "warning",
        },
        description="Interpretation code -> critical | warning | info (others: no alert).",
    )
    critical_ranges: dict[str, CriticalRange] = Field(
        default_factory=dict,
        description="LOINC code -> critical limits, for senders without interpretations.",
    )
    alert_on_preliminary: bool = Field(False, description="Also judge preliminary results.")


SETTINGS = ObservationSettings()
HUB: HubContext | None = None


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS, HUB
    SETTINGS = ObservationSettings.model_validate(hub.plugin_settings("observations"))
    HUB = hub


def _codes(concept: Any, system: str) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [
        c["code"]
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("system") == system and isinstance(c.get("code"), str)
    ]


def _name(resource: dict[str, Any]) -> str:
    code = resource.get("code") or {}
    if isinstance(code.get("text"), str) and code["text"]:
        return str(code["text"])
    for coding in code.get("coding") or []:
        if isinstance(coding, dict) and coding.get("display"):
            return str(coding["display"])
    loinc = _codes(code, LOINC)
    return f"LOINC {loinc[0]}" if loinc else "Observation"


def _value(resource: dict[str, Any]) -> tuple[float | None, str]:
    """The numeric value and its unit as text (``6.8 mmol/L``) or the coded/string value."""
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        unit = quantity.get("unit") or quantity.get("code") or ""
        value = float(quantity["value"])
        shown = (
            f"{quantity['value']:g}"
            if isinstance(quantity["value"], float)
            else str(quantity["value"])
        )
        return value, f"{shown} {unit}".strip()
    concept = resource.get("valueCodeableConcept")
    if isinstance(concept, dict):
        return None, str(
            concept.get("text")
            or next((c.get("display") for c in concept.get("coding") or [] if c.get("display")), "")
        )
    if isinstance(resource.get("valueString"), str):
        return None, resource["valueString"]
    return None, ""


def judge(resource: dict[str, Any]) -> tuple[str | None, str | None]:
    """(alert type, interpretation words) for a result, or (None, None) when not alertable."""
    worst: tuple[str | None, str | None] = (None, None)
    for concept in resource.get("interpretation") or []:
        for code in _codes(concept, INTERPRETATION_SYSTEM):
            severity = SETTINGS.severity_by_interpretation.get(code)
            if severity and (worst[0] is None or RANK[severity] > RANK[worst[0]]):
                worst = (severity, INTERPRETATION_WORDS.get(code, code))
    if worst[0] is not None or resource.get("interpretation"):
        return worst
    value, _ = _value(resource)
    quantity = resource.get("valueQuantity") or {}
    for code in _codes(resource.get("code"), LOINC):
        limits = SETTINGS.critical_ranges.get(code)
        if limits is None or value is None:
            continue
        if limits.unit not in (quantity.get("code"), quantity.get("unit")):
            continue
        if limits.high is not None and value > limits.high:
            return "critical", "critical high"
        if limits.low is not None and value < limits.low:
            return "critical", "critical low"
    return None, None


def fhir_time(value: Any) -> datetime | None:
    """A FHIR dateTime/instant as an aware datetime; partial dates and junk give None, so a
    sender's odd timestamp costs the event its clinical time, not the alert."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _hospital(patient: str) -> str | None:
    return HUB.census.patient_hospital(patient) if HUB is not None else None


def _alert(entry: FhirEntry, source: str) -> EventDraft | None:
    resource = entry.resource
    patient = entry.patient_id
    if resource is None or resource.get("resourceType") != "Observation" or not patient:
        return None
    status = resource.get("status")
    ref = entry.reference or "Observation"
    data: dict[str, Any] = {"observation": ref, "status": status}
    loinc = _codes(resource.get("code"), LOINC)
    if loinc:
        data["code"] = loinc[0]
    name = _name(resource)
    if status in ("entered-in-error", "cancelled"):
        alert_type = "info"
        data.update(action="retract", message=f"{name}: result withdrawn ({status})")
    elif status in ("final", "amended", "corrected") or (
        status == "preliminary" and SETTINGS.alert_on_preliminary
    ):
        severity, words = judge(resource)
        _, shown = _value(resource)
        superseding = status in ("amended", "corrected")
        if severity is None and not superseding:
            return None
        alert_type = severity or "info"
        text = f"{name} {shown}".strip()
        data["message"] = f"{text} ({words})" if words else f"{text} ({status})"
        if words:
            data["interpretation"] = words
        data["action"] = "supersede" if superseding else "raise"
    else:
        return None
    event_id = f"fhir:{entry.version_key}:observation-alert" if entry.version_key else None
    payload = PatientAlert.model_validate(
        {
            "patient_id": patient,
            "alert_type": alert_type,
            "alert_data": data,
            "hospital_id": _hospital(patient),
            "timestamp": fhir_time(resource.get("effectiveDateTime") or resource.get("issued")),
        }
    )
    return EventDraft(payload=payload, source=source, id=event_id)


@hookimpl
def normalize(message: InboundMessage) -> list[EventDraft] | None:
    if message.kind != "fhir":
        return None
    delivery: FhirDelivery = message.body
    drafts = [
        draft
        for entry in delivery.entries
        if entry.resource_type == "Observation"
        and (draft := _alert(entry, message.source)) is not None
    ]
    return drafts or None
