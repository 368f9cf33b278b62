"""Per-patient NEWS2 state: latest readings, recompute on change, band-crossing alerts.

Rules (clinical-reference §3; the reference is silent on the tracker, so these are choices):

- **Latest wins by effective time**, not arrival: a reading older than the stored one for the
  same parameter never replaces it (§6 rule 2). Equal times: the later arrival wins, so a
  correction sent with the original time replaces the value. A new version of the same
  Observation id (amended/corrected) replaces its earlier reading whatever its time.
- **History**: a few readings per parameter (``history_depth``) are kept, so when the latest
  is retracted (entered-in-error) the previous one, if still fresh, takes its place.
- **Freshness**: readings older than ``freshness`` at ``now`` are dropped before scoring.
  Default 12 h: Chart 4's minimum monitoring frequency (12-hourly at NEWS2 0), so a set taken
  at the slowest allowed rhythm stays scoreable until the next set is due.
- **Recompute** only when the scoring inputs (values, SpO2 scale, air/oxygen) differ from the
  last scored ones and the set is complete (``score.is_complete``); a repeated value with a
  newer time only refreshes it. An incomplete set returns ``None`` and keeps the last result
  and band (nothing new is known).
- **Crossing**: ``"medium"`` / ``"high"`` when the band rises into it (rank low < low-medium <
  medium < high), so it fires once per rise: not while the band stays, again after a fall
  and a new rise (high -> medium -> high fires "high" twice). The first score of a patient
  rises from nothing.
- **Retraction** (entered-in-error / cancelled Observation id): its readings are removed and
  the score recomputed. If the Observation fed the last result and what is left is
  incomplete, the result is withdrawn: ``ScoreChange(result=None)``; the band resets, so the
  next medium/high score alerts again (the withdrawn alert was built on wrong data).
- **SpO2 scale** is a per-patient setting (default Scale 1), never inferred (§3.1 [DESIGN]).
- **Memory**: at most ``max_patients`` patients, least recently touched evicted first. An
  evicted patient's Scale 2 setting is lost (Scale 1 over-scores, it does not under-score);
  the caller re-applies it from its source of truth.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from plugins.news2.score import (
    CONSCIOUSNESS_LEVELS,
    InvalidParameterError,
    News2Params,
    News2Result,
    ParameterName,
    SpO2Scale,
    band_rank,
    compute_news2,
    is_complete,
    score_pulse,
    score_respiratory_rate,
    score_spo2,
    score_systolic_bp,
    score_temperature,
)
from plugins.news2.vitals import VitalReading

Crossing = Literal["medium", "high"]
Reason = Literal["update", "retraction", "scale"]

DEFAULT_FRESHNESS: Final = timedelta(hours=12)
DEFAULT_MAX_PATIENTS: Final = 10_000
DEFAULT_HISTORY_DEPTH: Final = 3


@dataclass(frozen=True, slots=True)
class ScoreChange:
    patient_id: str
    result: News2Result | None  # None: the previous result was withdrawn by a retraction
    previous: News2Result | None
    crossing: Crossing | None
    reason: Reason
    observation_ids: tuple[str, ...]  # the Observations the result was computed from
    effective: datetime | None  # newest effective time among them


@dataclass(slots=True)
class _Patient:
    spo2_scale: SpO2Scale
    history: dict[ParameterName, list[VitalReading]] = field(default_factory=dict)
    scored_inputs: News2Params | None = None
    result: News2Result | None = None
    sources: frozenset[str] = frozenset()


class News2Tracker:
    def __init__(
        self,
        *,
        freshness: timedelta = DEFAULT_FRESHNESS,
        max_patients: int = DEFAULT_MAX_PATIENTS,
        history_depth: int = DEFAULT_HISTORY_DEPTH,
        default_spo2_scale: SpO2Scale = 1,
    ) -> None:
        if freshness <= timedelta(0):
            raise ValueError("freshness must be positive")
        if max_patients < 1 or history_depth < 1:
            raise ValueError("max_patients and history_depth must be at least 1")
        self.freshness = freshness
        self.max_patients = max_patients
        self.history_depth = history_depth
        self.default_spo2_scale = default_spo2_scale
        self._patients: OrderedDict[str, _Patient] = OrderedDict()

    def __len__(self) -> int:
        return len(self._patients)

    def __contains__(self, patient_id: object) -> bool:
        return patient_id in self._patients

    def update(
        self, patient_id: str, readings: Iterable[VitalReading], now: datetime
    ) -> ScoreChange | None:
        """Store readings; a ``ScoreChange`` when the scoring inputs changed and are complete."""
        _require_aware(now)
        checked = [_check(reading) for reading in readings]
        patient = self._patient(patient_id, create=True)
        assert patient is not None
        for reading in checked:
            self._store(patient, reading, now)
        return self._rescore(patient_id, patient, now, "update")

    def retract(self, patient_id: str, observation_id: str, now: datetime) -> ScoreChange | None:
        """Forget the readings of an entered-in-error / cancelled Observation."""
        _require_aware(now)
        patient = self._patient(patient_id, create=False)
        if patient is None:
            return None
        removed = False
        for readings in patient.history.values():
            kept = [r for r in readings if r.observation_id != observation_id]
            removed |= len(kept) != len(readings)
            readings[:] = kept
        if not removed:
            return None
        fed_last_result = observation_id in patient.sources
        change = self._rescore(patient_id, patient, now, "retraction")
        if change is not None or not fed_last_result or patient.result is None:
            return change
        inputs = self._inputs(patient, now)
        if is_complete(inputs):
            # Still complete with the same inputs: another reading carries the same value.
            patient.sources = self._sources(patient, now)
            return None
        withdrawn = patient.result
        patient.result, patient.scored_inputs, patient.sources = None, None, frozenset()
        return ScoreChange(patient_id, None, withdrawn, None, "retraction", (), None)

    def set_spo2_scale(
        self, patient_id: str, scale: SpO2Scale, now: datetime | None = None
    ) -> ScoreChange | None:
        """Scale 2 only for a recorded hypercapnic-failure target of 88-92 % (§3.1).

        With ``now`` the score is recomputed at once; without, at the next update.
        """
        if scale not in (1, 2):
            raise ValueError(f"SpO2 scale must be 1 or 2, got {scale!r}")
        patient = self._patient(patient_id, create=True)
        assert patient is not None
        patient.spo2_scale = scale
        if now is None:
            return None
        _require_aware(now)
        return self._rescore(patient_id, patient, now, "scale")

    def spo2_scale(self, patient_id: str) -> SpO2Scale:
        patient = self._patients.get(patient_id)
        return self.default_spo2_scale if patient is None else patient.spo2_scale

    def current(self, patient_id: str) -> News2Result | None:
        """The last result handed out for the patient (it may rest on stale readings)."""
        patient = self._patients.get(patient_id)
        return None if patient is None else patient.result

    def forget(self, patient_id: str) -> None:
        self._patients.pop(patient_id, None)

    def _patient(self, patient_id: str, *, create: bool) -> _Patient | None:
        patient = self._patients.get(patient_id)
        if patient is not None:
            self._patients.move_to_end(patient_id)
            return patient
        if not create:
            return None
        patient = _Patient(spo2_scale=self.default_spo2_scale)
        self._patients[patient_id] = patient
        while len(self._patients) > self.max_patients:
            self._patients.popitem(last=False)
        return patient

    def _store(self, patient: _Patient, reading: VitalReading, now: datetime) -> None:
        if now - reading.effective > self.freshness:
            return
        readings = patient.history.setdefault(reading.parameter, [])
        if reading.observation_id is not None:
            readings[:] = [r for r in readings if r.observation_id != reading.observation_id]
        # bisect_right puts an equal time after the stored one: the later arrival wins ties.
        at = bisect.bisect_right([r.effective for r in readings], reading.effective)
        readings.insert(at, reading)
        del readings[: -self.history_depth]

    def _fresh_latest(self, patient: _Patient, now: datetime) -> dict[ParameterName, VitalReading]:
        latest: dict[ParameterName, VitalReading] = {}
        for parameter, readings in patient.history.items():
            readings[:] = [r for r in readings if now - r.effective <= self.freshness]
            if readings:
                latest[parameter] = readings[-1]
        return latest

    def _inputs(self, patient: _Patient, now: datetime) -> News2Params:
        latest = self._fresh_latest(patient, now)

        def value(parameter: ParameterName) -> Any:
            reading = latest.get(parameter)
            return None if reading is None else reading.value

        # Types were checked on the way in (_check), so the values fit the fields.
        return News2Params(
            respiratory_rate=value("respiratory_rate"),
            spo2=value("spo2"),
            spo2_scale=patient.spo2_scale,
            on_oxygen=value("on_oxygen"),
            systolic_bp=value("systolic_bp"),
            pulse=value("pulse"),
            consciousness=value("consciousness"),
            temperature=value("temperature"),
        )

    def _sources(self, patient: _Patient, now: datetime) -> frozenset[str]:
        latest = self._fresh_latest(patient, now)
        return frozenset(r.observation_id for r in latest.values() if r.observation_id)

    def _rescore(
        self, patient_id: str, patient: _Patient, now: datetime, reason: Reason
    ) -> ScoreChange | None:
        inputs = self._inputs(patient, now)
        if inputs == patient.scored_inputs or not is_complete(inputs):
            return None
        result = compute_news2(inputs)
        previous = patient.result
        risen = previous is None or band_rank(result.band) > band_rank(previous.band)
        crossing: Crossing | None = None
        if risen and result.band in ("medium", "high"):
            crossing = "high" if result.band == "high" else "medium"
        latest = self._fresh_latest(patient, now)
        patient.scored_inputs, patient.result = inputs, result
        patient.sources = frozenset(r.observation_id for r in latest.values() if r.observation_id)
        return ScoreChange(
            patient_id=patient_id,
            result=result,
            previous=previous,
            crossing=crossing,
            reason=reason,
            observation_ids=tuple(sorted(patient.sources)),
            effective=max(r.effective for r in latest.values()),
        )


_SCORERS: Final[dict[str, Callable[[float], int]]] = {
    "respiratory_rate": score_respiratory_rate,
    "spo2": score_spo2,
    "systolic_bp": score_systolic_bp,
    "pulse": score_pulse,
    "temperature": score_temperature,
}


def _check(reading: VitalReading) -> VitalReading:
    """Refuse a hand-built reading whose value could not be scored, before it is stored."""
    _require_aware(reading.effective)
    value, parameter = reading.value, reading.parameter
    if parameter == "on_oxygen":
        ok = isinstance(value, bool)
    elif parameter == "consciousness":
        ok = value in CONSCIOUSNESS_LEVELS
    elif parameter in _SCORERS and isinstance(value, int | float) and not isinstance(value, bool):
        # Scoring it now raises InvalidParameterError for NaN, negatives, SpO2 > 100:
        # stored, such a value would break every later score of the patient.
        _SCORERS[parameter](value)
        ok = True
    else:
        ok = False
    if not ok:
        raise InvalidParameterError(f"{parameter} reading {value!r} cannot be scored")
    return reading


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; NEWS2 times must be timezone-aware")
