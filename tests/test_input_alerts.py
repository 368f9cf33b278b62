"""System alerts about inputs: a silent MLLP sender, and one alert per failure streak."""

from __future__ import annotations

from pathlib import Path

from hub.testing import Pipeline
from tests.conftest import HubProcess, token
from tests.hl7.test_adt_events import adt, send
from tests.test_socketio import Listener


async def test_a_silent_mllp_sender_raises_one_alert_and_its_return_clears_it(
    tmp_path: Path,
) -> None:
    hub = HubProcess(tmp_path)
    hub.settings["hl7_mllp"]["listeners"][0].update(max_silence_s=1.5, alert_hospitals=["SYS1"])
    hub.start()
    try:
        watcher = Listener()
        await watcher.connect(hub, token(hospitals=["SYS1"]))
        assert (await watcher.join("hospital_SYS1"))["ok"] is True
        await watcher.wait_for(lambda: bool(watcher.of("hospital_alert")), timeout=10)
        [silent] = watcher.of("hospital_alert")
        assert silent["alert_type"] == "system"
        assert silent["alert_data"]["input"] == "mllp:default"
        assert (silent["alert_data"]["problem"], silent["alert_data"]["state"]) == (
            "silent",
            "raised",
        )
        await __import__("asyncio").sleep(2.5)  # still silent: no second alert
        assert len(watcher.of("hospital_alert")) == 1
        message = adt("A01", "SIL-1", "P-SIL^^^HOSP^MR", "I|1^2^3^HOSP")
        assert await send(hub, message) == [("AA", None)]
        await watcher.wait_for(lambda: len(watcher.of("hospital_alert")) >= 2, timeout=10)
        cleared = watcher.of("hospital_alert")[1]["alert_data"]
        assert (cleared["problem"], cleared["state"]) == ("silent", "cleared")
        await watcher.close()
    finally:
        hub.stop()


async def test_a_failing_input_alerts_once_per_streak() -> None:
    async with Pipeline() as pipeline:
        alerts = pipeline.hub.input_alerts
        for _ in range(5):  # a poller failing every attempt
            alerts.problem("feed:beds", "failing", ["H1", "H2"], "feed:beds: HTTP 401", status=401)
        assert alerts.open_problems() == {"feed:beds": "failing"}
        assert alerts.resolved("feed:beds", "failing", "feed:beds: polling again") is True
        assert alerts.resolved("feed:beds", "failing", "again") is False
        await __import__("asyncio").sleep(0.2)
        events = pipeline.of("hospital_alert")
        assert [(e.rooms, e.data["alert_data"]["state"]) for e in events] == [
            (("hospital_H1",), "raised"),
            (("hospital_H2",), "raised"),
            (("hospital_H1",), "cleared"),
            (("hospital_H2",), "cleared"),
        ]
        assert events[0].data["alert_data"]["status"] == 401
