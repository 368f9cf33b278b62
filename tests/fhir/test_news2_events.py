"""NEWS2 from vital-sign Observations over real HTTP (clinical-reference §2.1 codes, §3.5
worked cases, §3.2 alert on crossing into medium or high). Synthetic data only."""

from __future__ import annotations

from typing import Any

from tests.conftest import HubProcess, token, uid
from tests.fhir.test_receiver import notification, post
from tests.test_socketio import Listener

LOINC = "http://loinc.org"


def vital(patient: str, code: str, value: Any, unit: str | None, at: str) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": uid("v"),
        "meta": {"versionId": "1"},
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": at,
    }
    if unit is None:
        obs["valueCodeableConcept"] = value
    else:
        obs["valueQuantity"] = {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        }
    return obs


def vitals(
    patient: str,
    at: str,
    *,
    rr: int,
    spo2: int,
    o2: bool,
    sbp: int,
    hr: int,
    acvpu: str,
    temp: float,
) -> list[dict[str, Any]]:
    bp = vital(patient, "85354-9", 0, "mm[Hg]", at)
    del bp["valueQuantity"]
    bp["component"] = [
        {
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
            "valueQuantity": {
                "value": sbp,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        },
        {
            "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
            "valueQuantity": {
                "value": 70,
                "unit": "mm[Hg]",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        },
    ]
    return [
        vital(patient, "9279-1", rr, "/min", at),
        vital(patient, "59408-5", spo2, "%", at),
        vital(patient, "3151-8", 2 if o2 else 0, "L/min", at),
        bp,
        vital(patient, "8867-4", hr, "/min", at),
        vital(
            patient,
            "67775-7",
            {"coding": [], "text": {"A": "Alert", "V": "Voice"}[acvpu]},
            None,
            at,
        ),
        vital(patient, "8310-5", temp, "Cel", at),
    ]


async def test_news2_scores_and_alerts_once_per_crossing(fhir_hub: HubProcess) -> None:
    patient, sub = uid("p"), uid("sub")
    watcher = Listener()
    await watcher.connect(fhir_hub, token(patients=[patient]))
    assert (await watcher.join(f"patient_{patient}"))["ok"] is True
    now = "2099-01-01T10:00:00Z"  # in the future: fresh whatever the clock says
    # §3.5 "medium 5": RR 22, SpO2 94, air, SBP 105, HR 95, A, T 37.0
    medium = vitals(patient, now, rr=22, spo2=94, o2=False, sbp=105, hr=95, acvpu="A", temp=37.0)
    assert (
        post(fhir_hub, notification("R4", "event-notification", 1, medium, sub)).status_code == 200
    )
    await watcher.wait_for(
        lambda: bool(watcher.of("risk_updated")) and bool(watcher.of("patient_alert"))
    )
    risk = watcher.of("risk_updated")[-1]
    assert (risk["risk_level"], risk["risk_score"]) == ("medium", 0.25)
    params = risk["explanation"]["parameters"]
    assert params["respiratory_rate"] == {"value": 22, "score": 2}
    assert params["spo2"]["score"] == 1 and params["systolic_bp"]["score"] == 1
    [alert] = watcher.of("patient_alert")
    assert alert["alert_type"] == "warning" and alert["alert_data"]["message"] == "NEWS2 5 (medium)"
    # still medium with a changed pulse: a new score, no second alert
    later = "2099-01-01T10:05:00Z"
    more = [vital(patient, "8867-4", 100, "/min", later)]
    assert post(fhir_hub, notification("R4", "event-notification", 2, more, sub)).status_code == 200
    await watcher.wait_for(lambda: len(watcher.of("risk_updated")) >= 2)
    assert len(watcher.of("patient_alert")) == 1
    # into high (§3.5 "high" case values): one critical alert
    worse = vitals(
        patient,
        "2099-01-01T10:10:00Z",
        rr=24,
        spo2=93,
        o2=True,
        sbp=95,
        hr=115,
        acvpu="V",
        temp=38.6,
    )
    assert (
        post(fhir_hub, notification("R5", "event-notification", 3, worse, sub)).status_code == 200
    )
    await watcher.wait_for(lambda: len(watcher.of("patient_alert")) >= 2)
    risk = watcher.of("risk_updated")[-1]
    assert risk["risk_level"] == "high" and risk["explanation"]["total"] == 14
    assert watcher.of("patient_alert")[-1]["alert_type"] == "critical"
    await watcher.close()
