"""NEWS2 aggregate score, RCP 2017 (clinical-reference §3.1 Chart 1, §3.2 Chart 3, §3.4).

Pure functions, no I/O. Decisions where the charts need an implementation rule:

- **Rounding before banding** (§3.1 [DESIGN]): the bands are defined on recorded values, so
  temperature is rounded to one decimal place and every other numeric parameter to a whole
  number *before* banding, half away from zero on the value's shortest decimal form
  (``35.05`` -> ``35.1`` -> 1 point; ``35.04`` -> ``35.0`` -> 3 points; SBP ``90.5`` -> ``91``
  -> 2 points). Binary float noise cannot move a value across a band edge because the decimal
  form of the float (``repr``) is rounded, not its binary expansion. After rounding the
  upper-inclusive thresholds of the chart apply, so no value falls between two bands.
- **Completeness**: §3.4 does not say what is needed, so the six measured parameters
  (respiration rate, SpO2, systolic BP, pulse, consciousness, temperature) are required.
  Air or oxygen may be missing: §2.1 [DESIGN] says to default to air when no oxygen
  information is present and to flag it, so the result carries ``oxygen_assumed`` and the
  explanation says "oxygen status unknown - assumed air". Scoring an incomplete set would
  under-score silently, hence ``compute_news2`` refuses it.
- **SpO2 scale**: ``None`` means Scale 1. Scale 2 is only ever an explicit per-patient choice
  (§3.1 [DESIGN]: never inferred from a diagnosis).
- **Domain checks**: negative rates/pressures, SpO2 outside 0-100 %, non-finite numbers and
  unknown ACVPU letters raise ``InvalidParameterError``; a wrong number must not score as 0.
- ``risk_score = total / 20`` (capped at 1.0) is a normalisation for ``risk_updated``, not a
  probability (§3.4); the explanation says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal, get_args

ParameterName = Literal[
    "respiratory_rate",
    "spo2",
    "on_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
]
Consciousness = Literal["A", "C", "V", "P", "U"]
SpO2Scale = Literal[1, 2]
RiskBand = Literal["low", "low-medium", "medium", "high"]
AlertSeverity = Literal["info", "warning", "critical"]

PARAMETERS: Final[tuple[ParameterName, ...]] = get_args(ParameterName)
# on_oxygen is absent on purpose: §2.1 [DESIGN] lets it default to air.
REQUIRED_PARAMETERS: Final[tuple[ParameterName, ...]] = (
    "respiratory_rate",
    "spo2",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)
CONSCIOUSNESS_LEVELS: Final[tuple[Consciousness, ...]] = get_args(Consciousness)
MAX_TOTAL: Final = 20

_BAND_RANK: Final[dict[RiskBand, int]] = {"low": 0, "low-medium": 1, "medium": 2, "high": 3}
_BAND_RESPONSE: Final[dict[RiskBand, str]] = {
    "low": "ward-based response",
    "low-medium": "urgent ward-based response (score of 3 in a single parameter)",
    "medium": "urgent response threshold",
    "high": "emergency response threshold",
}


class InvalidParameterError(ValueError):
    """A parameter value outside what the chart can score (negative, SpO2 > 100, NaN...)."""


class IncompleteParametersError(ValueError):
    """Too few parameters to score; ``missing`` names them."""

    def __init__(self, missing: tuple[ParameterName, ...]) -> None:
        self.missing = missing
        super().__init__("NEWS2 needs " + ", ".join(missing))


@dataclass(frozen=True, slots=True)
class News2Params:
    """One set of observations. ``None`` means not measured."""

    respiratory_rate: float | None = None  # breaths/min
    spo2: float | None = None  # %
    spo2_scale: SpO2Scale | None = None  # None -> Scale 1
    on_oxygen: bool | None = None  # True supplemental O2, False air, None unknown (-> air)
    systolic_bp: float | None = None  # mmHg
    pulse: float | None = None  # beats/min
    consciousness: Consciousness | None = None  # ACVPU; "C" = new confusion
    temperature: float | None = None  # °C


@dataclass(frozen=True, slots=True)
class SubScore:
    """One Chart 1 row: the value as banded (after rounding) and its points."""

    parameter: ParameterName
    value: float | bool | str
    score: int


@dataclass(frozen=True, slots=True)
class News2Result:
    total: int
    band: RiskBand
    has_red_score: bool  # a single parameter scored 3 (Chart 3 "red score")
    risk_score: float  # total / 20, capped at 1.0 - not a probability
    spo2_scale: SpO2Scale
    oxygen_assumed: bool  # on_oxygen was missing and air was assumed
    sub_scores: tuple[SubScore, ...]  # in PARAMETERS order

    def sub_score(self, parameter: ParameterName) -> int:
        for sub in self.sub_scores:
            if sub.parameter == parameter:
                return sub.score
        raise KeyError(parameter)

    @property
    def severity(self) -> AlertSeverity | None:
        """``patient_alert.severity`` per §3.4 (``None``: total 0, no alert)."""
        return alert_severity(self.total, self.band)

    @property
    def explanation(self) -> str:
        subs = {s.parameter: s for s in self.sub_scores}
        points = ", ".join(f"{_LABEL[p]} {subs[p].score}" for p in PARAMETERS)
        values = ", ".join(_format_value(subs[p]) for p in PARAMETERS)
        parts = [
            f"NEWS2={self.total} ({points})",
            f"scale {self.spo2_scale}",
            f"{self.band} - {_BAND_RESPONSE[self.band]}",
            f"values: {values}",
        ]
        if self.oxygen_assumed:
            parts.append("oxygen status unknown - assumed air")
        parts.append("risk_score = NEWS2/20, a normalisation, not a probability")
        return "; ".join(parts)


_LABEL: Final[dict[ParameterName, str]] = {
    "respiratory_rate": "RR",
    "spo2": "SpO2",
    "on_oxygen": "O2",
    "systolic_bp": "SBP",
    "pulse": "HR",
    "consciousness": "ACVPU",
    "temperature": "T",
}


def _format_value(sub: SubScore) -> str:
    if sub.parameter == "on_oxygen":
        return "oxygen" if sub.value else "air"
    unit = {
        "respiratory_rate": "/min",
        "spo2": "%",
        "systolic_bp": " mmHg",
        "pulse": "/min",
        "temperature": " °C",
    }.get(sub.parameter, "")
    return f"{_LABEL[sub.parameter]} {sub.value}{unit}"


def _rounded(value: float, places: int, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be finite, got {value!r}")
    # repr gives the shortest decimal that round-trips, i.e. the value as it was recorded.
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _whole(value: float, name: str) -> int:
    n = int(_rounded(value, 0, name))
    if n < 0:
        raise InvalidParameterError(f"{name} must not be negative, got {value!r}")
    return n


def round_for_chart(parameter: ParameterName, value: float) -> float:
    """The value as Chart 1 bands it: temperature to 0.1, the other numbers to integers."""
    if parameter == "temperature":
        return float(_rounded(value, 1, parameter))
    return float(_whole(value, parameter))


def score_respiratory_rate(rate: float) -> int:
    r = _whole(rate, "respiratory_rate")
    if r <= 8:
        return 3
    if r <= 11:
        return 1
    if r <= 20:
        return 0
    if r <= 24:
        return 2
    return 3


def score_spo2(spo2: float, scale: SpO2Scale | None = 1, on_oxygen: bool = False) -> int:
    """SpO2 points on Scale 1 or 2. On Scale 2, 93 % and above only score on oxygen."""
    s = _whole(spo2, "spo2")
    if s > 100:
        raise InvalidParameterError(f"spo2 must be at most 100 %, got {spo2!r}")
    if scale is None or scale == 1:
        if s <= 91:
            return 3
        if s <= 93:
            return 2
        if s <= 95:
            return 1
        return 0
    if scale != 2:
        raise InvalidParameterError(f"spo2_scale must be 1 or 2, got {scale!r}")
    if s <= 83:
        return 3
    if s <= 85:
        return 2
    if s <= 87:
        return 1
    if s <= 92 or not on_oxygen:
        return 0
    if s <= 94:
        return 1
    if s <= 96:
        return 2
    return 3


def score_oxygen(on_oxygen: bool) -> int:
    """Supplemental oxygen scores 2 on both SpO2 scales."""
    return 2 if on_oxygen else 0


def score_systolic_bp(systolic: float) -> int:
    s = _whole(systolic, "systolic_bp")
    if s <= 90:
        return 3
    if s <= 100:
        return 2
    if s <= 110:
        return 1
    if s <= 219:
        return 0
    return 3


def score_pulse(pulse: float) -> int:
    p = _whole(pulse, "pulse")
    if p <= 40:
        return 3
    if p <= 50:
        return 1
    if p <= 90:
        return 0
    if p <= 110:
        return 1
    if p <= 130:
        return 2
    return 3


def score_consciousness(level: str) -> int:
    """ACVPU: alert 0; new confusion, voice, pain or unresponsive 3."""
    if level == "A":
        return 0
    if level in ("C", "V", "P", "U"):
        return 3
    raise InvalidParameterError(f"consciousness must be one of A, C, V, P, U; got {level!r}")


def score_temperature(celsius: float) -> int:
    tenths = int(_rounded(celsius, 1, "temperature").scaleb(1))
    if tenths <= 350:
        return 3
    if tenths <= 360:
        return 1
    if tenths <= 380:
        return 0
    if tenths <= 390:
        return 1
    return 2


def missing_parameters(params: News2Params) -> tuple[ParameterName, ...]:
    return tuple(p for p in REQUIRED_PARAMETERS if getattr(params, p) is None)


def is_complete(params: News2Params) -> bool:
    """Enough to score: all six measured parameters (air/oxygen may be missing -> air)."""
    return not missing_parameters(params)


def risk_band(total: int, has_red_score: bool) -> RiskBand:
    """Chart 3 with the §3.2 precedence: a total of 5 containing a 3 is medium."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if has_red_score:
        return "low-medium"
    return "low"


def band_rank(band: RiskBand) -> int:
    """Order of the bands, low 0 .. high 3, for "did the risk rise" comparisons."""
    return _BAND_RANK[band]


def alert_severity(total: int, band: RiskBand) -> AlertSeverity | None:
    """§3.4: 0 none, 1-4 info, low-medium and medium warning, high critical."""
    if band == "high":
        return "critical"
    if band in ("medium", "low-medium"):
        return "warning"
    return "info" if total > 0 else None


def compute_news2(params: News2Params) -> News2Result:
    """Score a complete set; raises ``IncompleteParametersError`` otherwise."""
    missing = missing_parameters(params)
    if missing:
        raise IncompleteParametersError(missing)
    # Narrowing for the type checker; missing_parameters has checked these.
    assert params.respiratory_rate is not None and params.spo2 is not None
    assert params.systolic_bp is not None and params.pulse is not None
    assert params.consciousness is not None and params.temperature is not None

    scale: SpO2Scale = 1 if params.spo2_scale is None else params.spo2_scale
    on_oxygen = bool(params.on_oxygen)
    subs = (
        SubScore(
            "respiratory_rate",
            int(round_for_chart("respiratory_rate", params.respiratory_rate)),
            score_respiratory_rate(params.respiratory_rate),
        ),
        SubScore(
            "spo2",
            int(round_for_chart("spo2", params.spo2)),
            score_spo2(params.spo2, scale, on_oxygen),
        ),
        SubScore("on_oxygen", on_oxygen, score_oxygen(on_oxygen)),
        SubScore(
            "systolic_bp",
            int(round_for_chart("systolic_bp", params.systolic_bp)),
            score_systolic_bp(params.systolic_bp),
        ),
        SubScore(
            "pulse",
            int(round_for_chart("pulse", params.pulse)),
            score_pulse(params.pulse),
        ),
        SubScore(
            "consciousness",
            params.consciousness,
            score_consciousness(params.consciousness),
        ),
        SubScore(
            "temperature",
            round_for_chart("temperature", params.temperature),
            score_temperature(params.temperature),
        ),
    )
    total = sum(s.score for s in subs)
    red = any(s.score == 3 for s in subs)
    return News2Result(
        total=total,
        band=risk_band(total, red),
        has_red_score=red,
        risk_score=min(total / MAX_TOTAL, 1.0),
        spo2_scale=scale,
        oxygen_assumed=params.on_oxygen is None,
        sub_scores=subs,
    )
