"""NEWS2 parameters out of one FHIR Observation (R4/R4B/R5 JSON; clinical-reference §2.1).

``extract_vitals(observation)`` returns ``None`` when no coding names a NEWS2 parameter, so
unrelated Observations pass silently; it raises ``MalformedObservationError`` (a
``ValueError``) naming the element when a NEWS2 Observation carries a value it cannot use.

Codes (§2.1 table; LOINC codes only under ``http://loinc.org``, SNOMED under
``http://snomed.info/sct``), from ``code.coding`` and from each ``component.code.coding``:

- 9279-1 respiratory rate, 8867-4 heart rate, 2708-6 / 59408-5 SpO2, 8310-5 body
  temperature, 8480-6 systolic BP (a component of the 85354-9 BP panel or on its own).
  Panels (85354-9, 85353-1) carry no top-level value; their components are read. 85353-1's
  ``hasMember`` references are not followed: each member arrives as its own Observation.
- Air or oxygen (§2.1 [DESIGN]): 3151-8 inhaled O2 flow rate > 0 L/min, or 3150-0 FiO2 > 21 %,
  means on oxygen; flow 0 or FiO2 21 % means air. Both may also be components of the SpO2
  Observation (US Core). FiO2 below 21 % is rejected: it is usually a fraction sent as a
  percentage, and reading 0.4 as 0.4 % would score air.
- Consciousness: LOINC 67775-7 or SNOMED 1104441000000107 (ACVPU scale) with
  ``valueCodeableConcept`` (or ``valueString``). Answers: SNOMED 248234008 A, 255373000 /
  300202002 V, 450847001 P, 422768004 U; LOINC LA9340-6 A, LA17108-4 V, LA17107-6 P,
  LA9343-0 U; a single-letter local code A/C/V/P/U of any system, or the text "alert",
  "new confusion"/"confusion"/"confused", "voice"/"verbal", "pain", "unresponsive" (§2.1: no
  agreed code exists for new confusion). The reference gives no GCS mapping, so GCS codes
  are not read.

Units: ``valueQuantity.code`` when ``system`` is UCUM, else ``valueQuantity.unit``. Accepted:
``/min`` (UCUM annotations such as ``{breaths}/min`` are unity), ``%``, ``mm[Hg]``, ``Cel``,
``[degF]`` (converted to °C), ``L/min``, plus the unambiguous display forms ``°C``, ``°F``,
``mmHg``, ``bpm``, ``beats/min``, ``breaths/min``. Anything else is rejected rather than
guessed. A ``comparator`` (``<90``) is rejected: the chart needs the value, not a bound.

Time: ``effectiveDateTime`` / ``effectiveInstant``, else ``effectivePeriod.start``, else
``issued``. It must have a time of day and a zone (a date alone cannot be judged fresh).

Status: ``final``, ``amended``, ``corrected`` and ``preliminary`` (switchable) are usable;
``entered-in-error`` and ``cancelled`` are retractions (§2.1 [DESIGN]: retract what was derived
from that Observation id); others (``registered``, ``unknown``) carry nothing. Values of
non-usable Observations are not parsed, so a garbled retraction still retracts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from plugins.news2.score import Consciousness, ParameterName

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"

STATUSES: Final[frozenset[str]] = frozenset(
    {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
USABLE_STATUSES: Final[frozenset[str]] = frozenset({"final", "amended", "corrected"})
RETRACTION_STATUSES: Final[frozenset[str]] = frozenset({"entered-in-error", "cancelled"})

# How a coded value is read: the NEWS2 parameter it feeds and which value rule applies.
_Kind = Literal[
    "respiratory_rate", "pulse", "spo2", "temperature", "systolic_bp", "o2_flow", "fio2", "acvpu"
]
_CODES: Final[dict[tuple[str, str], _Kind]] = {
    (LOINC, "9279-1"): "respiratory_rate",
    (LOINC, "8867-4"): "pulse",
    (LOINC, "2708-6"): "spo2",
    (LOINC, "59408-5"): "spo2",
    (LOINC, "8310-5"): "temperature",
    (LOINC, "8480-6"): "systolic_bp",
    (LOINC, "3151-8"): "o2_flow",
    (LOINC, "3150-0"): "fio2",
    (LOINC, "67775-7"): "acvpu",
    (SNOMED, "1104441000000107"): "acvpu",
}
_PARAMETER: Final[dict[_Kind, ParameterName]] = {
    "respiratory_rate": "respiratory_rate",
    "pulse": "pulse",
    "spo2": "spo2",
    "temperature": "temperature",
    "systolic_bp": "systolic_bp",
    "o2_flow": "on_oxygen",
    "fio2": "on_oxygen",
    "acvpu": "consciousness",
}
_UNIT_NOUN: Final[dict[_Kind, str]] = {
    "respiratory_rate": "respiratory rate",
    "pulse": "heart rate",
    "spo2": "oxygen saturation",
    "temperature": "temperature",
    "systolic_bp": "blood pressure",
    "o2_flow": "oxygen flow rate",
    "fio2": "inspired oxygen concentration",
}
# Display strings some senders put in Quantity.unit; each names exactly one UCUM unit.
_UNIT_ALIASES: Final[dict[str, str]] = {
    "°C": "Cel",
    "°F": "[degF]",
    "mmHg": "mm[Hg]",
    "bpm": "/min",
    "beats/min": "/min",
    "breaths/min": "/min",
    "l/min": "L/min",
}
_ACVPU_CODES: Final[dict[tuple[str, str], Consciousness]] = {
    (SNOMED, "248234008"): "A",
    (SNOMED, "255373000"): "V",
    (SNOMED, "300202002"): "V",
    (SNOMED, "450847001"): "P",
    (SNOMED, "422768004"): "U",
    (LOINC, "LA9340-6"): "A",
    (LOINC, "LA17108-4"): "V",
    (LOINC, "LA17107-6"): "P",
    (LOINC, "LA9343-0"): "U",
}
_ACVPU_TEXT: Final[dict[str, Consciousness]] = {
    "a": "A",
    "alert": "A",
    "c": "C",
    "confusion": "C",
    "new confusion": "C",
    "confused": "C",
    "v": "V",
    "voice": "V",
    "verbal": "V",
    "p": "P",
    "pain": "P",
    "u": "U",
    "unresponsive": "U",
}
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_PARTIAL_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_ANNOTATION = re.compile(r"\{[^{}]*\}")


class MalformedObservationError(ValueError):
    """A NEWS2 Observation whose value, unit, time or status cannot be used."""


@dataclass(frozen=True, slots=True)
class VitalReading:
    """One NEWS2 parameter in the chart's unit: /min, %, mmHg, °C, bool (oxygen), ACVPU."""

    parameter: ParameterName
    value: float | bool | str
    effective: datetime  # timezone-aware, UTC
    observation_id: str | None
    code: str  # the code the value was found under, e.g. "8480-6"


@dataclass(frozen=True, slots=True)
class ObservationVitals:
    observation_id: str | None
    subject: str | None  # Observation.subject.reference, e.g. "Patient/123"
    status: str
    usable: bool  # status lets the values count (readings are only parsed then)
    effective: datetime | None
    parameters: tuple[ParameterName, ...]  # named by the codes, even when not read
    readings: tuple[VitalReading, ...]

    @property
    def retracted(self) -> bool:
        """entered-in-error / cancelled: drop whatever came from ``observation_id``."""
        return self.status in RETRACTION_STATUSES


def extract_vitals(
    observation: Mapping[str, Any], *, accept_preliminary: bool = True
) -> ObservationVitals | None:
    """The NEWS2 parameters in one Observation, or ``None`` if it holds none."""
    if observation.get("resourceType", "Observation") != "Observation":
        return None
    top_kind = _kind_of(observation.get("code"), "Observation.code")
    components = observation.get("component") or []
    if not isinstance(components, list):
        raise MalformedObservationError("Observation.component must be an array")
    component_kinds: list[tuple[int, Mapping[str, Any], _Kind]] = []
    for i, comp in enumerate(components):
        if not isinstance(comp, Mapping):
            raise MalformedObservationError(f"Observation.component[{i}] must be an object")
        kind = _kind_of(comp.get("code"), f"Observation.component[{i}].code")
        if kind is not None:
            component_kinds.append((i, comp, kind))
    if top_kind is None and not component_kinds:
        return None

    kinds = ([top_kind] if top_kind else []) + [k for _, _, k in component_kinds]
    parameters = tuple(dict.fromkeys(_PARAMETER[k] for k in kinds))
    status = observation.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        raise MalformedObservationError(
            f"Observation.status {status!r} is not an ObservationStatus code"
        )
    usable = status in USABLE_STATUSES or (status == "preliminary" and accept_preliminary)
    obs_id = observation.get("id") if isinstance(observation.get("id"), str) else None
    subject = observation.get("subject")
    reference = subject.get("reference") if isinstance(subject, Mapping) else None

    def result(effective: datetime | None, readings: tuple[VitalReading, ...]) -> ObservationVitals:
        return ObservationVitals(
            observation_id=obs_id,
            subject=reference if isinstance(reference, str) else None,
            status=status,
            usable=usable,
            effective=effective,
            parameters=parameters,
            readings=readings,
        )

    if not usable:
        return result(None, ())

    effective = _effective(observation)
    readings: list[VitalReading] = []
    seen: dict[ParameterName, str] = {}

    def add(kind: _Kind, element: Mapping[str, Any], path: str, code_path: str) -> None:
        value = _value(kind, element, path)
        if value is None:
            return
        parameter = _PARAMETER[kind]
        if parameter in seen:
            raise MalformedObservationError(
                f"{code_path} repeats {parameter} already given at {seen[parameter]}"
            )
        seen[parameter] = code_path
        readings.append(VitalReading(parameter, value, effective, obs_id, _matched_code(element)))

    if top_kind is not None:
        add(top_kind, observation, "Observation", "Observation.code")
    for i, comp, kind in component_kinds:
        add(kind, comp, f"Observation.component[{i}]", f"Observation.component[{i}].code")
    return result(effective, tuple(readings))


def _codings(concept: Any) -> list[tuple[str, str]]:
    """(system, code) of each well-formed coding; others cannot match a code anyway."""
    if not isinstance(concept, Mapping) or not isinstance(concept.get("coding"), list):
        return []
    return [
        (c["system"] if isinstance(c.get("system"), str) else "", c["code"])
        for c in concept["coding"]
        if isinstance(c, Mapping) and isinstance(c.get("code"), str)
    ]


def _kind_of(concept: Any, path: str) -> _Kind | None:
    kinds = {_CODES[c] for c in _codings(concept) if c in _CODES}
    if len(kinds) > 1:
        raise MalformedObservationError(
            f"{path}.coding names different NEWS2 parameters: {', '.join(sorted(kinds))}"
        )
    return kinds.pop() if kinds else None


def _matched_code(element: Mapping[str, Any]) -> str:
    return next((code for code in _codings(element.get("code")) if code in _CODES), ("", ""))[1]


def _value(kind: _Kind, element: Mapping[str, Any], path: str) -> float | bool | str | None:
    """The element's value in the chart's unit; ``None`` when the element has no value."""
    if kind == "acvpu":
        return _acvpu(element, path)
    if "valueQuantity" not in element:
        others = sorted(k for k in element if k.startswith("value"))
        if others:
            raise MalformedObservationError(
                f"{path}.{others[0]} is not a Quantity; {_UNIT_NOUN[kind]} needs valueQuantity"
            )
        # dataAbsentReason or simply no value: a missing parameter, not an error.
        return None
    qpath = f"{path}.valueQuantity"
    quantity = element["valueQuantity"]
    if not isinstance(quantity, Mapping):
        raise MalformedObservationError(f"{qpath} must be an object")
    if "comparator" in quantity:
        raise MalformedObservationError(
            f"{qpath}.comparator '{quantity['comparator']}': NEWS2 needs a measured value"
        )
    number = quantity.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise MalformedObservationError(f"{qpath}.value {number!r} is not a number")
    value = float(number)
    unit, unit_path = _unit(quantity, qpath)
    bad_unit = MalformedObservationError(
        f"{unit_path} '{unit}' is not a{'n' if _UNIT_NOUN[kind][0] in 'aeiou' else ''} "
        f"{_UNIT_NOUN[kind]} unit"
    )
    if kind in ("respiratory_rate", "pulse"):
        if _ANNOTATION.sub("", unit) not in ("/min", "1/min"):
            raise bad_unit
        return value
    if kind == "spo2":
        if unit != "%":
            raise bad_unit
        return value
    if kind == "systolic_bp":
        if unit != "mm[Hg]":
            raise bad_unit
        return value
    if kind == "temperature":
        if unit == "Cel":
            return value
        if unit == "[degF]":
            # Rounded to 6 places so float noise from the conversion cannot push a value
            # across a 0.05 °C rounding edge in the score.
            return round((value - 32.0) * 5.0 / 9.0, 6)
        raise bad_unit
    if kind == "o2_flow":
        if unit != "L/min":
            raise bad_unit
        if value < 0:
            raise MalformedObservationError(f"{qpath}.value {number!r} is a negative flow")
        return value > 0
    # fio2
    if unit != "%":
        raise bad_unit
    if not 21 <= value <= 100:
        raise MalformedObservationError(
            f"{qpath}.value {number!r} % is outside 21-100 % (a fraction sent as a percentage?)"
        )
    return value > 21


def _unit(quantity: Mapping[str, Any], qpath: str) -> tuple[str, str]:
    code = quantity.get("code")
    if quantity.get("system") == UCUM and isinstance(code, str) and code:
        return code, f"{qpath}.code"
    unit = quantity.get("unit")
    if isinstance(unit, str) and unit:
        return _UNIT_ALIASES.get(unit, unit), f"{qpath}.unit"
    raise MalformedObservationError(f"{qpath} has no unit (UCUM code or unit)")


def _acvpu(element: Mapping[str, Any], path: str) -> Consciousness | None:
    if "valueString" in element:
        text = element["valueString"]
        level = _ACVPU_TEXT.get(text.strip().lower()) if isinstance(text, str) else None
        if level is None:
            raise MalformedObservationError(
                f"{path}.valueString {text!r} is not an ACVPU level (A, C, V, P, U)"
            )
        return level
    if "valueCodeableConcept" not in element:
        others = sorted(k for k in element if k.startswith("value"))
        if others:
            raise MalformedObservationError(
                f"{path}.{others[0]} is not an ACVPU answer; use valueCodeableConcept"
            )
        return None
    concept = element["valueCodeableConcept"]
    levels: set[Consciousness] = set()
    for system, code in _codings(concept):
        if (system, code) in _ACVPU_CODES:
            levels.add(_ACVPU_CODES[(system, code)])
        elif code.strip().upper() in ("A", "C", "V", "P", "U"):
            levels.add(_ACVPU_TEXT[code.strip().lower()])
    if not levels and isinstance(concept, Mapping) and isinstance(concept.get("text"), str):
        from_text = _ACVPU_TEXT.get(concept["text"].strip().lower())
        if from_text is not None:
            levels.add(from_text)
    if len(levels) > 1:
        raise MalformedObservationError(
            f"{path}.valueCodeableConcept gives conflicting ACVPU levels: "
            + ", ".join(sorted(levels))
        )
    if not levels:
        raise MalformedObservationError(
            f"{path}.valueCodeableConcept has no recognised ACVPU answer (A, C, V, P, U)"
        )
    return levels.pop()


def _effective(observation: Mapping[str, Any]) -> datetime:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if key in observation:
            return _parse_time(observation[key], f"Observation.{key}")
    period = observation.get("effectivePeriod")
    if isinstance(period, Mapping) and "start" in period:
        return _parse_time(period["start"], "Observation.effectivePeriod.start")
    if "issued" in observation:
        return _parse_time(observation["issued"], "Observation.issued")
    raise MalformedObservationError(
        "Observation has no effectiveDateTime, effectiveInstant, effectivePeriod.start or issued"
    )


def _parse_time(text: Any, path: str) -> datetime:
    if isinstance(text, str) and _DATETIME.fullmatch(text):
        # fromisoformat takes at most microseconds; FHIR allows finer fractions.
        trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text)
        return datetime.fromisoformat(trimmed).astimezone(UTC)
    if isinstance(text, str) and _PARTIAL_DATE.fullmatch(text):
        raise MalformedObservationError(
            f"{path} '{text}' has no time of day; a NEWS2 reading needs one"
        )
    raise MalformedObservationError(f"{path} {text!r} is not a FHIR dateTime with a time zone")
