"""RiskAssessment -> ``risk_updated`` (clinical-reference §2.4, cheat-sheet §6 rule 5).

- Only ``final``, ``amended``, ``corrected`` and ``preliminary`` assessments count.
  ``entered-in-error`` produces nothing: ``risk_updated`` has no retraction, and the next
  assessment replaces what a client shows. ``registered``/``cancelled``/``unknown`` likewise.
- ``probabilityDecimal`` is a percentage per the spec (ras-2, max 100), but many producers send
  0..1: above 1 it is divided by 100; 0..1 is taken as a fraction unless the source is listed in
  ``probability_percent_sources``. Above 100 or negative is invalid and the prediction ignored.
- ``probabilityRange``: midpoint of its ``%`` bounds (ras-1); one bound alone is used as is.
- ``qualitativeRisk`` decides ``risk_level`` (negligible/low -> low, moderate -> medium,
  high/certain -> high). Without it the score is banded by ``risk_bands``. With no
  probability at all the score is the middle of the level's band (``score_from`` says so).
- Of several predictions the highest score wins; all are listed in the explanation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.events import EventDraft, RiskUpdated
from plugins.fhir_resources.common import Context, codes, concept_text, draft, log
from plugins.observations import fhir_time

if TYPE_CHECKING:
    from datetime import datetime

    from adapters.fhir.receiver import FhirEntry

RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
JUDGED = ("final", "amended", "corrected", "preliminary")
QUALITATIVE = {
    "negligible": "low",
    "low": "low",
    "moderate": "medium",
    "high": "high",
    "certain": "high",
}
_LEVEL_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def band(score: float, ctx: Context) -> str:
    bands = ctx.settings.risk_bands
    if score < bands.low_below:
        return "low"
    if score < bands.medium_below:
        return "medium"
    if score < bands.high_below:
        return "high"
    return "critical"


def _band_middle(level: str, qualitative: str, ctx: Context) -> float:
    bands = ctx.settings.risk_bands
    if qualitative == "negligible":
        return 0.0
    if qualitative == "certain":
        return 1.0
    low, high = {
        "low": (0.0, bands.low_below),
        "medium": (bands.low_below, bands.medium_below),
        "high": (bands.medium_below, bands.high_below),
    }[level]
    return round((low + high) / 2, 4)


def _percent_unit(quantity: dict[str, Any]) -> bool:
    unit = quantity.get("code") or quantity.get("unit")
    return unit in (None, "%")


def probability(prediction: dict[str, Any], percent: bool) -> tuple[float | None, str | None]:
    """(0..1 score, how it was read) of one prediction, or (None, None)."""
    value = prediction.get("probabilityDecimal")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0 or value > 100:
            return None, None
        if value > 1 or percent:
            return value / 100, "percent"
        return float(value), "fraction"
    span = prediction.get("probabilityRange")
    if isinstance(span, dict):
        bounds = []
        for key in ("low", "high"):
            quantity = span.get(key)
            if not isinstance(quantity, dict):
                continue
            number = quantity.get("value")
            if not isinstance(number, int | float) or isinstance(number, bool):
                continue
            if not _percent_unit(quantity) or not 0 <= number <= 100:
                return None, None
            bounds.append(float(number))
        if bounds:
            return sum(bounds) / len(bounds) / 100, "range-midpoint"
    return None, None


def map_risk(entry: FhirEntry, ctx: Context) -> list[EventDraft]:
    resource = entry.resource
    assert resource is not None
    status = resource.get("status")
    if status not in JUDGED:
        if status == "entered-in-error":
            ctx.skip(entry, "entered-in-error has no risk_updated retraction")
        return []
    patient = entry.patient_id
    if not patient:
        ctx.skip(entry, "no patient subject")
        return []
    percent = ctx.source_name in ctx.settings.probability_percent_sources or (
        ctx.source in ctx.settings.probability_percent_sources
    )
    best: tuple[float, str, dict[str, Any]] | None = None
    listed = []
    for prediction in resource.get("prediction") or []:
        if not isinstance(prediction, dict):
            continue
        score, read_as = probability(prediction, percent)
        qualitative = next(iter(codes(prediction.get("qualitativeRisk"), RISK_PROBABILITY)), None)
        level = QUALITATIVE.get(qualitative or "")
        if score is None and level is None:
            continue
        if score is None:
            assert level is not None and qualitative is not None
            score, read_as = _band_middle(level, qualitative, ctx), "qualitativeRisk"
        level = level or band(score, ctx)
        item: dict[str, Any] = {"score": round(score, 4), "level": level, "score_from": read_as}
        outcome = concept_text(prediction.get("outcome"))
        if outcome:
            item["outcome"] = outcome
        if isinstance(prediction.get("rationale"), str):
            item["rationale"] = prediction["rationale"]
        if qualitative:
            item["qualitative_risk"] = qualitative
        listed.append(item)
        rank = (score, _LEVEL_RANK[level])
        if best is None or rank > (best[0], _LEVEL_RANK[best[1]]):
            best = (score, level, item)
    if best is None:
        ctx.skip(entry, "no usable prediction")
        return []
    score, level, chosen = best
    explanation: dict[str, Any] = {
        "source": entry.reference,
        "status": status,
        "score_from": chosen["score_from"],
    }
    method = concept_text(resource.get("method"))
    if method:
        explanation["method"] = method
    for key in ("outcome", "rationale"):
        if key in chosen:
            explanation[key] = chosen[key]
    if len(listed) > 1:
        explanation["predictions"] = listed
    if chosen["score_from"] == "fraction":
        # 0..1 could be a fraction or a tiny percentage; the reference asks for a trace
        log.debug("probabilityDecimal read as a fraction", extra={"reference": entry.reference})
    payload = RiskUpdated.model_validate(
        {
            "patient_id": patient,
            "risk_score": min(1.0, max(0.0, score)),
            "risk_level": level,
            "explanation": explanation,
            "hospital_id": ctx.census_hospital(patient),
            "timestamp": _when(resource),
        }
    )
    return [draft(entry, ctx, payload)]


def _when(resource: dict[str, Any]) -> datetime | None:
    period = resource.get("occurrencePeriod")
    return fhir_time(resource.get("occurrenceDateTime")) or (
        fhir_time(period.get("end") or period.get("start")) if isinstance(period, dict) else None
    )
