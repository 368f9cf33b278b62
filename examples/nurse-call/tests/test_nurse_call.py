"""The plugin's own tests, written with the hub's testing kit (no sockets needed)."""

from __future__ import annotations

import hub_nurse_call
import pytest

from hub.inputs import InboundMessage


def call(**fields: object) -> InboundMessage:
    body = hub_nurse_call.Call.model_validate({"call_id": "c1", "patient_id": "P1", **fields})
    return InboundMessage(kind="nurse-call", source="nurse-call", body=body)


async def test_code_blue_alerts_the_patient_room_and_the_hospital(hub_pipeline) -> None:  # type: ignore[no-untyped-def]
    hub = await hub_pipeline(
        {"nurse_call": hub_nurse_call}, settings={"nurse_call": {"hospital_id": "H9"}}
    )
    events = await hub.feed(call(kind="code-blue", bed_id="4E:1:A"))
    assert [(e.type, e.rooms) for e in events] == [
        ("patient_alert", ("patient_P1",)),
        ("hospital_alert", ("hospital_H9",)),
    ]
    assert events[0].data["alert_type"] == "critical"


async def test_a_normal_call_is_information(hub_pipeline) -> None:  # type: ignore[no-untyped-def]
    hub = await hub_pipeline({"nurse_call": hub_nurse_call})
    [event] = await hub.feed(call())
    assert event.data["alert_type"] == "info"
    assert event.data["alert_data"]["message"] == "nurse call: normal"


async def test_settings_are_validated(hub_pipeline) -> None:  # type: ignore[no-untyped-def]
    from hub.config import ConfigError

    with pytest.raises(ConfigError, match=r"plugins\.settings\.nurse_call\.colour: unknown key"):
        await hub_pipeline({"nurse_call": hub_nurse_call}, settings={"nurse_call": {"colour": 1}})
