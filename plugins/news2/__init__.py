"""NEWS2 (RCP 2017) from FHIR vital-sign Observations (clinical-reference §2.1, §3).

- ``plugins.news2.score``: the pure Chart 1 / Chart 3 scoring.
- ``plugins.news2.vitals``: NEWS2 parameters out of one Observation (JSON dict).
- ``plugins.news2.tracker``: per-patient latest readings, recompute and band-crossing alerts.

The hooks here: each vital-sign Observation updates the patient's readings; when the score
changes a ``risk_updated`` (``risk_score`` = NEWS2/20, ``risk_level`` the Chart 3 band,
``explanation`` each parameter's value and sub-score) is emitted, and rising into medium or
high raises one ``patient_alert`` (warning / critical) per crossing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from hub import hookimpl
from hub.events import EventDraft, PatientAlert, RiskUpdated
from plugins.news2.tracker import News2Tracker, ScoreChange
from plugins.news2.vitals import extract_vitals

if TYPE_CHECKING:
    from adapters.fhir.receiver import FhirDelivery, FhirEntry
    from hub.inputs import InboundMessage
    from hub.runtime import HubContext

log = logging.getLogger("plugins.news2")


class News2Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    freshness_hours: float = Field(
        12.0, gt=0, description="Readings older than this are not scored (Chart 4: 12 h at 0)."
    )
    max_patients: int = Field(10_000, ge=1, description="Patients whose vitals are kept.")
    scale2_patients: list[str] = Field(
        default_factory=list,
        description="Patients scored on SpO2 Scale 2 (hypercapnic respiratory failure), "
        "as a clinician prescribed; everyone else is on Scale 1.",
    )
    accept_preliminary: bool = Field(True, description="Score preliminary vital signs too.")


SETTINGS = News2Settings()
TRACKER = News2Tracker()
HUB: HubContext | None = None


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS, TRACKER, HUB
    SETTINGS = News2Settings.model_validate(hub.plugin_settings("news2"))
    TRACKER = News2Tracker(
        freshness=timedelta(hours=SETTINGS.freshness_hours), max_patients=SETTINGS.max_patients
    )
    for patient in SETTINGS.scale2_patients:
        TRACKER.set_spo2_scale(patient, 2)
    HUB = hub


def _hospital(patient: str) -> str | None:
    return HUB.census.patient_hospital(patient) if HUB is not None else None


def _explanation(change: ScoreChange) -> dict[str, Any]:
    result = change.result
    assert result is not None
    return {
        "method": "NEWS2 (RCP 2017)",
        "total": result.total,
        "band": result.band,
        "spo2_scale": result.spo2_scale,
        "parameters": {
            sub.parameter: {"value": sub.value, "score": sub.score} for sub in result.sub_scores
        },
        "red_score": result.has_red_score,
        "oxygen_assumed": result.oxygen_assumed,
        "observations": [f"Observation/{oid}" for oid in change.observation_ids],
        "summary": result.explanation,
    }


def _drafts(change: ScoreChange, entry: FhirEntry, source: str) -> list[EventDraft]:
    patient = change.patient_id
    hospital = _hospital(patient)
    key = f"fhir:{entry.version_key}" if entry.version_key else None
    when = change.effective
    if change.result is None:
        alert = PatientAlert(
            patient_id=patient,
            alert_type="info",
            hospital_id=hospital,
            timestamp=when,
            alert_data={
                "code": "news2",
                "action": "retract",
                "message": "NEWS2 withdrawn: a vital sign it used was entered in error",
            },
        )
        return [
            EventDraft(payload=alert, source=source, id=f"{key}:news2-retract" if key else None)
        ]
    result = change.result
    drafts = [
        EventDraft(
            payload=RiskUpdated(
                patient_id=patient,
                risk_score=result.risk_score,
                risk_level=result.band,
                explanation=_explanation(change),
                hospital_id=hospital,
                timestamp=when,
            ),
            source=source,
            id=f"{key}:news2" if key else None,
        )
    ]
    if change.crossing is not None:
        alert_type = "critical" if change.crossing == "high" else "warning"
        drafts.append(
            EventDraft(
                payload=PatientAlert(
                    patient_id=patient,
                    alert_type=alert_type,
                    hospital_id=hospital,
                    timestamp=when,
                    alert_data={
                        "code": "news2",
                        "action": "raise",
                        "message": f"NEWS2 {result.total} ({result.band})",
                        "news2": result.total,
                        "band": result.band,
                    },
                ),
                source=source,
                id=f"{key}:news2-alert" if key else None,
            )
        )
    return drafts


@hookimpl
def normalize(message: InboundMessage) -> list[EventDraft] | None:
    if message.kind != "fhir":
        return None
    delivery: FhirDelivery = message.body
    now = datetime.now(UTC)
    drafts: list[EventDraft] = []
    for entry in delivery.entries:
        if entry.resource_type != "Observation" or entry.resource is None or not entry.patient_id:
            continue
        try:
            vitals = extract_vitals(entry.resource, accept_preliminary=SETTINGS.accept_preliminary)
            if vitals is None:
                continue
            if vitals.retracted and vitals.observation_id:
                change = TRACKER.retract(entry.patient_id, vitals.observation_id, now)
            elif vitals.readings:
                change = TRACKER.update(entry.patient_id, vitals.readings, now)
            else:
                continue
        except ValueError as exc:
            # a malformed vital sign is not scored; the reason names the element, not the patient
            log.warning(
                "vital sign not scored", extra={"observation": entry.reference, "why": str(exc)}
            )
            continue
        if change is not None:
            drafts += _drafts(change, entry, message.source)
    return drafts or None
