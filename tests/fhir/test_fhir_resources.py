"""The fhir_resources plugin: RiskAssessment, Location, Encounter, Flag, PractitionerRole and
Slot to hub events (clinical-reference §2.2-§2.7, §5.2, §6). Synthetic resources only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import plugins.fhir_resources as fr
from adapters.fhir.notification import Delivery, Entry
from adapters.fhir.receiver import FhirDelivery, FhirEntry
from hub.events import EventDraft
from hub.inputs import InboundMessage, RejectMessage
from plugins.fhir_resources import staff
from plugins.fhir_resources.common import SKIPPED
from tests.conftest import HubProcess, token, uid
from tests.fhir.test_receiver import post
from tests.test_socketio import Listener

NOW = datetime(2026, 3, 11, 10, 30, tzinfo=UTC)  # a Wednesday
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
V2_0116 = "http://terminology.hl7.org/CodeSystem/v2-0116"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
SUBJECT_STATUS = "http://terminology.hl7.org/CodeSystem/encounter-subject-status"
RISK_PROB = "http://terminology.hl7.org/CodeSystem/risk-probability"
FLAG_CAT = "http://terminology.hl7.org/CodeSystem/flag-category"
ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
BASE_SETTINGS: dict[str, Any] = {"hospital_by_organization": {"org-h1": "H1"}}


# --- harness -------------------------------------------------------------------------------


class FakeCensus:
    def __init__(self, hospitals: dict[str, set[str]]) -> None:
        self.hospitals = hospitals

    def patient_hospitals(self, patient_id: str) -> frozenset[str]:
        return frozenset(self.hospitals.get(patient_id, set()))

    def patient_hospital(self, patient_id: str) -> str | None:
        hospitals = self.patient_hospitals(patient_id)
        return next(iter(hospitals)) if len(hospitals) == 1 else None


class FakeHub:
    """What ``configure`` reads: the plugin's settings table and the census."""

    def __init__(self, settings: dict[str, Any], census: dict[str, set[str]] | None = None):
        self.settings = settings
        self.census = FakeCensus(census or {})

    def plugin_settings(self, name: str) -> dict[str, Any]:
        return dict(self.settings) if name == "fhir_resources" else {}


def configure(settings: dict[str, Any] | None = None, **census: set[str]) -> None:
    fr.configure(FakeHub({**BASE_SETTINGS, **(settings or {})}, census))  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(fr, "clock", lambda: NOW)
    SKIPPED.clear()
    configure()
    yield
    fr.configure(FakeHub({}))  # type: ignore[arg-type]


def fhir_entry(resource: dict[str, Any], patient: str | None = None) -> FhirEntry:
    rid = resource.get("id")
    ref = f"{resource['resourceType']}/{rid}" if rid else None
    meta = resource.get("meta")
    vid = meta.get("versionId") if isinstance(meta, dict) else None
    if patient is None:
        for element in ("subject", "patient"):
            target = resource.get(element)
            about = target.get("reference") if isinstance(target, dict) else None
            if isinstance(about, str) and about.startswith("Patient/"):
                patient = about.split("/", 1)[1]
    return FhirEntry(
        resource=resource,
        model=None,
        resource_type=resource["resourceType"],
        reference=ref,
        version_key=f"{ref}/_history/{vid}" if ref and vid else None,
        patient_id=patient,
    )


def message(*resources: dict[str, Any], source: str = "default") -> InboundMessage:
    raw = [
        Entry(
            index=i,
            resource=r,
            full_url=f"https://fhir.example.test/fhir/{r['resourceType']}/{r.get('id')}",
        )
        for i, r in enumerate(resources)
    ]
    delivery = Delivery(form="bundle", version=None, entries=raw)
    body = FhirDelivery(source, delivery, [fhir_entry(r) for r in resources])
    return InboundMessage(kind="fhir", source=f"fhir:{source}", body=body)


def run(*resources: dict[str, Any], source: str = "default") -> list[EventDraft]:
    return list(fr.normalize(message(*resources, source=source)) or [])


def one(*resources: dict[str, Any], source: str = "default") -> dict[str, Any]:
    drafts = run(*resources, source=source)
    assert len(drafts) == 1, drafts
    return {
        "type": drafts[0].payload.event_type,
        "id": drafts[0].id,
        **drafts[0].payload.model_dump(),
    }


def skipped(reason_part: str) -> int:
    return sum(n for (_, reason), n in SKIPPED.items() if reason_part in reason)


# --- resources -----------------------------------------------------------------------------


def risk_assessment(
    *predictions: dict[str, Any], status: str = "final", rid: str = "ra1", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "RiskAssessment",
        "id": rid,
        "meta": {"versionId": "1"},
        "status": status,
        "subject": {"reference": "Patient/p1", "display": "Jane Synthetic"},
        "occurrenceDateTime": "2026-03-11T10:00:00Z",
        "method": {"text": "Sepsis model v2"},
        "prediction": list(predictions),
        **extra,
    }


def bed(code: str | None = "O", *, r5: bool = False, **extra: Any) -> dict[str, Any]:
    loc: dict[str, Any] = {
        "resourceType": "Location",
        "id": "bed-12",
        "meta": {"versionId": "3", "lastUpdated": "2026-03-11T10:15:00Z"},
        "status": "active",
        "mode": "instance",
        "name": "Bed 12",
        "managingOrganization": {"reference": "Organization/org-h1"},
        "form" if r5 else "physicalType": {"coding": [{"system": PHYSICAL, "code": "bd"}]},
    }
    if code is not None:
        loc["operationalStatus"] = {"system": V2_0116, "code": code}
    loc.update(extra)
    return loc


def encounter(
    status: str, *, r5: bool = False, subject_status: str | None = None, **extra: Any
) -> dict[str, Any]:
    emer = {"system": ACT_CODE, "code": "EMER"}
    enc: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": "enc-1",
        "meta": {"versionId": "2"},
        "status": status,
        "class": [{"coding": [emer]}] if r5 else emer,
        "subject": {"reference": "Patient/p1"},
        "serviceProvider": {"reference": "Organization/org-h1"},
    }
    if subject_status:
        enc["subjectStatus"] = {"coding": [{"system": SUBJECT_STATUS, "code": subject_status}]}
    enc.update(extra)
    return enc


def flag(status: str = "active", category: str | None = "safety", **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Flag",
        "id": "flag-1",
        "meta": {"versionId": "1"},
        "status": status,
        "code": {"text": "Violence risk: two staff for interventions"},
        "subject": {"reference": "Patient/p1", "display": "Jane Synthetic"},
    }
    if category:
        res["category"] = [{"coding": [{"system": FLAG_CAT, "code": category}]}]
    res.update(extra)
    return res


def practitioner_role(**extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": "pr-1",
        "meta": {"versionId": "1"},
        "active": True,
        "practitioner": {"reference": "Practitioner/dr-7", "display": "Dr Synthetic"},
        "organization": {"reference": "Organization/org-h1"},
        "code": [{"coding": [{"system": ROLE, "code": "doctor"}]}],
    }
    res.update(extra)
    return res


def slot(status: str = "free", **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Slot",
        "id": "slot-1",
        "meta": {"versionId": "1"},
        "schedule": {"reference": "#sched"},
        "status": status,
        "start": "2026-03-11T10:00:00Z",
        "end": "2026-03-11T11:00:00Z",
        "contained": [
            {
                "resourceType": "Schedule",
                "id": "sched",
                "actor": [{"reference": "Practitioner/nurse-3"}],
            }
        ],
    }
    res.update(extra)
    return res


# --- general -------------------------------------------------------------------------------


def test_other_kinds_and_unread_entries_are_ignored() -> None:
    assert fr.normalize(InboundMessage(kind="hl7v2", source="mllp:x", body=None)) is None
    unread = FhirEntry(None, None, "Location", "Location/b1", None, None)
    body = FhirDelivery("default", Delivery("notification", "R4"), [unread])
    assert fr.normalize(InboundMessage(kind="fhir", source="fhir:default", body=body)) is None


def test_event_ids_are_the_resource_version_and_event_type() -> None:
    """§6 rule 1: idempotency key = (resourceType, id, meta.versionId)."""
    assert one(bed())["id"] == "fhir:Location/bed-12/_history/3:bed_status_changed"
    unversioned = bed()
    del unversioned["meta"]
    assert one(unversioned)["id"] is None


def test_a_failing_mapping_is_skipped_and_counted_but_a_reject_propagates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any) -> list[EventDraft]:
        raise KeyError("Jane Synthetic")

    monkeypatch.setitem(fr.MAPPERS, "Flag", broken)
    drafts = run(flag(), bed())
    assert [d.payload.event_type for d in drafts] == ["bed_status_changed"]
    assert SKIPPED[("Flag", "malformed (KeyError)")] == 1

    def refuse(*_: Any) -> list[EventDraft]:
        raise RejectMessage("deliberate")

    monkeypatch.setitem(fr.MAPPERS, "Flag", refuse)
    with pytest.raises(RejectMessage):
        run(flag())


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.floats(-5, 200) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_elements = st.sampled_from(
    [
        "status", "prediction", "subject", "category", "code", "class", "subjectStatus",
        "priority", "operationalStatus", "physicalType", "form", "partOf", "identifier",
        "managingOrganization", "availableTime", "notAvailable", "availability", "period",
        "schedule", "contained", "practitioner", "organization", "meta", "extension", "mode",
        "serviceProvider", "location", "start", "end", "active",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rtype=st.sampled_from(sorted(fr.MAPPERS)),
    body=st.dictionaries(_elements, _json, max_size=8),
)
def test_odd_shapes_never_raise_and_never_reach_the_catch_all(
    rtype: str, body: dict[str, Any]
) -> None:
    """Senders' junk is skipped by the mappings themselves, not by the safety net."""
    SKIPPED.clear()
    run({**body, "resourceType": rtype, "id": "x1"})
    assert skipped("malformed") == 0, SKIPPED


# --- RiskAssessment (§2.4) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "score", "level"),
    [
        (72, 0.72, "high"),  # spec: a percentage (max 100)
        (100, 1.0, "critical"),
        (3.5, 0.035, "low"),  # > 1: a percentage
        (0.3, 0.3, "medium"),  # 0..1: taken as a fraction
        (0.1, 0.1, "low"),
        (0.8, 0.8, "critical"),
        (1, 1.0, "critical"),
    ],
)
def test_risk_probability_decimal_and_default_bands(value: float, score: float, level: str) -> None:
    event = one(risk_assessment({"probabilityDecimal": value}))
    assert event["type"] == "risk_updated"
    assert (event["risk_score"], event["risk_level"]) == (pytest.approx(score), level)
    assert event["patient_id"] == "p1"


def test_risk_percent_sources_read_every_decimal_as_a_percentage() -> None:
    configure({"probability_percent_sources": ["lab-feed"]})
    assert one(risk_assessment({"probabilityDecimal": 0.5}), source="lab-feed")["risk_score"] == (
        pytest.approx(0.005)
    )
    assert one(risk_assessment({"probabilityDecimal": 0.5}))["risk_score"] == 0.5
    configure({"probability_percent_sources": ["fhir:lab-feed"]})
    event = one(risk_assessment({"probabilityDecimal": 0.5}), source="lab-feed")
    assert event["explanation"]["score_from"] == "percent"


def test_risk_range_midpoint_of_percent_bounds() -> None:
    span = {"low": {"value": 40, "unit": "%"}, "high": {"value": 60, "code": "%"}}
    event = one(risk_assessment({"probabilityRange": span}))
    assert (event["risk_score"], event["risk_level"]) == (0.5, "high")
    assert event["explanation"]["score_from"] == "range-midpoint"
    # ras-1: bounds in another unit are not probabilities
    other = {"low": {"value": 4, "unit": "mg"}, "high": {"value": 6, "unit": "mg"}}
    assert run(risk_assessment({"probabilityRange": other})) == []


@pytest.mark.parametrize(
    ("qualitative", "level", "score"),
    [
        ("negligible", "low", 0.0),
        ("low", "low", 0.125),
        ("moderate", "medium", 0.375),
        ("high", "high", 0.625),
        ("certain", "high", 1.0),
    ],
)
def test_risk_qualitative_risk_sets_the_level(qualitative: str, level: str, score: float) -> None:
    concept = {"coding": [{"system": RISK_PROB, "code": qualitative}]}
    alone = one(risk_assessment({"qualitativeRisk": concept}))
    assert (alone["risk_level"], alone["risk_score"]) == (level, score)
    assert alone["explanation"]["score_from"] == "qualitativeRisk"
    # with a probability the score is the probability, the level still the qualitative one
    both = one(risk_assessment({"qualitativeRisk": concept, "probabilityDecimal": 90}))
    assert (both["risk_level"], both["risk_score"]) == (level, 0.9)


def test_risk_explanation_names_method_outcome_rationale_and_source_not_the_patient() -> None:
    event = one(
        risk_assessment(
            {
                "probabilityDecimal": 20,
                "outcome": {"coding": [{"display": "Deterioration within 24 h"}]},
                "rationale": "Rising lactate and heart rate",
            }
        )
    )
    assert event["explanation"] == {
        "source": "RiskAssessment/ra1",
        "status": "final",
        "score_from": "percent",
        "method": "Sepsis model v2",
        "outcome": "Deterioration within 24 h",
        "rationale": "Rising lactate and heart rate",
    }
    assert "Jane" not in json.dumps(event, default=str)
    assert event["timestamp"] == datetime(2026, 3, 11, 10, 0, tzinfo=UTC)


def test_risk_the_highest_prediction_wins_and_all_are_listed() -> None:
    event = one(
        risk_assessment(
            {"probabilityDecimal": 10, "outcome": {"text": "ICU"}},
            {"probabilityDecimal": 55, "outcome": {"text": "Death"}},
        )
    )
    assert (event["risk_score"], event["explanation"]["outcome"]) == (0.55, "Death")
    assert [p["outcome"] for p in event["explanation"]["predictions"]] == ["ICU", "Death"]


@pytest.mark.parametrize("status", ["final", "amended", "corrected", "preliminary"])
def test_risk_judged_statuses(status: str) -> None:
    assert one(risk_assessment({"probabilityDecimal": 30}, status=status))["risk_score"] == 0.3


@pytest.mark.parametrize("status", ["registered", "cancelled", "unknown", "entered-in-error"])
def test_risk_other_statuses_give_nothing(status: str) -> None:
    assert run(risk_assessment({"probabilityDecimal": 30}, status=status)) == []
    assert skipped("entered-in-error") == (status == "entered-in-error")


def test_risk_invalid_probabilities_and_missing_patients_are_skipped() -> None:
    assert run(risk_assessment({"probabilityDecimal": 130})) == []  # ras-2: <= 100
    assert run(risk_assessment({"probabilityDecimal": -1})) == []
    group = risk_assessment({"probabilityDecimal": 30}, subject={"reference": "Group/g1"})
    assert run(group) == []
    assert skipped("no usable prediction") == 2 and skipped("no patient") == 1


def test_risk_bands_are_configurable_and_must_rise() -> None:
    configure({"risk_bands": {"low_below": 0.1, "medium_below": 0.2, "high_below": 0.3}})
    assert one(risk_assessment({"probabilityDecimal": 25}))["risk_level"] == "high"
    with pytest.raises(ValidationError, match="must rise"):
        configure({"risk_bands": {"low_below": 0.5, "medium_below": 0.4}})


def test_risk_hospital_comes_from_the_census() -> None:
    configure(p1={"H9"})
    assert one(risk_assessment({"probabilityDecimal": 30}))["hospital_id"] == "H9"


# --- Location (§2.2, §1.6 table 0116) ------------------------------------------------------


@pytest.mark.parametrize("r5", [False, True], ids=["R4-physicalType", "R5-form"])
@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("C", "closed"),
        ("H", "cleaning"),
        ("I", "isolated"),
        ("K", "contaminated"),
        ("O", "occupied"),
        ("U", "available"),
    ],
)
def test_bed_operational_status(code: str, status: str, r5: bool) -> None:
    event = one(bed(code, r5=r5))
    assert event["type"] == "bed_status_changed" and event["hospital_id"] == "H1"
    info = event["bed_info"]
    assert (info["bed_id"], info["status"], info["bed"]) == ("bed-12", status, "Bed 12")
    assert info["operational_status"] == code
    assert event["timestamp"] == datetime(2026, 3, 11, 10, 15, tzinfo=UTC)


def test_bed_local_codes_are_unknown_not_dropped() -> None:
    """§1.6: 0116 is user-defined; unknown codes map to `unknown`."""
    info = one(bed("X"))["bed_info"]
    assert (info["status"], info["operational_status"]) == ("unknown", "X")
    local = bed()
    local["operationalStatus"] = {"system": "urn:local", "code": "O"}
    assert one(local)["bed_info"]["status"] == "unknown"


def test_bed_id_prefers_the_identifier_and_is_sanitised() -> None:
    marked = bed(identifier=[{"system": "urn:beds", "value": "4 West/12"}])
    assert one(marked)["bed_info"]["bed_id"] == "4-West-12"


def test_bed_hospital_from_organization_then_default_else_skipped() -> None:
    stranger = bed(managingOrganization={"reference": "Organization/elsewhere"})
    assert run(stranger) == []
    assert skipped("no hospital") == 1
    configure({"default_hospital": "H0"})
    assert one(stranger)["hospital_id"] == "H0"
    by_identifier = bed(managingOrganization={"identifier": {"value": "org-h1"}})
    assert one(by_identifier)["hospital_id"] == "H1"


@pytest.mark.parametrize(
    "resource",
    [
        bed(status="inactive"),
        bed(status="suspended"),
        bed(mode="kind"),
        bed(None),
        {**bed(), "physicalType": {"coding": [{"system": PHYSICAL, "code": "ro"}]}},
    ],
    ids=["inactive", "suspended", "kind", "no-operational-status", "room"],
)
def test_bed_not_an_active_bed_instance_gives_nothing(resource: dict[str, Any]) -> None:
    assert run(resource) == []


def test_bed_room_from_part_of_display() -> None:
    info = one(bed(partOf={"reference": "Location/room-4", "display": "Room 4"}))["bed_info"]
    assert info["room"] == "Room 4" and info["unit"] is None


def test_bed_room_unit_and_hospital_from_the_part_of_chain_in_the_delivery() -> None:
    ward = {
        "resourceType": "Location",
        "id": "ward-5",
        "name": "Ward 5",
        "physicalType": {"coding": [{"system": PHYSICAL, "code": "wa"}]},
        "managingOrganization": {"reference": "Organization/org-h1"},
    }
    room = {
        "resourceType": "Location",
        "id": "room-4",
        "name": "Room 4",
        "physicalType": {"coding": [{"system": PHYSICAL, "code": "ro"}]},
        "partOf": {"reference": "Location/ward-5"},
    }
    loose = bed(partOf={"reference": "Location/room-4"})
    del loose["managingOrganization"]
    event = one(loose, room, ward)
    assert event["hospital_id"] == "H1"
    assert (event["bed_info"]["room"], event["bed_info"]["unit"]) == ("Room 4", "Ward 5")


def test_occupied_bed_names_the_patient_of_an_active_encounter_in_the_delivery() -> None:
    """§2.2 [DESIGN]: patient from the Encounter whose active location is the bed."""
    stay = encounter(
        "in-progress",
        location=[
            {"location": {"reference": "Location/bed-9"}, "status": "completed"},
            {"location": {"reference": "Location/bed-12"}, "status": "active"},
        ],
    )
    drafts = run(bed("O"), stay)
    [bed_event] = [d.payload for d in drafts if d.payload.event_type == "bed_status_changed"]
    assert bed_event.model_dump()["bed_info"]["patient_id"] == "p1"
    assert bed_event.rooms() == ["hospital_H1", "patient_p1"]
    drafts = run(bed("H"), stay)
    [cleaning] = [d.payload for d in drafts if d.payload.event_type == "bed_status_changed"]
    assert cleaning.rooms() == ["hospital_H1"]


# --- Encounter (§2.3, §5.2) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "triage"),
    [
        ("planned", "pending"),
        ("arrived", "pending"),
        ("triaged", "triaged"),
        ("in-progress", "assigned"),
        ("finished", "completed"),
        ("cancelled", "cancelled"),
        ("entered-in-error", "cancelled"),
    ],
)
def test_triage_r4_status(status: str, triage: str) -> None:
    event = one(encounter(status))
    assert event["type"] == "triage_updated"
    assert (event["triage_id"], event["status"], event["patient_id"]) == ("enc-1", triage, "p1")
    assert event["hospital_id"] == "H1"
    assert event["details"]["encounter"] == "Encounter/enc-1"


@pytest.mark.parametrize(
    ("status", "subject_status", "triage"),
    [
        ("planned", "arrived", "pending"),
        ("in-progress", "arrived", "pending"),
        ("in-progress", "triaged", "triaged"),
        ("in-progress", "receiving-care", "assigned"),
        ("discharged", None, "completed"),
        ("completed", "departed", "completed"),
        ("cancelled", None, "cancelled"),
        ("entered-in-error", "arrived", "cancelled"),
    ],
)
def test_triage_r5_status_and_subject_status(
    status: str, subject_status: str | None, triage: str
) -> None:
    event = one(encounter(status, r5=True, subject_status=subject_status))
    assert event["status"] == triage


@pytest.mark.parametrize(
    "resource",
    [
        encounter("onleave"),
        encounter("unknown"),
        encounter("in-progress", r5=True),  # R5 without subjectStatus says nothing of triage
        encounter("on-hold", r5=True, subject_status="on-leave"),
        {**encounter("arrived"), "class": {"system": ACT_CODE, "code": "IMP"}},
        encounter("arrived", subject={"reference": "Group/g1"}),
    ],
    ids=["onleave", "unknown", "r5-no-subject-status", "r5-on-leave", "inpatient", "no-patient"],
)
def test_triage_no_event(resource: dict[str, Any]) -> None:
    assert run(resource) == []


def test_triage_r5_class_list_with_emer_among_others() -> None:
    enc = encounter("in-progress", r5=True, subject_status="triaged")
    enc["class"] = [{"coding": [{"system": ACT_CODE, "code": "AMB"}]}, *enc["class"]]
    assert one(enc)["status"] == "triaged"


def test_triage_priority_only_where_the_reverse_mapping_is_unambiguous() -> None:
    """§2.3 local mapping ESI1->S/EM, ESI2->EM/UR, ESI3->UR, ESI4/5->R: only S is one level."""

    def prio(code: str) -> dict[str, Any]:
        return encounter("triaged", priority={"coding": [{"system": ACT_PRIORITY, "code": code}]})

    assert one(prio("S"))["priority"] == 1
    emergency = one(prio("EM"))
    assert (emergency["priority"], emergency["details"]["priority_code"]) == (None, "EM")
    configure({"priority_by_act_code": {"S": 1, "EM": 2, "R": 4}})
    assert [one(prio(c))["priority"] for c in ("EM", "R", "UR")] == [2, 4, None]
    with pytest.raises(ValidationError, match="1-5"):
        configure({"priority_by_act_code": {"S": 0}})


def test_triage_hospital_from_service_provider_else_default_else_none() -> None:
    stranger = encounter("arrived", serviceProvider={"reference": "Organization/other"})
    assert one(stranger)["hospital_id"] is None
    configure({"default_hospital": "H0"})
    assert one(stranger)["hospital_id"] == "H0"


def test_triage_event_rooms() -> None:
    [d] = run(encounter("arrived"))
    assert d.payload.rooms() == ["triage_enc-1", "patient_p1", "triage_queue"]


# --- Flag (§2.5, §6) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "alert_type"),
    [("safety", "warning"), ("clinical", "warning"), ("diet", "info"), (None, "info")],
)
def test_flag_active_raises_a_patient_alert(category: str | None, alert_type: str) -> None:
    event = one(flag(category=category))
    assert event["type"] == "patient_alert" and event["alert_type"] == alert_type
    assert event["alert_data"] == {
        "message": "Violence risk: two staff for interventions",
        "flag": "Flag/flag-1",
        "category": [category] if category else [],
        "status": "active",
        "action": "raise",
    }
    assert "Jane" not in json.dumps(event, default=str)


def test_flag_priority_extension_decides_severity() -> None:
    ext = {
        "url": "http://hl7.org/fhir/StructureDefinition/flag-priority",
        "valueCodeableConcept": {
            "coding": [{"system": "http://hl7.org/fhir/flag-priority-code", "code": "PH"}]
        },
    }
    assert one(flag(category="diet", extension=[ext]))["alert_type"] == "critical"


def test_flag_message_falls_back_to_a_display() -> None:
    coded = flag(code={"coding": [{"system": "http://snomed.info/sct", "display": "Fall risk"}]})
    assert one(coded)["alert_data"]["message"] == "Fall risk"


@pytest.mark.parametrize(
    "resource",
    [
        flag("inactive"),
        flag("entered-in-error"),
        flag(period={"start": "2026-03-01T00:00:00Z", "end": "2026-03-10T00:00:00Z"}),
    ],
    ids=["inactive", "entered-in-error", "active-but-expired"],
)
def test_flag_ended_retracts(resource: dict[str, Any]) -> None:
    event = one(resource)
    assert (event["alert_type"], event["alert_data"]["action"]) == ("info", "retract")
    assert event["alert_data"]["flag"] == "Flag/flag-1"


@pytest.mark.parametrize(
    ("subject", "category", "alert_type"),
    [
        ({"reference": "Location/ward-5"}, "safety", "emergency"),
        ({"reference": "Organization/org-h1"}, "admin", "capacity"),
    ],
)
def test_flag_on_a_facility_is_a_hospital_alert(
    subject: dict[str, Any], category: str, alert_type: str
) -> None:
    configure({"default_hospital": "H0"})
    ward = {
        "resourceType": "Location",
        "id": "ward-5",
        "managingOrganization": {"reference": "Organization/org-h1"},
    }
    event = one(flag(category=category, subject=subject), ward)
    assert event["type"] == "hospital_alert"
    assert (event["hospital_id"], event["alert_type"]) == ("H1", alert_type)
    assert event["alert_data"]["action"] == "raise"
    ended = one(flag("inactive", category=category, subject=subject), ward)
    assert (ended["alert_type"], ended["alert_data"]["action"]) == (alert_type, "retract")


def test_flag_on_a_facility_other_categories_or_unknown_hospital_are_skipped() -> None:
    assert run(flag(category="diet", subject={"reference": "Location/ward-5"})) == []
    assert run(flag(subject={"reference": "Organization/elsewhere"})) == []
    assert run(flag(subject={"reference": "Practitioner/dr-7"})) == []
    assert skipped("flag") >= 2 and skipped("no hospital") == 1


# --- PractitionerRole (§2.6) ---------------------------------------------------------------


UTC_ZONE = ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, True),
        ({"active": False}, False),
        ({"period": {"start": "2026-01-01", "end": "2026-03-11"}}, True),  # end date: whole day
        ({"period": {"end": "2026-03-10"}}, False),
        ({"period": {"start": "2026-04-01T00:00:00Z"}}, False),
        ({"availableTime": [{"daysOfWeek": ["wed"], "allDay": True}]}, True),
        ({"availableTime": [{"daysOfWeek": ["mon", "tue"], "allDay": True}]}, False),
        (
            {
                "availableTime": [
                    {
                        "daysOfWeek": ["wed"],
                        "availableStartTime": "08:00:00",
                        "availableEndTime": "16:00:00",
                    }
                ]
            },
            True,
        ),
        (
            {"availableTime": [{"availableStartTime": "11:00:00", "availableEndTime": "19:00:00"}]},
            False,
        ),
        (
            {
                "notAvailable": [
                    {"description": "Leave", "during": {"start": "2026-03-11T00:00:00Z"}}
                ]
            },
            False,
        ),
        (
            {"notAvailable": [{"during": {"start": "2026-03-01", "end": "2026-03-05"}}]},
            True,
        ),
    ],
)
def test_practitioner_role_availability_r4(changes: dict[str, Any], expected: bool) -> None:
    assert staff.available(practitioner_role(**changes), NOW, UTC_ZONE) is expected


@pytest.mark.parametrize(
    ("availability", "expected"),
    [
        ([{"availableTime": [{"daysOfWeek": ["wed"], "allDay": True}]}], True),
        ([{"availableTime": [{"daysOfWeek": ["thu"], "allDay": True}]}], False),
        (
            [
                {
                    "availableTime": [{"allDay": True}],
                    "notAvailableTime": [
                        {"during": {"start": "2026-03-11T10:00:00Z", "end": "2026-03-11T12:00:00Z"}}
                    ],
                }
            ],
            False,
        ),
    ],
)
def test_practitioner_role_availability_r5(
    availability: list[dict[str, Any]], expected: bool
) -> None:
    assert staff.available(practitioner_role(availability=availability), NOW, UTC_ZONE) is expected


def test_practitioner_role_windows_are_local_time_and_may_cross_midnight() -> None:
    night = {
        "daysOfWeek": ["tue"],
        "availableStartTime": "22:00:00",
        "availableEndTime": "07:00:00",
    }
    role = practitioner_role(availableTime=[night])
    early_wed = datetime(2026, 3, 11, 5, 0, tzinfo=UTC)
    assert staff.available(role, early_wed, UTC_ZONE) is True
    assert staff.available(role, NOW, UTC_ZONE) is False
    # 05:00 UTC is 14:00 in Tokyo: outside the night shift there
    assert staff.available(role, early_wed, ZoneInfo("Asia/Tokyo")) is False
    configure({"timezone": "Europe/Berlin"})
    with pytest.raises(ValidationError, match="time zone"):
        configure({"timezone": "Mars/Olympus"})


@pytest.mark.parametrize(
    ("code", "system", "staff_type"),
    [("doctor", ROLE, "doctor"), ("nurse", ROLE, "nurse"), ("pharmacist", ROLE, "other")],
)
def test_practitioner_role_event(code: str, system: str, staff_type: str) -> None:
    event = one(practitioner_role(code=[{"coding": [{"system": system, "code": code}]}]))
    assert event["type"] == "staff_availability_changed"
    assert (event["staff_id"], event["staff_type"], event["hospital_id"]) == (
        "dr-7",
        staff_type,
        "H1",
    )
    assert event["available"] is True
    assert "Synthetic" not in json.dumps(event, default=str)


def test_practitioner_role_staff_type_map_and_availability_now() -> None:
    configure({"staff_type_by_code": {"309294001": "nurse"}})
    sct = {"coding": [{"system": "http://snomed.info/sct", "code": "309294001"}]}
    off = practitioner_role(code=[sct], active=False)
    event = one(off)
    assert (event["staff_type"], event["available"]) == ("nurse", False)


def test_practitioner_role_without_practitioner_or_hospital_is_skipped() -> None:
    assert run(practitioner_role(practitioner=None)) == []
    assert run(practitioner_role(organization={"reference": "Organization/other"})) == []
    assert skipped("no practitioner") == 1 and skipped("no hospital") == 1
    configure({"default_hospital": "H0"})
    weird = practitioner_role(practitioner={"reference": "Practitioner/dr 7"})
    assert one(weird)["staff_id"] == "dr-7"  # sanitised for the hub's identifier rules


# --- Slot (§2.7) ---------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "available"), [("free", True), ("busy-unavailable", False)])
def test_slot_with_a_contained_schedule(status: str, available: bool) -> None:
    configure({"default_hospital": "H0"})
    event = one(slot(status))
    assert (event["staff_id"], event["available"], event["hospital_id"]) == (
        "nurse-3",
        available,
        "H0",
    )
    assert event["timestamp"] == datetime(2026, 3, 11, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", ["busy", "busy-tentative", "entered-in-error"])
def test_slot_booked_or_withdrawn_gives_nothing(status: str) -> None:
    configure({"default_hospital": "H0"})
    assert run(slot(status)) == []


def test_slot_schedule_from_settings_or_the_delivery_else_skipped() -> None:
    external = slot(schedule={"reference": "Schedule/sched-9"}, contained=[])
    assert run(external) == []
    assert skipped("schedule actor unknown") == 1
    configure(
        {
            "staff_by_schedule": {
                "sched-9": {"staff_id": "nurse-4", "staff_type": "nurse", "hospital_id": "H2"}
            }
        }
    )
    event = one(external)
    assert (event["staff_id"], event["staff_type"], event["hospital_id"]) == (
        "nurse-4",
        "nurse",
        "H2",
    )
    configure()
    schedule = {
        "resourceType": "Schedule",
        "id": "sched-9",
        "actor": [{"reference": "PractitionerRole/pr-1"}],
    }
    drafts = run(external, schedule, practitioner_role())
    [from_slot] = [d for d in drafts if d.id and ":Slot/" in d.id]
    got = from_slot.payload.model_dump()
    assert (got["staff_id"], got["staff_type"], got["hospital_id"]) == ("dr-7", "doctor", "H1")


def test_slot_already_over_or_without_hospital_is_skipped() -> None:
    assert run(slot(end="2026-03-11T09:00:00Z")) == []
    assert run(slot()) == []  # no default hospital and a bare Practitioner actor
    assert skipped("slot is over") == 1 and skipped("no hospital") == 1


# --- end to end ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resources_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    state: Path = tmp_path_factory.mktemp("fhir-resources")
    hub = HubProcess(state)
    settings = json.loads(hub.env()["HUB_PLUGINS__SETTINGS"])
    settings["fhir"] = {"sources": [{"name": "default", "accept_hub_tokens": True}]}
    settings["fhir_resources"] = {"hospital_by_organization": {"org-e2e": "HE2E"}}
    hub.extra_env.update(HUB_PLUGINS__SETTINGS=json.dumps(settings))
    hub.start()
    yield hub
    hub.stop()


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    path = f"{resource['resourceType']}/{resource['id']}"
    return {
        "fullUrl": f"https://fhir.example.test/fhir/{path}",
        "resource": resource,
        "request": {"method": "PUT", "url": path},
    }


async def test_transaction_bundle_reaches_hospital_triage_queue_and_patient_rooms(
    resources_hub: HubProcess,
) -> None:
    patient, bed_id, enc_id = uid("p"), uid("bed"), uid("enc")
    org = {"reference": "Organization/org-e2e"}
    location = {**bed("O"), "id": bed_id, "managingOrganization": org}
    stay = {
        **encounter("arrived"),
        "id": enc_id,
        "subject": {"reference": f"Patient/{patient}"},
        "serviceProvider": org,
        "location": [{"location": {"reference": f"Location/{bed_id}"}, "status": "active"}],
    }
    risk = {
        **risk_assessment({"probabilityDecimal": 82}),
        "id": uid("ra"),
        "subject": {"reference": f"Patient/{patient}"},
    }
    alert = {**flag(), "id": uid("flag"), "subject": {"reference": f"Patient/{patient}"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [_put(r) for r in (location, stay, risk, alert)],
    }
    rooms = {
        "hospital_HE2E": Listener(),
        "triage_queue": Listener(),
        f"patient_{patient}": Listener(),
    }
    for room, listener in rooms.items():
        await listener.connect(resources_hub, token(hospitals=["HE2E"], patients=[patient]))
        assert (await listener.join(room))["ok"] is True, room
    reply = post(resources_hub, bundle)
    assert reply.status_code == 200, reply.text
    hospital, queue, person = rooms.values()
    await person.wait_for(
        lambda: len([e for e, _ in person.events if e != "connection_response"]) >= 4
    )
    await hospital.wait_for(lambda: bool(hospital.of("bed_status_changed")))
    await queue.wait_for(lambda: bool(queue.of("triage_updated")))

    [bed_event] = hospital.of("bed_status_changed")
    assert bed_event["bed_info"]["bed_id"] == bed_id
    assert bed_event["bed_info"]["status"] == "occupied"
    assert bed_event["bed_info"]["patient_id"] == patient
    [triage] = queue.of("triage_updated")
    assert (triage["triage_id"], triage["status"], triage["hospital_id"]) == (
        enc_id,
        "pending",
        "HE2E",
    )
    assert triage["source"] == "fhir:default"
    [scored] = person.of("risk_updated")
    assert (scored["risk_score"], scored["risk_level"]) == (0.82, "critical")
    [raised] = person.of("patient_alert")
    assert raised["alert_data"]["flag"] == f"Flag/{alert['id']}"
    assert person.of("triage_updated") and person.of("bed_status_changed")
    assert not hospital.of("triage_updated") and not queue.of("patient_alert")

    # the same versions again: answered, and nothing journaled twice
    assert post(resources_hub, bundle).status_code == 200
    assert (
        post(resources_hub, {**alert, "meta": {"versionId": "2"}, "status": "inactive"}).status_code
        == 200
    )
    await person.wait_for(lambda: len(person.of("patient_alert")) >= 2)
    assert len(person.of("risk_updated")) == 1 and len(hospital.of("bed_status_changed")) == 1
    assert person.of("patient_alert")[1]["alert_data"]["action"] == "retract"
    for listener in rooms.values():
        await listener.close()
