"""ADT/PMU over real MLLP into Socket.IO rooms (clinical-reference §1.7, §1.8, §1.10, §8)."""

from __future__ import annotations

import asyncio

from adapters.hl7.client import MllpClient
from adapters.hl7.message import parse
from tests.conftest import HubProcess, token, uid
from tests.test_socketio import Listener


def adt(
    trigger: str, control: str, pid3: str, pv1: str, *, structure: str = "ADT_A01", extra: str = ""
) -> bytes:
    return (
        f"MSH|^~\\&|PAS|HOSP|HUB|HOSP|20260310160000||ADT^{trigger}^{structure}|{control}"
        f"|P|2.5.1\rEVN||20260310160000||||20260310155500\rPID|||{pid3}||Doe^Test\r"
        f"PV1||{pv1}\r{extra}"
    ).encode()


async def send(hub: HubProcess, *messages: bytes) -> list[tuple[str | None, str | None]]:
    out = []
    async with MllpClient("127.0.0.1", hub.mllp_port) as client:
        for message in messages:
            ack = parse(await client.send(message))
            out.append((ack.value("MSA", 1), ack.value_of(ack.segment("ERR"), 8)))
    return out


async def test_a_day_on_a_ward_reaches_the_hospital_room(hub_server: HubProcess) -> None:
    fac = uid("F")
    p1, p2 = uid("P"), uid("P")
    watcher = Listener()
    await watcher.connect(hub_server, token(hospitals=[fac]))
    assert (await watcher.join(f"hospital_{fac}"))["ok"]
    assert (await watcher.join("triage_queue"))["ok"]
    v = uid("V")
    results = await send(
        hub_server,
        # A04: emergency registration, no bed yet -> triage pending
        adt("A04", uid("c"), f"{p1}^^^HOSP^MR", f"E|ED^^^{fac}||||||||||||||||{v}"),
        # A01 admit into bed 5B/305/2 -> occupied, triage assigned
        adt("A01", uid("c"), f"{p1}^^^HOSP^MR", f"E|5B^305^2^{fac}||||||||||||||||{v}"),
        # A02 transfer to 6C/1/A -> old bed released (cleaning), new occupied
        adt(
            "A02",
            uid("c"),
            f"{p1}^^^HOSP^MR",
            f"I|6C^1^A^{fac}|||5B^305^2^{fac}",
            structure="ADT_A02",
        ),
        # A03 discharge from 6C/1/A -> cleaning
        adt("A03", uid("c"), f"{p1}^^^HOSP^MR", f"I|6C^1^A^{fac}", structure="ADT_A03"),
        # A20 bed board: the bed is clean again
        f"MSH|^~\\&|BB|HOSP|HUB|HOSP|20260310170000||ADT^A20^ADT_A20|{uid('c')}|P|2.8\r"
        f"EVN||20260310170000\rNPU|6C^1^A^{fac}|U\r".encode(),
        # A17 swap: two patients, two beds
        adt(
            "A17",
            uid("c"),
            f"{p1}^^^HOSP^MR",
            f"I|7A^1^1^{fac}",
            structure="ADT_A17",
            extra=f"PID|||{p2}^^^HOSP^MR||Doe^Other\rPV1||I|7A^1^2^{fac}\r",
        ),
        # PMU B05: a doctor goes off duty
        f"MSH|^~\\&|HR|{fac}|HUB|HOSP|20260310080000||PMU^B05^PMU_B04|{uid('c')}|P|2.5.1\r"
        f"EVN||20260310080000\rSTF||D123^^^HOSP^DN|Jones^Ann|MD|F||I\r".encode(),
    )
    assert [code for code, _ in results] == ["AA"] * 7
    await watcher.wait_for(
        lambda: (
            len(watcher.of("bed_status_changed")) >= 7 and watcher.of("staff_availability_changed")
        )
    )
    beds = [
        (e["bed_info"]["bed_id"], e["bed_info"]["status"], e["bed_info"].get("patient_id"))
        for e in watcher.of("bed_status_changed")
    ]
    assert beds == [
        ("5B:305:2", "occupied", p1),
        ("5B:305:2", "cleaning", None),
        ("6C:1:A", "occupied", p1),
        ("6C:1:A", "cleaning", None),
        ("6C:1:A", "available", None),
        ("7A:1:1", "occupied", p1),
        ("7A:1:2", "occupied", p2),
    ]
    first = watcher.of("bed_status_changed")[0]
    assert first["timestamp"] == "2026-03-10T15:55:00.000Z"  # EVN-6
    assert first["source"] == "mllp:default" and first["hospital_id"] == fac
    triage = [(e["triage_id"], e["status"]) for e in watcher.of("triage_updated")]
    assert triage == [(v, "pending"), (v, "assigned")]
    staff = watcher.of("staff_availability_changed")[0]
    assert (staff["staff_id"], staff["staff_type"], staff["available"]) == ("D123", "doctor", False)
    await watcher.close()


async def test_duplicates_produce_no_new_events(hub_server: HubProcess) -> None:
    fac, p1 = uid("F"), uid("P")
    watcher = Listener()
    await watcher.connect(hub_server, token(hospitals=[fac]))
    await watcher.join(f"hospital_{fac}")
    message = adt("A01", uid("c"), f"{p1}^^^HOSP^MR", f"I|1^2^3^{fac}")
    assert await send(hub_server, message, message, message) == [("AA", None)] * 3
    marker = adt("A03", uid("c"), f"{p1}^^^HOSP^MR", f"I|1^2^3^{fac}", structure="ADT_A03")
    await send(hub_server, marker)
    await watcher.wait_for(lambda: len(watcher.of("bed_status_changed")) >= 2)
    await asyncio.sleep(0.2)
    assert [e["bed_info"]["status"] for e in watcher.of("bed_status_changed")] == [
        "occupied",
        "cleaning",
    ]
    await watcher.close()


async def test_content_errors_get_ae_naming_the_field(hub_server: HubProcess) -> None:
    [(code, text)] = await send(hub_server, adt("A01", uid("c"), "", "I|1^2^3^HOSP"))
    assert code == "AE" and text is not None and "PID-3" in text


async def test_a_corrected_resend_under_the_same_control_id_is_processed(
    hub_server: HubProcess,
) -> None:
    fac, patient, control = uid("F"), uid("P"), uid("c")
    broken = adt("A01", control, "", f"I|1^2^3^{fac}")
    fixed = adt("A01", control, f"{patient}^^^HOSP^MR", f"I|1^2^3^{fac}")
    watcher = Listener()
    await watcher.connect(hub_server, token(hospitals=[fac]))
    await watcher.join(f"hospital_{fac}")
    # the same bytes again are a duplicate and get the same AE; corrected content under the
    # control id of a message that failed is new, and is processed once
    [(first, _), (again, _)] = await send(hub_server, broken, broken)
    assert (first, again) == ("AE", "AE")
    assert await send(hub_server, fixed, fixed) == [("AA", None)] * 2
    await watcher.wait_for(lambda: len(watcher.of("bed_status_changed")) >= 1)
    await asyncio.sleep(0.2)
    assert [e["bed_info"]["patient_id"] for e in watcher.of("bed_status_changed")] == [patient]
    await watcher.close()


async def test_failed_messages_are_kept_listed_and_reprocessable(hub_server: HubProcess) -> None:
    import subprocess
    import sys

    import httpx

    control = uid("c")
    [(code, _)] = await send(hub_server, adt("A01", control, "", "I|1^2^3^HOSP"))
    assert code == "AE"
    admin = {"Authorization": f"Bearer {token(role='admin')}"}
    async with httpx.AsyncClient(base_url=hub_server.url, headers=admin) as http:
        listed = (await http.get("/api/inbound", params={"status": "error", "limit": 1000})).json()[
            "entries"
        ]
        mine = [e for e in listed if e["error"] and "PID-3" in e["error"]]
        assert mine and mine[-1]["source"] == "mllp:default"
        input_id = mine[-1]["id"]
        detail = (await http.get(f"/api/inbound/{input_id}")).json()
        assert control in detail["raw"] and "MSA|AE" in detail["reply"]
        assert (await http.get("/api/inbound", params={"status": "bogus"})).status_code == 400
        nurse = {"Authorization": f"Bearer {token()}"}
        assert (await http.get("/api/inbound", headers=nurse)).status_code == 403
    env = {**__import__("os").environ}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "reprocess",
            str(input_id),
            "--url",
            hub_server.url,
            "--token",
            token(role="admin"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    # the plugin has not changed, so it fails again, and says so
    assert out.returncode == 1 and f"{input_id}: error" in out.stdout and "PID-3" in out.stdout
    metrics = httpx.get(hub_server.url + "/metrics").text
    assert 'hub_input_errors_total{adapter="mllp:default",reason="missing_pid3"}' in metrics


async def test_census_frees_beds_without_pv1_3_and_drives_the_bed_board(
    hub_server: HubProcess,
) -> None:
    import httpx

    fac, p1 = uid("F"), uid("P")
    watcher = Listener()
    await watcher.connect(hub_server, token(hospitals=[fac]))
    await watcher.join(f"hospital_{fac}")
    pid3 = f"{p1}^^^HOSP^MR"
    results = await send(
        hub_server,
        adt("A01", uid("c"), pid3, f"I|4E^10^A^{fac}"),
        # A08 naming the same bed: demographics only, no bed event
        adt("A08", uid("c"), pid3, f"I|4E^10^A^{fac}"),
        # A08 naming another bed: many EHRs move patients this way
        adt("A08", uid("c"), pid3, f"I|4E^11^B^{fac}"),
        # A03 with an empty PV1-3: the census knows which bed to free
        adt("A03", uid("c"), pid3, "I", structure="ADT_A03"),
    )
    assert [c for c, _ in results] == ["AA"] * 4
    await watcher.wait_for(lambda: len(watcher.of("bed_status_changed")) >= 4)
    beds = [
        (e["bed_info"]["bed_id"], e["bed_info"]["status"]) for e in watcher.of("bed_status_changed")
    ]
    assert beds == [
        ("4E:10:A", "occupied"),
        ("4E:10:A", "cleaning"),
        ("4E:11:B", "occupied"),
        ("4E:11:B", "cleaning"),
    ]
    board = httpx.get(
        f"{hub_server.url}/api/hospitals/{fac}/beds",
        headers={"Authorization": f"Bearer {token(hospitals=[fac])}"},
    ).json()
    assert {b["bed_id"]: (b["status"], b.get("patient_id")) for b in board["beds"]} == {
        "4E:10:A": ("cleaning", None),
        "4E:11:B": ("cleaning", None),
    }
    other = httpx.get(
        f"{hub_server.url}/api/hospitals/{fac}/beds",
        headers={"Authorization": f"Bearer {token(hospitals=['elsewhere'])}"},
    )
    assert other.status_code == 403
    await watcher.close()


async def test_a40_merge_moves_bed_and_triage_to_the_surviving_patient(
    hub_server: HubProcess,
) -> None:
    """A40 (clinical-reference §1.3 triggers; MRG-1 prior patient identifier list)."""
    fac, old, new, visit = uid("F"), uid("P"), uid("P"), uid("V")
    hospital, retired_room = Listener(), Listener()
    await hospital.connect(hub_server, token(hospitals=[fac]))
    await hospital.join(f"hospital_{fac}")
    await hospital.join("triage_queue")
    await retired_room.connect(hub_server, token(hospitals=[fac]))
    pv1_ed = f"E|ED^1^A^{fac}" + "|" * 16 + visit
    assert await send(
        hub_server, adt("A04", uid("c"), f"{old}^^^HOSP^MR", pv1_ed, structure="ADT_A01")
    ) == [("AA", None)]
    assert (await retired_room.join(f"patient_{old}"))["ok"] is True
    merge = (
        f"MSH|^~\\&|PAS|HOSP|HUB|HOSP|20260310170000||ADT^A40^ADT_A39|{uid('c')}|P|2.5.1\r"
        f"EVN||20260310170000\rPID|||{new}^^^HOSP^MR||Doe^Test\r"
        f"MRG|{old}^^^HOSP^MR\r"
    ).encode()
    assert await send(hub_server, merge) == [("AA", None)]
    await hospital.wait_for(lambda: len(hospital.of("bed_status_changed")) >= 2)
    await hospital.wait_for(lambda: len(hospital.of("triage_updated")) >= 2)
    beds = [
        (e["bed_info"]["bed_id"], e["bed_info"].get("patient_id"))
        for e in hospital.of("bed_status_changed")
    ]
    assert beds == [("ED:1:A", old), ("ED:1:A", new)]
    triage = [(e["triage_id"], e["status"], e["patient_id"]) for e in hospital.of("triage_updated")]
    assert triage == [(visit, "assigned", old), (visit, "assigned", new)]
    await retired_room.wait_for(lambda: bool(retired_room.of("patient_alert")))
    [alert] = retired_room.of("patient_alert")
    assert alert["alert_type"] == "info" and alert["alert_data"]["surviving_patient_id"] == new
    # the census follows the survivor: a discharge without PV1-3 frees the merged bed, and
    # staff of the hospital may open the survivor's room
    assert await send(
        hub_server, adt("A03", uid("c"), f"{new}^^^HOSP^MR", "E", structure="ADT_A03")
    ) == [("AA", None)]
    await hospital.wait_for(lambda: len(hospital.of("bed_status_changed")) >= 3)
    assert hospital.of("bed_status_changed")[-1]["bed_info"]["status"] == "cleaning"
    assert (await retired_room.join(f"patient_{new}"))["ok"] is True
    await hospital.close()
    await retired_room.close()
