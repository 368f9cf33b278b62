"""NEWS2 scoring, vitals extraction and per-patient tracking (clinical-reference §2.1, §3).

Chart 1 bands: §3.1; Chart 3 bands and precedence: §3.2; hub mapping: §3.4; worked cases and
boundary checks: §3.5. Synthetic data only: patient ids and Observation ids are invented.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.observation import Observation as ObservationR5
from fhir.resources.R4B.observation import Observation as ObservationR4B
from hypothesis import given
from hypothesis import strategies as st

from plugins.news2.score import (
    IncompleteParametersError,
    InvalidParameterError,
    News2Params,
    ParameterName,
    alert_severity,
    compute_news2,
    is_complete,
    missing_parameters,
    risk_band,
    round_for_chart,
    score_consciousness,
    score_oxygen,
    score_pulse,
    score_respiratory_rate,
    score_spo2,
    score_systolic_bp,
    score_temperature,
)
from plugins.news2.tracker import News2Tracker
from plugins.news2.vitals import (
    LOINC,
    SNOMED,
    UCUM,
    MalformedObservationError,
    VitalReading,
    extract_vitals,
)

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
NORMAL = News2Params(
    respiratory_rate=16,
    spo2=97,
    on_oxygen=False,
    systolic_bp=120,
    pulse=70,
    consciousness="A",
    temperature=37.0,
)


def _fields(params: News2Params) -> dict[str, Any]:
    return asdict(params)


# --- Chart 1 (§3.1), every band edge on both sides; §3.5 "additional boundary checks" ----


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_chart1_respiration_rate(rate: int, expected: int) -> None:
    assert score_respiratory_rate(rate) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [(0, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_chart1_spo2_scale1_ignores_oxygen(spo2: int, expected: int, on_oxygen: bool) -> None:
    assert score_spo2(spo2, 1, on_oxygen) == expected


SCALE2_ON_AIR = [(0, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0)]
# >=93 on air scores 0 on Scale 2
SCALE2_ON_AIR += [(93, 0), (94, 0), (95, 0), (96, 0), (97, 0), (100, 0)]
SCALE2_ON_O2 = [(0, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0)]
SCALE2_ON_O2 += [(93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3)]


@pytest.mark.parametrize(("spo2", "expected"), SCALE2_ON_AIR)
def test_chart1_spo2_scale2_on_air(spo2: int, expected: int) -> None:
    assert score_spo2(spo2, 2, on_oxygen=False) == expected


@pytest.mark.parametrize(("spo2", "expected"), SCALE2_ON_O2)
def test_chart1_spo2_scale2_on_oxygen(spo2: int, expected: int) -> None:
    assert score_spo2(spo2, 2, on_oxygen=True) == expected


def test_chart1_air_or_oxygen() -> None:
    assert (score_oxygen(False), score_oxygen(True)) == (0, 2)


@pytest.mark.parametrize(
    ("systolic", "expected"),
    [(0, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_chart1_systolic_bp(systolic: int, expected: int) -> None:
    assert score_systolic_bp(systolic) == expected


@pytest.mark.parametrize(
    ("pulse", "expected"),
    [(0, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2)],
)
def test_chart1_pulse_low_and_middle(pulse: int, expected: int) -> None:
    assert score_pulse(pulse) == expected


@pytest.mark.parametrize(("pulse", "expected"), [(130, 2), (131, 3), (250, 3)])
def test_chart1_pulse_high(pulse: int, expected: int) -> None:
    assert score_pulse(pulse) == expected


@pytest.mark.parametrize(("level", "expected"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_chart1_consciousness_new_confusion_scores_like_vpu(level: str, expected: int) -> None:
    assert score_consciousness(level) == expected


@pytest.mark.parametrize(
    ("celsius", "expected"),
    [(30.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1)],
)
def test_chart1_temperature(celsius: float, expected: int) -> None:
    assert score_temperature(celsius) == expected


@pytest.mark.parametrize(("celsius", "expected"), [(39.1, 2), (42.0, 2)])
def test_chart1_temperature_top_band(celsius: float, expected: int) -> None:
    assert score_temperature(celsius) == expected


@pytest.mark.parametrize(
    ("celsius", "expected"),
    # §3.1 [DESIGN]: one decimal, half up, before banding.
    [(35.04, 3), (35.05, 1), (36.04, 1), (36.05, 0), (38.04, 0), (38.05, 1), (39.04, 1)],
)
def test_temperature_is_rounded_to_one_decimal_before_banding(
    celsius: float, expected: int
) -> None:
    assert score_temperature(celsius) == expected


@pytest.mark.parametrize(("celsius", "expected"), [(39.05, 2), (35, 3), (39, 1)])
def test_temperature_rounding_top_edge_and_integers(celsius: float, expected: int) -> None:
    assert score_temperature(celsius) == expected


@pytest.mark.parametrize(
    ("scorer", "value", "expected"),
    [
        (score_respiratory_rate, 8.4, 3),
        (score_respiratory_rate, 8.5, 1),
        (score_respiratory_rate, 20.49, 0),
        (score_respiratory_rate, 20.5, 2),
        (score_systolic_bp, 90.4, 3),
        (score_systolic_bp, 90.5, 2),
        (score_systolic_bp, 219.5, 3),
        (score_pulse, 90.5, 1),
        (score_pulse, 130.4, 2),
        (score_spo2, 95.5, 0),
        (score_spo2, 91.4, 3),
    ],
)
def test_other_numbers_are_rounded_to_integers_before_banding(
    scorer: Any, value: float, expected: int
) -> None:
    assert scorer(value) == expected


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: score_spo2(101), "at most 100"),
        (lambda: score_spo2(95, 3), "1 or 2"),  # type: ignore[arg-type]
        (lambda: score_respiratory_rate(-1), "negative"),
        (lambda: score_pulse(math.nan), "finite"),
        (lambda: score_temperature(math.inf), "finite"),
        (lambda: score_systolic_bp(True), "number"),
        (lambda: score_consciousness("confused"), "A, C, V, P, U"),
    ],
)
def test_values_the_chart_cannot_score_are_refused(call: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        call()


# --- Chart 3 (§3.2) and hub mapping (§3.4) -----------------------------------------------


@pytest.mark.parametrize(
    ("total", "red", "band"),
    [
        (0, False, "low"),
        (4, False, "low"),
        (5, False, "medium"),
        (6, False, "medium"),
        (7, False, "high"),
        (3, True, "low-medium"),
        (4, True, "low-medium"),
        (5, True, "medium"),  # §3.2: a total of 5 containing a 3 is medium
        (6, True, "medium"),
        (7, True, "high"),
        (20, True, "high"),
    ],
)
def test_chart3_band_precedence(total: int, red: bool, band: str) -> None:
    assert risk_band(total, red) == band


@pytest.mark.parametrize(
    ("changes", "total", "band"),
    [
        ({"respiratory_rate": 21, "pulse": 91, "temperature": 38.1}, 4, "low"),
        ({"respiratory_rate": 21, "pulse": 91, "systolic_bp": 110, "spo2": 95}, 5, "medium"),
        ({"respiratory_rate": 25, "pulse": 91}, 4, "low-medium"),
        ({"respiratory_rate": 25, "pulse": 91, "spo2": 95}, 5, "medium"),
        ({"respiratory_rate": 21, "pulse": 111, "systolic_bp": 101, "spo2": 95}, 6, "medium"),
        ({"respiratory_rate": 21, "pulse": 111, "systolic_bp": 100}, 6, "medium"),
        ({"respiratory_rate": 21, "pulse": 111, "systolic_bp": 100, "spo2": 95}, 7, "high"),
    ],
)
def test_chart3_boundaries_from_whole_sets(changes: dict[str, Any], total: int, band: str) -> None:
    result = compute_news2(News2Params(**{**_fields(NORMAL), **changes}))
    assert (result.total, result.band) == (total, band)


@pytest.mark.parametrize(
    ("total", "band", "severity"),
    [
        (0, "low", None),
        (1, "low", "info"),
        (4, "low", "info"),
        (3, "low-medium", "warning"),
        (5, "medium", "warning"),
        (7, "high", "critical"),
    ],
)
def test_hub_severity_mapping(total: int, band: Any, severity: str | None) -> None:
    assert alert_severity(total, band) == severity  # §3.4


def test_risk_score_is_total_over_20_and_explained_as_not_a_probability() -> None:
    result = compute_news2(News2Params(24, 93, 1, True, 95, 115, "V", 38.6))  # §3.5 "high"
    assert result.risk_score == pytest.approx(14 / 20)
    assert result.severity == "critical"
    assert result.explanation.startswith(
        "NEWS2=14 (RR 2, SpO2 2, O2 2, SBP 2, HR 2, ACVPU 3, T 1); scale 1; high"
    )
    assert "SpO2 93%" in result.explanation and "T 38.6 °C" in result.explanation
    assert "not a probability" in result.explanation


# --- §3.5 worked cases ---------------------------------------------------------------------

S2_REST: dict[str, Any] = {
    "systolic_bp": 130,
    "pulse": 80,
    "consciousness": "A",
    "temperature": 37.2,
}


@pytest.mark.parametrize(
    ("case", "params", "subs", "total", "band"),
    [
        ("all normal", NORMAL, (0, 0, 0, 0, 0, 0, 0), 0, "low"),
        (
            "lower 0-boundaries",
            News2Params(12, 96, 1, False, 111, 51, "A", 36.1),
            (0, 0, 0, 0, 0, 0, 0),
            0,
            "low",
        ),
        (
            "upper 0-boundaries",
            News2Params(20, 96, 1, False, 219, 90, "A", 38.0),
            (0, 0, 0, 0, 0, 0, 0),
            0,
            "low",
        ),
        (
            "single red RR=25",
            News2Params(25, 97, 1, False, 120, 70, "A", 37.0),
            (3, 0, 0, 0, 0, 0, 0),
            3,
            "low-medium",
        ),
        (
            "new confusion only",
            News2Params(16, 97, 1, False, 120, 70, "C", 37.0),
            (0, 0, 0, 0, 0, 3, 0),
            3,
            "low-medium",
        ),
        (
            "medium 5",
            News2Params(22, 94, 1, False, 105, 95, "A", 37.0),
            (2, 1, 0, 1, 1, 0, 0),
            5,
            "medium",
        ),
        (
            "high",
            News2Params(24, 93, 1, True, 95, 115, "V", 38.6),
            (2, 2, 2, 2, 2, 3, 1),
            14,
            "high",
        ),
        (
            "Scale 2 on air 89 %",
            News2Params(18, 89, 2, False, **S2_REST),
            (0, 0, 0, 0, 0, 0, 0),
            0,
            "low",
        ),
        (
            "Scale 2 on O2 97 %",
            News2Params(18, 97, 2, True, **S2_REST),
            (0, 3, 2, 0, 0, 0, 0),
            5,
            "medium",
        ),
        (
            "Scale 2 on O2 93 %",
            News2Params(18, 93, 2, True, **S2_REST),
            (0, 1, 2, 0, 0, 0, 0),
            3,
            "low",
        ),
        (
            "Scale 2 on air 95 %",
            News2Params(18, 95, 2, False, **S2_REST),
            (0, 0, 0, 0, 0, 0, 0),
            0,
            "low",
        ),
        (
            "Scale 1 on O2 96 %",
            News2Params(18, 96, 1, True, **S2_REST),
            (0, 0, 2, 0, 0, 0, 0),
            2,
            "low",
        ),
        (
            "T = 35.0",
            News2Params(18, 97, 1, False, 130, 80, "A", 35.0),
            (0, 0, 0, 0, 0, 0, 3),
            3,
            "low-medium",
        ),
        (
            "maximum",
            News2Params(30, 80, 1, True, 80, 140, "U", 34.0),
            (3, 3, 2, 3, 3, 3, 3),
            20,
            "high",
        ),
    ],
)
def test_section_3_5_worked_cases(
    case: str, params: News2Params, subs: tuple[int, ...], total: int, band: str
) -> None:
    result = compute_news2(params)
    assert tuple(s.score for s in result.sub_scores) == subs, case
    assert (result.total, result.band) == (total, band), case
    assert result.has_red_score == (3 in subs)
    assert result.risk_score == total / 20


def test_completeness_needs_six_measured_parameters_and_assumes_air() -> None:
    # §2.1 [DESIGN]: oxygen status may be missing -> air, flagged in the explanation.
    no_o2 = News2Params(**{**_fields(NORMAL), "on_oxygen": None})
    assert is_complete(no_o2)
    result = compute_news2(no_o2)
    assert result.oxygen_assumed and result.sub_score("on_oxygen") == 0
    assert "oxygen status unknown - assumed air" in result.explanation
    assert not compute_news2(NORMAL).oxygen_assumed

    partial = News2Params(**{**_fields(NORMAL), "temperature": None, "spo2": None})
    assert not is_complete(partial)
    assert missing_parameters(partial) == ("spo2", "temperature")
    with pytest.raises(IncompleteParametersError, match="spo2, temperature") as err:
        compute_news2(partial)
    assert err.value.missing == ("spo2", "temperature")


def test_scale_defaults_to_1() -> None:
    params = News2Params(**{**_fields(NORMAL), "spo2": 89, "spo2_scale": None})
    result = compute_news2(params)
    assert (result.spo2_scale, result.sub_score("spo2")) == (1, 3)


# --- property tests ------------------------------------------------------------------------

complete_params = st.builds(
    News2Params,
    respiratory_rate=st.integers(0, 70) | st.floats(0, 70),
    spo2=st.integers(50, 100),
    spo2_scale=st.sampled_from([1, 2, None]),
    on_oxygen=st.sampled_from([True, False, None]),
    systolic_bp=st.integers(40, 300) | st.floats(40, 300),
    pulse=st.integers(20, 250),
    consciousness=st.sampled_from(["A", "C", "V", "P", "U"]),
    temperature=st.floats(25, 45).map(lambda t: round(t, 2)),
)


@given(complete_params)
def test_total_is_the_sum_of_sub_scores_and_risk_score_in_unit_interval(
    params: News2Params,
) -> None:
    result = compute_news2(params)
    assert result.total == sum(s.score for s in result.sub_scores)
    assert 0 <= result.total <= 20
    assert 0.0 <= result.risk_score <= 1.0
    assert result.has_red_score == any(s.score == 3 for s in result.sub_scores)
    assert result.band == risk_band(result.total, result.has_red_score)


@given(complete_params)
def test_supplemental_oxygen_never_lowers_the_total(params: News2Params) -> None:
    on_air = compute_news2(News2Params(**{**_fields(params), "on_oxygen": False}))
    on_o2 = compute_news2(News2Params(**{**_fields(params), "on_oxygen": True}))
    assert on_o2.total >= on_air.total + 2


# (scorer, lowest value scoring 0, highest value scoring 0, domain)
MONOTONE = [
    (score_respiratory_rate, 12, 20, (0, 80)),
    (score_systolic_bp, 111, 219, (0, 320)),
    (score_pulse, 51, 90, (0, 300)),
    (score_temperature, 36.1, 38.0, (20, 45)),
    (lambda s: score_spo2(s, 2, True), 88, 92, (0, 100)),
]


@pytest.mark.parametrize(("scorer", "low0", "high0", "domain"), MONOTONE)
@given(data=st.data())
def test_sub_score_grows_with_distance_from_normal(
    scorer: Any, low0: float, high0: float, domain: tuple[float, float], data: st.DataObject
) -> None:
    a, b = sorted(data.draw(st.lists(st.floats(*domain), min_size=2, max_size=2)))
    if a >= low0:
        assert scorer(a) <= scorer(b)
    if b <= high0:
        assert scorer(a) >= scorer(b)
    if low0 <= a <= b <= high0:
        assert scorer(a) == scorer(b) == 0


@pytest.mark.parametrize(
    "scorer", [lambda s: score_spo2(s, 1, False), lambda s: score_spo2(s, 2, False)]
)
@given(data=st.data())
def test_spo2_on_air_never_scores_more_for_a_higher_saturation(
    scorer: Any, data: st.DataObject
) -> None:
    a, b = sorted(data.draw(st.lists(st.floats(0, 100), min_size=2, max_size=2)))
    assert scorer(a) >= scorer(b)


@given(st.floats(20, 45))
def test_scoring_a_value_equals_scoring_its_chart_rounding(celsius: float) -> None:
    assert score_temperature(celsius) == score_temperature(round_for_chart("temperature", celsius))


# --- vitals from FHIR Observation JSON (§2.1) ----------------------------------------------

VITAL_SIGNS = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs",
                "display": "Vital Signs",
            }
        ]
    }
]


def observation(code: str, system: str = LOINC, **extra: Any) -> dict[str, Any]:
    """A vital-signs Observation as R4 and R5 both spell it (validated by the caller)."""
    return {
        "resourceType": "Observation",
        "id": f"obs-{code}",
        "status": "final",
        "category": VITAL_SIGNS,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/synthetic-1"},
        "effectiveDateTime": "2026-03-10T08:15:00+00:00",
        **extra,
    }


def qty(value: float, code: str, unit: str | None = None) -> dict[str, Any]:
    return {"value": value, "unit": unit or code, "system": UCUM, "code": code}


def valid_r4(obs: dict[str, Any]) -> dict[str, Any]:
    # R4B's Observation is R4's; fhir.resources ships no separate R4 package.
    ObservationR4B.model_validate(obs)
    return obs


def valid_r5(obs: dict[str, Any]) -> dict[str, Any]:
    ObservationR5.model_validate(obs)
    return obs


def test_r4_heart_rate_single_value() -> None:
    obs = valid_r4(
        observation("8867-4", valueQuantity=qty(72, "/min", "beats/minute"), id="hr-r4-1")
    )
    vitals = extract_vitals(obs)
    assert vitals is not None
    assert (vitals.observation_id, vitals.subject, vitals.status) == (
        "hr-r4-1",
        "Patient/synthetic-1",
        "final",
    )
    assert vitals.usable and not vitals.retracted
    assert vitals.readings == (
        VitalReading("pulse", 72.0, datetime(2026, 3, 10, 8, 15, tzinfo=UTC), "hr-r4-1", "8867-4"),
    )


def test_r5_respiratory_rate_with_ucum_annotation() -> None:
    obs = valid_r5(
        observation(
            "9279-1",
            valueQuantity=qty(18, "{breaths}/min", "breaths/minute"),
            effectiveDateTime="2026-03-10T09:15:00.123456+01:00",
        )
    )
    vitals = extract_vitals(obs)
    assert vitals is not None
    (reading,) = vitals.readings
    assert (reading.parameter, reading.value) == ("respiratory_rate", 18.0)
    assert reading.effective == datetime(2026, 3, 10, 8, 15, 0, 123456, tzinfo=UTC)


def test_sub_microsecond_fractions_are_truncated() -> None:
    obs = observation(
        "9279-1",
        valueQuantity=qty(18, "/min"),
        effectiveDateTime="2026-03-10T08:15:00.123456789Z",
    )
    vitals = extract_vitals(obs)
    assert vitals is not None
    assert vitals.effective == datetime(2026, 3, 10, 8, 15, 0, 123456, tzinfo=UTC)


def test_r5_pulse_oximetry_with_oxygen_flow_component() -> None:
    # US Core / US Vitals shape: 2708-6 and 59408-5 together, flow rate as a component.
    obs = observation("2708-6", valueQuantity=qty(94, "%"))
    obs["code"]["coding"].append({"system": LOINC, "code": "59408-5"})
    obs["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": "3151-8"}]},
            "valueQuantity": qty(2, "L/min"),
        },
        {
            "code": {"coding": [{"system": LOINC, "code": "3150-0"}]},
            "dataAbsentReason": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                        "code": "not-performed",
                    }
                ]
            },
        },
    ]
    vitals = extract_vitals(valid_r5(obs))
    assert vitals is not None
    assert [(r.parameter, r.value, r.code) for r in vitals.readings] == [
        ("spo2", 94.0, "2708-6"),
        ("on_oxygen", True, "3151-8"),
    ]


@pytest.mark.parametrize(
    ("code", "value", "on_oxygen"),
    [
        ("3151-8", qty(0, "L/min"), False),
        ("3150-0", qty(21, "%"), False),
        ("3150-0", qty(40, "%"), True),
        ("3151-8", qty(0.5, "L/min"), True),
    ],
)
def test_air_or_oxygen_from_flow_and_fio2(
    code: str, value: dict[str, Any], on_oxygen: bool
) -> None:
    vitals = extract_vitals(valid_r4(observation(code, valueQuantity=value)))
    assert vitals is not None
    assert [(r.parameter, r.value) for r in vitals.readings] == [("on_oxygen", on_oxygen)]


def test_r4_blood_pressure_panel_reads_the_systolic_component() -> None:
    obs = observation("85354-9", id="bp-r4-1")
    obs["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "valueQuantity": qty(118, "mm[Hg]", "mmHg"),
        },
        {
            "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
            "valueQuantity": qty(76, "mm[Hg]", "mmHg"),
        },
    ]
    vitals = extract_vitals(valid_r4(obs))
    assert vitals is not None
    assert vitals.parameters == ("systolic_bp",)
    assert [(r.parameter, r.value, r.observation_id) for r in vitals.readings] == [
        ("systolic_bp", 118.0, "bp-r4-1")
    ]


def test_vital_signs_panel_with_components_gives_several_parameters() -> None:
    obs = observation("85353-1")
    obs["component"] = [
        {"code": {"coding": [{"system": LOINC, "code": c}]}, "valueQuantity": q}
        for c, q in [
            ("9279-1", qty(22, "/min")),
            ("8867-4", qty(95, "/min")),
            ("8310-5", qty(37.0, "Cel")),
        ]
    ]
    vitals = extract_vitals(valid_r5(obs))
    assert vitals is not None
    assert {r.parameter: r.value for r in vitals.readings} == {
        "respiratory_rate": 22.0,
        "pulse": 95.0,
        "temperature": 37.0,
    }


def test_panels_without_readable_components_yield_nothing() -> None:
    obs = observation("85353-1", hasMember=[{"reference": "Observation/hr-r4-1"}])
    assert extract_vitals(valid_r4(obs)) is None
    assert extract_vitals(valid_r4(observation("85354-9"))) is None


@pytest.mark.parametrize(
    ("quantity", "celsius", "points"),
    [
        (qty(100.4, "[degF]", "°F"), 38.0, 0),
        (qty(102.2, "[degF]", "°F"), 39.0, 1),
        (qty(95.0, "[degF]", "°F"), 35.0, 3),
        (qty(37.3, "Cel", "°C"), 37.3, 0),
        ({"value": 101.0, "unit": "°F"}, 38.333333, 1),  # display text only
    ],
)
def test_temperature_in_fahrenheit_is_converted(
    quantity: dict[str, Any], celsius: float, points: int
) -> None:
    vitals = extract_vitals(valid_r5(observation("8310-5", valueQuantity=quantity)))
    assert vitals is not None
    (reading,) = vitals.readings
    assert isinstance(reading.value, float)
    assert reading.value == pytest.approx(celsius, abs=1e-6)
    assert score_temperature(reading.value) == points


@pytest.mark.parametrize(
    "obs",
    [
        observation("2339-0", valueQuantity=qty(5.4, "mmol/L")),  # glucose
        observation("8867-4", system="http://example.org/local", valueQuantity=qty(72, "/min")),
        {**observation("8867-4", valueQuantity=qty(72, "/min")), "resourceType": "Condition"},
    ],
    ids=["unknown-loinc", "loinc-code-under-another-system", "not-an-observation"],
)
def test_unknown_codes_are_ignored(obs: dict[str, Any]) -> None:
    assert extract_vitals(obs) is None


def test_bad_unit_names_the_element() -> None:
    obs = valid_r4(observation("8310-5", valueQuantity={"value": 150, "unit": "[lb_av]"}))
    with pytest.raises(
        MalformedObservationError,
        match=r"^Observation.valueQuantity.unit '\[lb_av\]' is not a temperature unit$",
    ):
        extract_vitals(obs)


@pytest.mark.parametrize(
    ("obs", "message"),
    [
        (
            observation("8310-5", valueQuantity=qty(310, "K")),
            r"Observation.valueQuantity.code 'K' is not a temperature unit",
        ),
        (
            observation("2708-6", valueQuantity=qty(0.94, "1")),
            r"Observation.valueQuantity.code '1' is not an oxygen saturation unit",
        ),
        (
            observation("8867-4", valueQuantity={"value": 72}),
            r"Observation.valueQuantity has no unit",
        ),
        (
            observation("8867-4", valueQuantity={**qty(72, "/min"), "value": "72"}),
            r"Observation.valueQuantity.value '72' is not a number",
        ),
        (
            observation("2708-6", valueQuantity={**qty(85, "%"), "comparator": "<"}),
            r"Observation.valueQuantity.comparator '<'",
        ),
        (
            observation("8867-4", valueString="72"),
            r"Observation.valueString is not a Quantity",
        ),
        (
            observation("3150-0", valueQuantity=qty(0.4, "%")),
            r"outside 21-100 %",
        ),
        (
            observation("8867-4", valueQuantity=qty(72, "/min"), effectiveDateTime="2026-03-10"),
            r"Observation.effectiveDateTime '2026-03-10' has no time of day",
        ),
        (
            observation(
                "8867-4", valueQuantity=qty(72, "/min"), effectiveDateTime="2026-03-10T08:15:00"
            ),
            r"not a FHIR dateTime with a time zone",
        ),
        (
            {**observation("8867-4", valueQuantity=qty(72, "/min")), "status": None},
            r"Observation.status None",
        ),
    ],
)
def test_malformed_values_raise_naming_the_element(obs: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedObservationError, match=message):
        extract_vitals(obs)


def test_component_errors_name_the_component() -> None:
    obs = observation("85354-9")
    obs["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "valueQuantity": qty(16, "kPa"),
        }
    ]
    with pytest.raises(
        MalformedObservationError,
        match=r"Observation.component\[0\].valueQuantity.code 'kPa' is not a blood pressure",
    ):
        extract_vitals(obs)


def test_effective_time_falls_back_to_period_start_then_issued() -> None:
    base = observation("8867-4", valueQuantity=qty(72, "/min"))
    del base["effectiveDateTime"]
    period = {**base, "effectivePeriod": {"start": "2026-03-10T07:00:00Z"}}
    issued = {**base, "issued": "2026-03-10T07:30:00.000Z"}
    for obs, minute in [(period, 0), (issued, 30)]:
        vitals = extract_vitals(valid_r4(obs))
        assert vitals is not None
        assert vitals.effective == datetime(2026, 3, 10, 7, minute, tzinfo=UTC)
        assert vitals.readings[0].effective == vitals.effective
    with pytest.raises(MalformedObservationError, match="no effectiveDateTime"):
        extract_vitals(base)


def test_effective_instant_r5() -> None:
    obs = observation("8867-4", valueQuantity=qty(72, "/min"))
    del obs["effectiveDateTime"]
    obs["effectiveInstant"] = "2026-03-10T08:15:00Z"
    vitals = extract_vitals(valid_r5(obs))
    assert vitals is not None and vitals.effective == T0 + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("answer", "level"),
    [
        ({"coding": [{"system": SNOMED, "code": "248234008"}]}, "A"),
        ({"coding": [{"system": SNOMED, "code": "300202002"}]}, "V"),
        ({"coding": [{"system": SNOMED, "code": "255373000"}]}, "V"),
        ({"coding": [{"system": SNOMED, "code": "450847001"}]}, "P"),
        ({"coding": [{"system": SNOMED, "code": "422768004"}]}, "U"),
        ({"coding": [{"system": LOINC, "code": "LA9340-6"}]}, "A"),
        ({"coding": [{"system": LOINC, "code": "LA17108-4"}]}, "V"),
        ({"coding": [{"system": LOINC, "code": "LA17107-6"}]}, "P"),
        ({"coding": [{"system": LOINC, "code": "LA9343-0"}]}, "U"),
        ({"coding": [{"system": "http://example.org/acvpu", "code": "C"}]}, "C"),
        ({"text": "New confusion"}, "C"),
    ],
)
def test_acvpu_answers(answer: dict[str, Any], level: str) -> None:
    uk = observation("1104441000000107", system=SNOMED, valueCodeableConcept=answer)
    loinc = observation("67775-7", valueCodeableConcept=answer)
    for obs in (valid_r4(uk), valid_r5(loinc)):
        vitals = extract_vitals(obs)
        assert vitals is not None
        assert [(r.parameter, r.value) for r in vitals.readings] == [("consciousness", level)]


def test_unknown_acvpu_answer_is_an_error() -> None:
    obs = observation(
        "67775-7", valueCodeableConcept={"coding": [{"system": SNOMED, "code": "1234"}]}
    )
    with pytest.raises(MalformedObservationError, match="valueCodeableConcept has no recognised"):
        extract_vitals(obs)


@pytest.mark.parametrize(
    ("status", "usable", "retracted"),
    [
        ("final", True, False),
        ("amended", True, False),
        ("corrected", True, False),
        ("preliminary", True, False),
        ("registered", False, False),
        ("unknown", False, False),
        ("entered-in-error", False, True),
        ("cancelled", False, True),
    ],
)
def test_status_decides_whether_values_count(status: str, usable: bool, retracted: bool) -> None:
    obs = observation("8867-4", valueQuantity=qty(72, "/min"), status=status)
    vitals = extract_vitals(valid_r4(obs))
    assert vitals is not None
    assert (vitals.usable, vitals.retracted, bool(vitals.readings)) == (usable, retracted, usable)
    assert vitals.parameters == ("pulse",)


def test_preliminary_can_be_switched_off() -> None:
    obs = observation("8867-4", valueQuantity=qty(72, "/min"), status="preliminary")
    vitals = extract_vitals(obs, accept_preliminary=False)
    assert vitals is not None and not vitals.usable and vitals.readings == ()


def test_retraction_is_exposed_even_when_its_value_is_garbled() -> None:
    obs = observation(
        "8310-5", valueQuantity={"value": "n/a", "unit": "?"}, status="entered-in-error"
    )
    vitals = extract_vitals(obs)
    assert vitals is not None and vitals.retracted and vitals.observation_id == "obs-8310-5"


def test_data_absent_reason_is_a_missing_parameter_not_an_error() -> None:
    obs = observation(
        "8867-4",
        dataAbsentReason={
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "unknown",
                }
            ]
        },
    )
    vitals = extract_vitals(valid_r5(obs))
    assert vitals is not None and vitals.readings == () and vitals.parameters == ("pulse",)


# --- tracker -------------------------------------------------------------------------------

PATIENT = "synthetic-patient-1"
NORMAL_VALUES: dict[ParameterName, float | bool | str] = {
    "respiratory_rate": 16,
    "spo2": 97,
    "on_oxygen": False,
    "systolic_bp": 120,
    "pulse": 70,
    "consciousness": "A",
    "temperature": 37.0,
}


def reading(
    parameter: ParameterName, value: float | bool | str, at: datetime, obs: str | None = None
) -> VitalReading:
    return VitalReading(parameter, value, at, obs or f"obs-{parameter}-{value}-{at:%H%M}", "")


def full_set(at: datetime, **changes: Any) -> list[VitalReading]:
    assert set(changes) <= set(NORMAL_VALUES), changes
    return [reading(p, changes.get(p, v), at) for p, v in NORMAL_VALUES.items()]


def test_tracker_scores_only_a_complete_set() -> None:
    tracker = News2Tracker()
    partial = [r for r in full_set(T0) if r.parameter not in ("temperature", "on_oxygen")]
    assert tracker.update(PATIENT, partial, T0) is None
    assert tracker.current(PATIENT) is None
    change = tracker.update(PATIENT, [reading("temperature", 37.0, T0)], T0)
    assert change is not None and change.result is not None
    assert change.result.total == 0 and change.result.oxygen_assumed
    assert change.reason == "update" and change.previous is None and change.crossing is None
    assert len(change.observation_ids) == 6 and change.effective == T0


def test_tracker_recomputes_only_when_a_value_changes() -> None:
    tracker = News2Tracker()
    assert tracker.update(PATIENT, full_set(T0), T0) is not None
    later = T0 + timedelta(minutes=5)
    assert tracker.update(PATIENT, [reading("pulse", 70, later)], later) is None
    change = tracker.update(PATIENT, [reading("pulse", 95, later)], later)
    assert change is not None and change.result is not None and change.result.total == 1
    assert change.previous is not None and change.previous.total == 0


def test_tracker_drops_stale_readings() -> None:
    tracker = News2Tracker(freshness=timedelta(hours=1))
    # arrives already stale: never stored
    assert tracker.update(PATIENT, full_set(T0 - timedelta(hours=2)), T0) is None
    assert tracker.update(PATIENT, full_set(T0), T0) is not None
    # exactly at the window edge the T0 readings are still fresh
    edge = T0 + timedelta(hours=1)
    change = tracker.update(PATIENT, [reading("pulse", 95, edge)], edge)
    assert change is not None and change.result is not None and change.result.total == 1
    # a moment later only the pulse is fresh: incomplete, no score, the last result stands
    later = edge + timedelta(microseconds=1)
    assert tracker.update(PATIENT, [reading("pulse", 120, later)], later) is None
    last = tracker.current(PATIENT)
    assert last is not None and last.total == 1


def test_tracker_crossing_fires_once_per_rise() -> None:
    tracker = News2Tracker()
    to_medium = {"respiratory_rate": 22, "spo2": 94, "systolic_bp": 105, "pulse": 95}
    steps: list[tuple[dict[str, Any], str, str | None]] = [
        ({}, "low", None),
        ({"respiratory_rate": 25}, "low-medium", None),  # red score: no medium/high crossing
        (to_medium, "medium", "medium"),
        ({"pulse": 100}, "medium", None),  # still medium: no second alert
        ({"temperature": 38.5, "pulse": 115}, "high", "high"),
        ({"temperature": 38.6}, "high", None),
        ({"temperature": 37.0, "pulse": 95}, "medium", None),  # falling never alerts
        ({"temperature": 38.5, "pulse": 115}, "high", "high"),  # re-rise alerts again
        ({"respiratory_rate": 16, "spo2": 97, "systolic_bp": 120, "pulse": 70}, "low", None),
        (to_medium, "medium", "medium"),
    ]
    values: dict[str, Any] = {}
    for i, (changes, band, crossing) in enumerate(steps):
        at = T0 + timedelta(minutes=10 * i)
        values.update(changes)
        change = tracker.update(PATIENT, full_set(at, **values), at)
        assert change is not None and change.result is not None, i
        assert (change.result.band, change.crossing) == (band, crossing), i


def test_first_score_in_high_band_alerts() -> None:
    tracker = News2Tracker()
    change = tracker.update(
        PATIENT, full_set(T0, consciousness="U", pulse=135, respiratory_rate=25), T0
    )
    assert change is not None and change.crossing == "high"


def test_retraction_restores_the_previous_reading() -> None:
    tracker = News2Tracker()
    tracker.update(PATIENT, full_set(T0), T0)
    later = T0 + timedelta(minutes=5)
    wrong = reading("spo2", 85, later, obs="spo2-typo")
    change = tracker.update(PATIENT, [wrong], later)
    assert change is not None and change.result is not None and change.result.total == 3
    retracted = tracker.retract(PATIENT, "spo2-typo", later)
    assert retracted is not None and retracted.reason == "retraction"
    assert retracted.result is not None and retracted.result.total == 0
    assert "spo2-typo" not in retracted.observation_ids
    assert tracker.retract(PATIENT, "spo2-typo", later) is None  # idempotent
    assert tracker.retract("nobody", "spo2-typo", later) is None


def test_retraction_falls_back_or_withdraws_the_score_and_rearms_the_alert() -> None:
    tracker = News2Tracker()
    first = tracker.update(PATIENT, full_set(T0, respiratory_rate=22, spo2=94, pulse=95), T0)
    assert first is not None and first.crossing is None  # total 4, low
    later = T0 + timedelta(minutes=5)
    rise = tracker.update(PATIENT, [reading("systolic_bp", 100, later, obs="bp-9")], later)
    assert rise is not None and rise.crossing == "medium"
    # the T0 systolic reading is still in history: it comes back
    restored = tracker.retract(PATIENT, "bp-9", later)
    assert restored is not None and restored.result is not None
    assert restored.result.band == "low"

    tracker = News2Tracker()
    only = full_set(T0, respiratory_rate=22, spo2=94, pulse=95, systolic_bp=100)
    tracker.update(PATIENT, only, T0)
    bp_id = next(r.observation_id for r in only if r.parameter == "systolic_bp")
    assert bp_id is not None
    gone = tracker.retract(PATIENT, bp_id, T0)
    assert gone is not None and gone.result is None
    assert gone.previous is not None and gone.previous.band == "medium"
    assert tracker.current(PATIENT) is None
    again = tracker.update(PATIENT, [reading("systolic_bp", 100, later)], later)
    assert again is not None and again.crossing == "medium"


def test_out_of_order_reading_does_not_overwrite_a_newer_one() -> None:
    tracker = News2Tracker()
    tracker.update(PATIENT, full_set(T0, pulse=120), T0)
    late_arrival = reading("pulse", 70, T0 - timedelta(minutes=30), obs="hr-old")
    assert tracker.update(PATIENT, [late_arrival], T0 + timedelta(minutes=1)) is None
    current = tracker.current(PATIENT)
    assert current is not None and current.sub_score("pulse") == 2
    # equal time: the later arrival wins (a correction sent with the original time)
    change = tracker.update(PATIENT, [reading("pulse", 95, T0, obs="hr-fix")], T0)
    assert change is not None and change.result is not None
    assert change.result.sub_score("pulse") == 1


def test_new_version_of_the_same_observation_replaces_its_reading() -> None:
    tracker = News2Tracker()
    tracker.update(PATIENT, full_set(T0), T0)
    first = reading("pulse", 135, T0 + timedelta(minutes=5), obs="hr-7")
    tracker.update(PATIENT, [first], T0 + timedelta(minutes=5))
    # corrected with an earlier effective time: still replaces its own earlier version
    fixed = reading("pulse", 72, T0 + timedelta(minutes=4), obs="hr-7")
    change = tracker.update(PATIENT, [fixed], T0 + timedelta(minutes=6))
    assert change is not None and change.result is not None and change.result.total == 0


def test_spo2_scale_is_a_per_patient_setting() -> None:
    tracker = News2Tracker()
    hypercapnic = full_set(T0, spo2=89)
    change = tracker.update(PATIENT, hypercapnic, T0)
    assert change is not None and change.result is not None
    assert change.result.sub_score("spo2") == 3 and change.result.spo2_scale == 1
    rescored = tracker.set_spo2_scale(PATIENT, 2, now=T0)
    assert rescored is not None and rescored.reason == "scale"
    assert rescored.result is not None and rescored.result.total == 0
    assert rescored.result.spo2_scale == 2 and tracker.spo2_scale(PATIENT) == 2
    # another patient keeps Scale 1
    other = tracker.update("synthetic-patient-2", hypercapnic, T0)
    assert other is not None and other.result is not None and other.result.spo2_scale == 1
    # without `now` the setting waits for the next update
    assert tracker.set_spo2_scale("synthetic-patient-2", 2) is None
    later = T0 + timedelta(minutes=1)
    nxt = tracker.update("synthetic-patient-2", [reading("pulse", 71, later)], later)
    assert nxt is not None and nxt.result is not None and nxt.result.sub_score("spo2") == 0
    with pytest.raises(ValueError, match="1 or 2"):
        tracker.set_spo2_scale(PATIENT, 3)  # type: ignore[arg-type]


def test_patients_are_capped_least_recently_used_first() -> None:
    tracker = News2Tracker(max_patients=2)
    for pid in ("p-a", "p-b"):
        tracker.update(pid, full_set(T0), T0)
    tracker.update("p-a", [reading("pulse", 72, T0)], T0)  # p-a is now the most recent
    tracker.update("p-c", full_set(T0), T0)
    assert len(tracker) == 2 and "p-a" in tracker and "p-c" in tracker and "p-b" not in tracker


def test_tracker_refuses_naive_times_and_unscorable_values() -> None:
    tracker = News2Tracker()
    with pytest.raises(ValueError, match="time zone"):
        tracker.update(PATIENT, full_set(T0), datetime(2026, 3, 10, 8, 0))
    with pytest.raises(InvalidParameterError):
        tracker.update(PATIENT, [reading("temperature", math.nan, T0)], T0)
    with pytest.raises(InvalidParameterError):
        tracker.update(PATIENT, [reading("consciousness", "confused", T0)], T0)
    assert PATIENT not in tracker


def test_fhir_observations_end_to_end() -> None:
    """§3.5 "medium 5" from R4 Observation JSON through extraction into the tracker."""
    at = "2026-03-10T08:15:00Z"
    bp = observation("85354-9", id="e2e-bp", effectiveDateTime=at)
    bp["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "valueQuantity": qty(105, "mm[Hg]"),
        }
    ]
    resources = [
        observation("9279-1", valueQuantity=qty(22, "/min"), effectiveDateTime=at),
        observation("2708-6", valueQuantity=qty(94, "%"), effectiveDateTime=at),
        observation("3151-8", valueQuantity=qty(0, "L/min"), effectiveDateTime=at),
        bp,
        observation("8867-4", valueQuantity=qty(95, "/min"), effectiveDateTime=at),
        observation(
            "67775-7",
            valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA9340-6"}]},
            effectiveDateTime=at,
        ),
        observation("8310-5", valueQuantity=qty(98.6, "[degF]"), effectiveDateTime=at),
    ]
    tracker = News2Tracker()
    now = T0 + timedelta(minutes=20)
    changes = []
    for resource in resources:
        vitals = extract_vitals(valid_r4(resource))
        assert vitals is not None
        changes.append(tracker.update(PATIENT, vitals.readings, now))
    assert changes[:-1] == [None] * 6
    last = changes[-1]
    assert last is not None and last.result is not None and last.crossing == "medium"
    assert tuple(s.score for s in last.result.sub_scores) == (2, 1, 0, 1, 1, 0, 0)
    assert not last.result.oxygen_assumed
    # the BP panel entered in error: its id retracts the systolic reading, score withdrawn
    retraction = extract_vitals({**bp, "status": "entered-in-error"})
    assert retraction is not None and retraction.retracted
    assert retraction.observation_id is not None
    gone = tracker.retract(PATIENT, retraction.observation_id, now)
    assert gone is not None and gone.result is None
