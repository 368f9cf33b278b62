"""The seed's six emit functions: in-process (hub.emit) and over HTTP (hub.client)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub import emit
from hub.client import AsyncHubClient, HubClient, HubError
from hub.runtime import HubContext
from tests.conftest import HubProcess, embedded_config, token, uid

SEED_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    # the seed's own examples (../shared/seed), argument for argument
    (
        "emit_patient_alert",
        ("patient_123", "critical", {"message": "Critical condition detected", "severity": "high"}),
        {},
        "patient_alert",
    ),
    (
        "emit_risk_update",
        ("patient_123", 0.92, "critical", {"feature": "heart_rate", "impact": "high"}),
        {},
        "risk_updated",
    ),
    (
        "emit_hospital_alert",
        ("hosp_456", "emergency", {"message": "Emergency situation"}),
        {},
        "hospital_alert",
    ),
    ("emit_triage_update", ("triage_789", "assigned", "patient_123"), {}, "triage_updated"),
    (
        "emit_availability_update",
        ("hosp_456", "doc_001", "doctor", True),
        {},
        "staff_availability_changed",
    ),
    (
        "emit_bed_status_update",
        ("hosp_456", {"bed_id": "bed_101", "status": "occupied", "patient_id": "patient_123"}),
        {},
        "bed_status_changed",
    ),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "event_type"), SEED_CALLS)
async def test_in_process_emit_journals(
    tmp_path: Path, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], event_type: str
) -> None:
    hub = HubContext(embedded_config(tmp_path))
    await hub.start()
    try:
        event = await getattr(emit, name)(*args, socketio=object(), **kwargs)
        assert event.type == event_type and event.seq == 1 and event.source == "internal"
        page = await hub.journal.read_room(event.rooms[0], 0, 10, 10)
        assert [s for s, _ in page.items] == [1]
    finally:
        await hub.stop()


async def test_in_process_emit_validates(tmp_path: Path) -> None:
    hub = HubContext(embedded_config(tmp_path))
    await hub.start()
    try:
        with pytest.raises(ValidationError):
            await emit.emit_risk_update("P1", 2.0, "high", hub=hub)
    finally:
        await hub.stop()
    with pytest.raises(RuntimeError, match="no hub is running"):
        await emit.emit_hospital_alert("H1", "system")


@pytest.mark.parametrize(("name", "args", "kwargs", "event_type"), SEED_CALLS)
def test_http_client_has_the_same_six(
    hub_server: HubProcess,
    service_token: str,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    event_type: str,
) -> None:
    with HubClient(hub_server.url, service_token, source="celery") as client:
        result = getattr(client, name)(*args, **kwargs)
    assert result["duplicate"] is False and result["seq"] > 0


def test_http_client_retry_is_idempotent_and_errors_are_specific(
    hub_server: HubProcess, service_token: str
) -> None:
    event_id = uid("evt-")
    with HubClient(hub_server.url, service_token) as client:
        first = client.emit_hospital_alert("H1", "system", {"m": 1}, event_id=event_id)
        again = client.emit_hospital_alert("H1", "system", {"m": 1}, event_id=event_id)
        assert again == {**first, "duplicate": True}
        with pytest.raises(HubError) as err:
            client.emit_risk_update("P1", 7, "high")
        assert err.value.status == 422
    with HubClient(hub_server.url, token(role="nurse")) as client, pytest.raises(HubError) as err:
        client.emit_hospital_alert("H1", "system")
    assert err.value.status == 403


async def test_async_http_client(hub_server: HubProcess, service_token: str) -> None:
    async with AsyncHubClient(hub_server.url, service_token) as client:
        result = await client.emit_triage_update(uid("T"), "pending", uid("P"), hospital_id="H1")
    assert result["seq"] > 0
