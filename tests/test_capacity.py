"""plugins.capacity: occupancy per unit and hospital, threshold alerts with hysteresis."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from hub import hookimpl
from hub.config import ConfigError
from hub.events import BedStatusChanged, EventDraft
from hub.inputs import InboundMessage
from hub.testing import Pipeline
from plugins import capacity
from plugins.capacity import CapacitySettings, next_level
from tests.conftest import HubProcess, token, uid
from tests.hl7.test_adt_events import adt, send
from tests.test_socketio import Listener

Change = tuple[str | None, str, str]  # (unit, bed, status)


class Beds:
    """A bed feed for tests: ``kind="bed"`` messages list bed changes of one hospital."""

    @hookimpl
    def normalize(self, message: InboundMessage) -> list[EventDraft] | None:
        if message.kind != "bed":
            return None
        hospital = message.body["hospital"]
        return [
            EventDraft(
                payload=BedStatusChanged(
                    hospital_id=hospital,
                    bed_info={"bed_id": bed, "unit": unit, "status": status},
                ),
                source=message.source,
            )
            for unit, bed, status in message.body["changes"]
        ]


def pipeline(state: Path | None = None, with_capacity: bool = True, **settings: Any) -> Pipeline:
    return Pipeline(
        {"beds": Beds()},
        entry_points=with_capacity,
        only=["capacity"],
        settings={"capacity": settings},
        state=state,
    )


async def beds(hub: Pipeline, hospital: str, *changes: Change) -> None:
    """Journal the changes as one message (one write batch), then let the alerts land."""
    await hub.feed(
        InboundMessage(
            kind="bed", source="test", body={"hospital": hospital, "changes": list(changes)}
        )
    )
    await capacity.drain()


def unit(name: str, first: int, last: int, status: str) -> list[Change]:
    return [(name, f"{name}-{n}", status) for n in range(first, last + 1)]


def alerts(hub: Pipeline) -> list[dict[str, Any]]:
    out = []
    for event in hub.of("hospital_alert"):
        assert event.data["alert_type"] == "capacity" and event.source == "capacity"
        out.append({"hospital": event.data["hospital_id"], **event.data["alert_data"]})
    return out


def levels(hub: Pipeline) -> list[tuple[str, str | None, str]]:
    return [(a["scope"], a.get("unit"), a["level"]) for a in alerts(hub)]


# --- the level function ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "occupancy", "expected"),
    [
        (0, 0.89, 0),
        (0, 0.90, 1),
        (0, 0.95, 2),
        (0, 1.0, 2),
        (1, 0.87, 1),  # held: not below warning - hysteresis
        (1, 0.869, 0),
        (1, 0.94, 1),
        (2, 0.92, 2),  # held: not below critical - hysteresis
        (2, 0.919, 1),
        (2, 0.87, 1),
        (2, 0.86, 0),
    ],
)
def test_levels_rise_at_thresholds_and_fall_below_threshold_minus_hysteresis(
    current: int, occupancy: float, expected: int
) -> None:
    assert next_level(current, occupancy, CapacitySettings()) == expected


# --- alerts through the pipeline ---------------------------------------------------------------


async def test_a_unit_crossing_warning_alerts_once_and_clears_when_it_falls_back() -> None:
    async with pipeline(per_hospital=False) as hub:
        await beds(hub, "H1", *unit("4E", 1, 8, "occupied"), *unit("4E", 9, 10, "available"))
        assert alerts(hub) == []
        await beds(hub, "H1", ("4E", "4E-9", "occupied"))
        [warning] = alerts(hub)
        assert warning == {
            "hospital": "H1",
            "message": "Unit 4E at 90% (9 of 10 beds): warning",
            "level": "warning",
            "previous": "none",
            "scope": "unit",
            "unit": "4E",
            "occupancy": 0.9,
            "occupied": 9,
            "beds": 10,
        }
        [event] = hub.of("hospital_alert")
        assert event.rooms == ("hospital_H1",)
        await beds(hub, "H1", ("4E", "4E-1", "cleaning"))
        cleared = alerts(hub)[-1]
        assert cleared["level"] == "cleared" and cleared["previous"] == "warning"
        assert cleared["message"] == "Unit 4E at 80% (8 of 10 beds): cleared"
        assert levels(hub) == [("unit", "4E", "warning"), ("unit", "4E", "cleared")]


async def test_a_bed_flickering_at_the_threshold_raises_one_alert() -> None:
    async with pipeline(per_hospital=False) as hub:
        # 40 beds: 36 occupied is 90%, 35 is 87.5%, still above the 87% clearing line
        await beds(hub, "H1", *unit("W", 1, 35, "occupied"), *unit("W", 36, 40, "available"))
        for _ in range(5):
            await beds(hub, "H1", ("W", "W-36", "occupied"))
            await beds(hub, "H1", ("W", "W-36", "available"))
        assert levels(hub) == [("unit", "W", "warning")]
        await beds(hub, "H1", ("W", "W-35", "available"))  # 34 of 40 = 85%
        assert levels(hub) == [("unit", "W", "warning"), ("unit", "W", "cleared")]


async def test_critical_after_warning_and_back_down_through_warning() -> None:
    async with pipeline(per_hospital=False) as hub:
        await beds(hub, "H1", *unit("W", 1, 35, "occupied"), *unit("W", 36, 40, "available"))
        await beds(hub, "H1", ("W", "W-36", "occupied"))  # 90%
        await beds(hub, "H1", ("W", "W-37", "occupied"))  # 92.5%
        await beds(hub, "H1", ("W", "W-38", "occupied"))  # 95%
        await beds(hub, "H1", ("W", "W-38", "available"))  # 92.5%: critical held
        await beds(hub, "H1", ("W", "W-37", "available"))  # 90%: below 92%
        await beds(hub, "H1", ("W", "W-36", "available"))  # 87.5%: warning held
        await beds(hub, "H1", ("W", "W-35", "available"))  # 85%
        assert [(a["previous"], a["level"], a["occupied"]) for a in alerts(hub)] == [
            ("none", "warning", 36),
            ("warning", "critical", 38),
            ("critical", "warning", 36),
            ("warning", "cleared", 34),
        ]
        assert alerts(hub)[1]["message"] == "Unit W at 95% (38 of 40 beds): critical"


async def test_a_jump_past_both_thresholds_is_one_critical_alert() -> None:
    async with pipeline(per_hospital=False) as hub:
        await beds(hub, "H1", *unit("W", 1, 4, "occupied"), ("W", "W-5", "available"))
        await beds(hub, "H1", ("W", "W-5", "occupied"))  # 80% to 100%
        assert levels(hub) == [("unit", "W", "critical")]
        assert alerts(hub)[0]["previous"] == "none"


async def test_hospital_occupancy_counts_every_unit_and_beds_without_one() -> None:
    async with pipeline() as hub:
        # three units of 3 beds are too small to judge; the hospital's 10 beds are not
        await beds(
            hub,
            "H1",
            *unit("A", 1, 3, "occupied"),
            *unit("B", 1, 3, "occupied"),
            *unit("C", 1, 3, "available"),
            (None, "corridor-1", "occupied"),
        )
        assert alerts(hub) == []
        await beds(hub, "H1", ("C", "C-1", "occupied"), ("C", "C-2", "occupied"))
        [alert] = alerts(hub)
        assert alert["scope"] == "hospital" and "unit" not in alert
        assert alert["message"] == "Hospital H1 at 90% (9 of 10 beds): warning"
        await beds(hub, "H1", ("C", "C-3", "occupied"))
        assert levels(hub)[-1] == ("hospital", None, "critical")
        # bed by bed: 90% is below critical - hysteresis, 80% below warning - hysteresis
        await beds(hub, "H1", *unit("A", 1, 3, "cleaning"))
        assert levels(hub)[2:] == [("hospital", None, "warning"), ("hospital", None, "cleared")]
        assert alerts(hub)[-1]["message"] == "Hospital H1 at 80% (8 of 10 beds): cleared"


async def test_units_and_their_hospital_alert_separately() -> None:
    async with pipeline() as hub:
        await beds(hub, "H2", *unit("A", 1, 5, "available"), *unit("B", 1, 5, "available"))
        await beds(hub, "H2", *unit("A", 1, 5, "occupied"))
        assert levels(hub) == [("unit", "A", "critical")]
        await beds(hub, "H2", *unit("B", 1, 4, "occupied"))
        # B reaches 80%, the hospital 90%
        assert levels(hub)[1:] == [("hospital", None, "warning")]


async def test_units_below_min_beds_are_not_judged() -> None:
    async with pipeline(per_hospital=False) as hub:
        await beds(hub, "H1", *unit("S", 1, 3, "occupied"))
        assert alerts(hub) == []  # 3 of 3 is not a capacity problem worth a page
        await beds(hub, "H1", ("S", "S-4", "occupied"))
        assert levels(hub) == [("unit", "S", "critical")]
        # closing a bed takes the unit under min_beds again: its alert cannot stand
        await beds(hub, "H1", ("S", "S-4", "closed"))
        cleared = alerts(hub)[-1]
        assert cleared["level"] == "cleared" and cleared["beds"] == 3
        assert cleared["message"] == (
            "Unit S at 100% (3 of 3 beds): cleared (fewer than 4 open beds are not judged)"
        )

    async with pipeline(per_hospital=False, min_beds=2) as hub:
        await beds(hub, "H1", *unit("S", 1, 2, "occupied"))
        assert levels(hub) == [("unit", "S", "critical")]


async def test_closed_beds_are_not_capacity() -> None:
    async with pipeline(per_hospital=False) as hub:
        await beds(hub, "H1", *unit("W", 1, 8, "occupied"), *unit("W", 9, 10, "available"))
        await beds(hub, "H1", ("W", "W-10", "closed"))  # 8 of 9 = 88.9%
        assert alerts(hub) == []
        await beds(hub, "H1", ("W", "W-9", "closed"))  # 8 of 8
        [alert] = alerts(hub)
        assert (alert["level"], alert["occupied"], alert["beds"]) == ("critical", 8, 8)
        await beds(hub, "H1", ("W", "W-9", "available"), ("W", "W-10", "available"))
        assert alerts(hub)[-1]["level"] == "cleared"


async def test_status_lists_and_hospital_allow_list_are_configurable() -> None:
    async with pipeline(
        per_hospital=False,
        occupied_statuses=["Occupied", "reserved"],
        excluded_statuses=["closed", "contaminated"],
        hospitals=["H1"],
    ) as hub:
        await beds(hub, "H2", *unit("W", 1, 10, "occupied"))
        assert alerts(hub) == []  # not on the list
        await beds(
            hub,
            "H1",
            *unit("W", 1, 8, "occupied"),
            ("W", "W-9", "reserved"),
            ("W", "W-10", "contaminated"),
        )
        [alert] = alerts(hub)
        assert (alert["level"], alert["occupied"], alert["beds"]) == ("critical", 9, 9)


async def test_a_bed_moving_between_units_leaves_the_first_unit() -> None:
    async with pipeline(per_hospital=False) as hub:
        await beds(hub, "H1", *unit("A", 1, 4, "occupied"), *unit("B", 1, 4, "available"))
        assert levels(hub) == [("unit", "A", "critical")]
        await beds(hub, "H1", ("B", "A-4", "available"))  # A: 3 beds, B: 0 of 5
        assert levels(hub)[1:] == [("unit", "A", "cleared")]
        monitor = capacity.MONITOR
        assert monitor is not None
        counts = monitor.counts("H1", "B")
        assert counts is not None and (counts.occupied, counts.beds) == (0, 5)


async def test_a_hospital_first_seen_is_judged_on_the_census_not_on_a_batch_in_flight() -> None:
    async with pipeline(per_hospital=False) as hub:
        # one message, one write batch: the census already has the end state when the first
        # of these events is observed, and passing 100% on the way must not alert
        await beds(hub, "H1", *unit("W", 1, 10, "occupied"), *unit("W", 1, 3, "available"))
        assert alerts(hub) == []
        monitor = capacity.MONITOR
        assert monitor is not None
        counts = monitor.counts("H1", "W")
        assert counts is not None and (counts.occupied, counts.beds) == (7, 10)


async def test_after_a_restart_an_active_alert_is_raised_again_once(tmp_path: Path) -> None:
    async with pipeline(tmp_path) as hub:
        await beds(hub, "H1", *unit("W", 1, 9, "occupied"), *unit("W", 10, 10, "available"))
        await beds(hub, "H1", *unit("X", 1, 4, "available"))
        assert levels(hub) == [
            ("unit", "W", "warning"),
            ("hospital", None, "warning"),
            ("hospital", None, "cleared"),  # 9 of 14
        ]
        before = hub.hub.journal.last_seq
    async with pipeline(tmp_path) as hub:
        assert hub.hub.journal.last_seq == before
        await beds(hub, "H1", ("X", "X-1", "cleaning"))
        # the hub lost its levels: the first bed event of H1 re-judges every unit from the
        # census (W is still at 90%, the hospital has fallen to 64%)
        assert levels(hub) == [("unit", "W", "warning")]
        await beds(hub, "H1", ("X", "X-2", "cleaning"))
        assert levels(hub) == [("unit", "W", "warning")]


async def test_the_plugins_own_alerts_are_not_bed_events() -> None:
    async with pipeline(per_hospital=False) as hub:
        await beds(hub, "H1", *unit("W", 1, 10, "occupied"))
        await asyncio.sleep(0.05)
        assert len(hub.of("hospital_alert")) == 1 and not capacity._TASKS


class InAThread:
    """capacity as an isolated plugin runs: event_journaled in a thread, off the event loop."""

    @hookimpl
    def configure(self, hub: Any) -> None:
        capacity.configure(hub)

    @hookimpl
    def event_journaled(self, event: Any) -> None:
        worker = threading.Thread(target=capacity.event_journaled, args=(event,))
        worker.start()
        worker.join()


async def test_alerts_decided_off_the_loop_are_published_on_the_hubs_loop() -> None:
    async with Pipeline({"beds": Beds(), "capacity": InAThread()}) as hub:
        await capacity.PUBLISHER.start(hub.hub)
        await beds(hub, "H1", *unit("W", 1, 10, "occupied"))
        await capacity.PUBLISHER.stop()  # drains what the worker scheduled
        assert levels(hub) == [("unit", "W", "critical"), ("hospital", None, "critical")]


async def test_without_a_loop_an_alert_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capacity.PUBLISHER, "loop", None)  # the hub never started it
    async with Pipeline({"beds": Beds(), "capacity": InAThread()}) as hub:
        with caplog.at_level(logging.ERROR, "plugins.capacity"):
            await beds(hub, "H1", *unit("W", 1, 10, "occupied"))
        assert alerts(hub) == []
        assert "capacity alert not published: no event loop" in caplog.text


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"warning": 1.5}, "plugins.settings.capacity.warning: Input should be less than"),
        ({"warning": 0.9, "critical": 0.8}, "plugins.settings.capacity.critical:"),
        ({"hysteresis": 0.95}, "plugins.settings.capacity.hysteresis:"),
        ({"min_beds": 0}, "plugins.settings.capacity.min_beds:"),
        ({"excluded_statuses": ["occupied"]}, "plugins.settings.capacity.excluded_statuses:"),
        ({"hospitals": "H1"}, "plugins.settings.capacity.hospitals:"),
        ({"warnings": 0.8}, "plugins.settings.capacity.warnings: unknown key"),
    ],
)
async def test_bad_settings_stop_the_hub_naming_the_key(
    settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem.replace(".", r"\.")):
        async with pipeline(**settings):
            pass


# --- end to end ---------------------------------------------------------------------------------


def a20(location: str, status: str) -> bytes:
    """A bed-board update: the bed at ``location`` gets the table 0116 ``status``."""
    return (
        f"MSH|^~\\&|BB|HOSP|HUB|HOSP|20260310170000||ADT^A20^ADT_A20|{uid('c')}|P|2.8\r"
        f"EVN||20260310170000\rNPU|{location}|{status}\r"
    ).encode()


async def test_adt_admissions_fill_a_unit_and_the_hospital_room_hears_it(
    fresh_hub: HubProcess,
) -> None:
    fac = uid("F")
    # a unit of 4 beds: 3 admissions are 75%
    settings: dict[str, Any] = {"warning": 0.75, "critical": 1.0, "per_hospital": False}
    fresh_hub.settings["capacity"] = settings
    fresh_hub.start()
    watcher = Listener()
    await watcher.connect(fresh_hub, token(hospitals=[fac]))
    try:
        assert (await watcher.join(f"hospital_{fac}"))["ok"]
        patients = [uid("P") for _ in range(3)]
        results = await send(
            fresh_hub,
            *(a20(f"4E^1^{bed}^{fac}", "U") for bed in "ABCD"),
            *(
                adt("A01", uid("c"), f"{p}^^^HOSP^MR", f"I|4E^1^{bed}^{fac}")
                for p, bed in zip(patients, "ABC", strict=True)
            ),
        )
        assert [code for code, _ in results] == ["AA"] * 7

        def capacity_alerts() -> list[dict[str, Any]]:
            return [a for a in watcher.of("hospital_alert") if a["alert_type"] == "capacity"]

        await watcher.wait_for(lambda: len(capacity_alerts()) >= 1)
        [warning] = capacity_alerts()
        assert warning["hospital_id"] == fac
        assert warning["alert_data"]["message"] == "Unit 4E at 75% (3 of 4 beds): warning"
        results = await send(
            fresh_hub,
            adt(
                "A03", uid("c"), f"{patients[0]}^^^HOSP^MR", f"I|4E^1^A^{fac}", structure="ADT_A03"
            ),
        )
        assert [code for code, _ in results] == ["AA"]
        await watcher.wait_for(lambda: len(capacity_alerts()) >= 2)
        cleared = capacity_alerts()[1]
        assert cleared["alert_data"]["level"] == "cleared"
        assert cleared["alert_data"]["message"] == "Unit 4E at 50% (2 of 4 beds): cleared"
        assert cleared["seq"] > warning["seq"]
        await asyncio.sleep(0.3)
        assert len(capacity_alerts()) == 2
    finally:
        await watcher.close()
