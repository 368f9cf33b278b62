"""hub.testing and its pytest fixtures, as a plugin author uses them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from hub import hookimpl
from hub.events import EventDraft, PatientAlert
from hub.inputs import InboundMessage, NormalizeFailed
from hub.testing import LiveHub, Pipeline

A01 = (
    "MSH|^~\\&|PAS|HOSP|HUB|HOSP|20260310160000||ADT^A01^ADT_A01|KIT-1|P|2.5.1\n"
    "EVN||20260310160000\nPID|||P-KIT^^^HOSP^MR||Doe^Test\nPV1||I|4E^12^B^HOSP\n"
)


class Threshold:
    """A tiny third-party rule: a lactate above the configured limit is a critical alert."""

    limit = 4.0

    @hookimpl
    def configure(self, hub: Any) -> None:
        self.limit = float(hub.plugin_settings("threshold").get("limit", 4.0))

    @hookimpl
    def normalize(self, message: InboundMessage) -> list[EventDraft] | None:
        if message.kind != "lactate":
            return None
        if message.body["value"] <= self.limit:
            return []
        alert = PatientAlert(
            patient_id=message.body["patient"],
            alert_type="critical",
            alert_data={"message": f"lactate {message.body['value']} mmol/L"},
        )
        return [EventDraft(payload=alert, source=message.source)]


async def test_pipeline_runs_a_plugin_with_its_settings() -> None:
    async with Pipeline({"threshold": Threshold()}, settings={"threshold": {"limit": 2}}) as hub:
        low = InboundMessage(kind="lactate", source="lab", body={"patient": "P1", "value": 1.5})
        high = InboundMessage(kind="lactate", source="lab", body={"patient": "P1", "value": 2.5})
        assert await hub.feed(low) == []
        [event] = await hub.feed(high)
        assert event.type == "patient_alert" and event.rooms == ("patient_P1",)
        assert event.data["alert_data"]["message"] == "lactate 2.5 mmol/L"
        assert event.seq == 1
        bad = InboundMessage(kind="lactate", source="lab", body={"patient": "", "value": 9})
        with pytest.raises(NormalizeFailed, match="patient_id"):
            await hub.feed(bad)


async def test_pipeline_with_installed_plugins_reads_hl7() -> None:
    async with Pipeline(entry_points=True, only=["adt"]) as hub:
        [bed] = await hub.hl7(A01)
        assert bed.type == "bed_status_changed"
        assert bed.data["bed_info"]["bed_id"] == "4E:12:B"
        assert hub.of("bed_status_changed") == [bed]


async def test_hub_pipeline_fixture(hub_pipeline: Callable[..., Awaitable[Pipeline]]) -> None:
    hub = await hub_pipeline({"threshold": Threshold()})
    events = await hub.feed(
        InboundMessage(kind="lactate", source="lab", body={"patient": "P2", "value": 5})
    )
    assert [e.type for e in events] == ["patient_alert"]


def test_live_hub_fixture(live_hub: Callable[..., LiveHub]) -> None:
    hub = live_hub(plugins=["room_policy"])
    response = httpx.post(
        f"{hub.url}/api/events/patient_alert",
        json={"patient_id": "P3", "alert_type": "info", "alert_data": {"message": "kit"}},
        headers={"Authorization": f"Bearer {hub.token()}"},
    )
    assert response.status_code == 202 and response.json()["seq"] == 1
