"""HL7 v2 results (ORU^R01) to patient alerts: OBX-8 abnormal flags (table 0078) judged with
the same codes as FHIR's v3 interpretation, OBX-11 result status (table 0085) for corrections
and withdrawals (clinical-reference §3, event mapping table). Synthetic data only."""

from __future__ import annotations

import pytest

from adapters.hl7.client import MllpClient
from adapters.hl7.message import parse
from hub.testing import Pipeline
from tests.conftest import HubProcess, token, uid
from tests.test_socketio import Listener


def oru(
    control: str,
    obx: list[str],
    *,
    version: str = "2.5.1",
    patient: str = "P100",
    facility: str = "HRES",
    order: str = "ORD77",
) -> str:
    segments = [
        f"MSH|^~\\&|LAB|{facility}|HUB|H|20260310161500||ORU^R01^ORU_R01|{control}|P|{version}",
        f"PID|1||{patient}^^^HOSP^MR||Doe^Jane",
        f"PV1|1|I|W1^R1^B1^{facility}",
        f"OBR|1|PLC1|{order}|24326-1^Electrolytes panel^LN|||20260310160000",
        *obx,
    ]
    return "\r".join(segments) + "\r"


def obx(n: int, code: str, name: str, value: str, unit: str, flags: str, status: str = "F") -> str:
    return (
        f"OBX|{n}|NM|{code}^{name}^LN||{value}|{unit}^{unit}^UCUM|3.5-5.1|{flags}|||{status}"
        "|||20260310160500"
    )


@pytest.fixture
async def hub() -> Pipeline:
    async with Pipeline(entry_points=True, only=["adt", "hl7_results", "observations"]) as p:
        yield p  # type: ignore[misc]


async def test_abnormal_flags_decide_the_severity_and_the_text(hub: Pipeline) -> None:
    events = await hub.hl7(
        oru(
            "R1",
            [
                obx(1, "2823-3", "Potassium", "6.9", "mmol/L", "HH"),
                obx(2, "2951-2", "Sodium", "131", "mmol/L", "L"),
                obx(3, "2075-0", "Chloride", "101", "mmol/L", "N"),  # normal: no alert
                obx(4, "2345-7", "Glucose", "1.9", "mmol/L", "L~LL"),  # repeating: worst wins
            ],
        )
    )
    alerts = [e.data for e in events if e.type == "patient_alert"]
    assert [(a["alert_type"], a["alert_data"]["message"]) for a in alerts] == [
        ("critical", "Potassium 6.9 mmol/L (critical high)"),
        ("warning", "Sodium 131 mmol/L (low)"),
        ("critical", "Glucose 1.9 mmol/L (critical low)"),
    ]
    first = alerts[0]
    assert (first["patient_id"], first["hospital_id"]) == ("P100", "HRES")
    assert first["alert_data"]["observation"] == "ORD77/2823-3"
    assert first["alert_data"]["action"] == "raise" and first["alert_data"]["code"] == "2823-3"
    assert events[0].timestamp == "2026-03-10T16:05:00.000Z"  # OBX-14


async def test_corrections_supersede_and_wrong_results_are_withdrawn(hub: Pipeline) -> None:
    await hub.hl7(oru("R2", [obx(1, "2823-3", "Potassium", "6.9", "mmol/L", "HH")]))
    # corrected and now normal: an info alert that replaces the critical one
    corrected = await hub.hl7(oru("R3", [obx(1, "2823-3", "Potassium", "4.1", "mmol/L", "N", "C")]))
    data = corrected[0].data
    assert (data["alert_type"], data["alert_data"]["action"]) == ("info", "supersede")
    assert data["alert_data"]["observation"] == "ORD77/2823-3"
    assert data["alert_data"]["message"] == "Potassium 4.1 mmol/L (corrected)"
    wrong = await hub.hl7(oru("R4", [obx(1, "2823-3", "Potassium", "", "mmol/L", "", "W")]))
    assert wrong[0].data["alert_data"]["action"] == "retract"
    assert wrong[0].data["alert_data"]["message"] == "Potassium: result withdrawn"
    # preliminary results do not alert unless the observations plugin is told to
    assert (
        await hub.hl7(oru("R5", [obx(1, "2823-3", "Potassium", "7.0", "mmol/L", "HH", "P")])) == []
    )


async def test_version_2_3_single_flag_and_several_orders(hub: Pipeline) -> None:
    raw = oru("R6", [obx(1, "2823-3", "Potassium", "2.4", "mmol/L", "LL")], version="2.3")
    raw += "OBR|2|PLC2|ORD78|718-7^Hemoglobin^LN\r" + obx(
        1, "718-7", "Hemoglobin", "62", "g/L", "LL"
    )
    events = await hub.hl7(raw)
    assert [e.data["alert_data"]["observation"] for e in events] == ["ORD77/2823-3", "ORD78/718-7"]


async def test_an_oru_over_mllp_alerts_the_patients_room(hub_server: HubProcess) -> None:
    patient, hospital = uid("P"), uid("H")
    watcher = Listener()
    await watcher.connect(hub_server, token(hospitals=[hospital], patients=[patient]))
    assert (await watcher.join(f"patient_{patient}"))["ok"] is True
    raw = oru(
        uid("c"),
        [obx(1, "2823-3", "Potassium", "6.9", "mmol/L", "HH")],
        patient=patient,
        facility=hospital,
    )
    async with MllpClient("127.0.0.1", hub_server.mllp_port, timeout=5) as client:
        ack = parse(await client.send(raw.encode()))
    assert ack.value("MSA", 1) == "AA"
    await watcher.wait_for(lambda: bool(watcher.of("patient_alert")))
    alert = watcher.of("patient_alert")[0]
    assert alert["alert_type"] == "critical" and alert["hospital_id"] == hospital
    await watcher.close()
