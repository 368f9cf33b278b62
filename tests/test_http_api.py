"""The HTTP API of a real hub: publishing, bad input, operations endpoints, CORS."""

from __future__ import annotations

import httpx
import pytest

from hub.events import EVENT_TYPES
from tests.conftest import HubProcess, publish, token, uid


def auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def test_index_names_the_hub_and_links(hub_server: HubProcess) -> None:
    r = httpx.get(hub_server.url + "/")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "clinical-hub" and body["version"]
    assert body["links"]["openapi"] == "/openapi.json"


def test_health_ready_metrics(hub_server: HubProcess, service_token: str) -> None:
    assert httpx.get(hub_server.url + "/health").json() == {"status": "alive"}
    ready = httpx.get(hub_server.url + "/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    publish(
        hub_server,
        "hospital_alert",
        {"hospital_id": uid("H"), "alert_type": "system", "alert_data": {}},
        service_token,
    )
    metrics = httpx.get(hub_server.url + "/metrics").text
    for name in (
        "hub_connected_clients",
        "hub_room_joins_total",
        "hub_events_total",
        "hub_journal_write_seconds_bucket",
        "hub_emit_seconds_bucket",
        "hub_replayed_events_total",
        "hub_inputs_total",
        "hub_input_errors_total",
    ):
        assert name in metrics, name
    assert 'hub_events_total{type="hospital_alert"}' in metrics


def test_publish_returns_id_and_seq_and_is_idempotent_by_id(
    hub_server: HubProcess, service_token: str
) -> None:
    body = {
        "id": uid("evt-"),
        "patient_id": uid("P"),
        "alert_type": "warning",
        "alert_data": {"message": "NEWS2 5"},
    }
    first = publish(hub_server, "patient_alert", body, service_token)
    assert first.status_code == 202
    again = publish(hub_server, "patient_alert", body, service_token)
    assert again.status_code == 202
    assert again.json() == {**first.json(), "duplicate": True}
    assert first.json()["duplicate"] is False and first.json()["id"] == body["id"]


@pytest.mark.parametrize(
    ("event_type", "body", "field"),
    [
        (
            "risk_updated",
            {"patient_id": "P1", "risk_score": 1.5, "risk_level": "high"},
            "risk_score",
        ),
        (
            "risk_updated",
            {"patient_id": "P1", "risk_score": "high", "risk_level": "high"},
            "risk_score",
        ),
        ("patient_alert", {"patient_id": "P1", "alert_type": "panic"}, "alert_type"),
        ("patient_alert", {"alert_type": "critical"}, "patient_id"),
        ("patient_alert", {"patient_id": "P 1/../x", "alert_type": "critical"}, "patient_id"),
        ("hospital_alert", {"hospital_id": "H1", "alert_type": "emergency", "extra": 1}, "extra"),
        (
            "bed_status_changed",
            {"hospital_id": "H1", "bed_info": {"status": "x"}},
            "bed_info.bed_id",
        ),
        (
            "staff_availability_changed",
            {"hospital_id": "H1", "staff_id": "S1", "staff_type": "doctor", "available": "maybe"},
            "available",
        ),
    ],
)
def test_invalid_events_get_422_naming_the_field(
    hub_server: HubProcess,
    service_token: str,
    event_type: str,
    body: dict[str, object],
    field: str,
) -> None:
    r = publish(hub_server, event_type, body, service_token)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_event"
    assert field in [e["field"] for e in r.json()["errors"]]


def test_bad_requests_get_specific_errors_and_change_nothing(
    hub_server: HubProcess, service_token: str
) -> None:
    before = httpx.get(hub_server.url + "/ready").json()["last_seq"]
    url = hub_server.url + "/api/events/hospital_alert"
    headers = {**auth(service_token), "Content-Type": "application/json"}
    r = httpx.post(url, content=b'{"hospital_id": "H1", ', headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    r = httpx.post(url, content=b"[1, 2]", headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = httpx.post(
        url,
        content=b"hospital_id=H1",
        headers={**auth(service_token), "Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    r = httpx.post(
        hub_server.url + "/api/events/coffee_ready", json={}, headers=auth(service_token)
    )
    assert r.status_code == 404 and r.json()["error"] == "unknown_event_type"
    big = {"hospital_id": "H1", "alert_type": "system", "alert_data": {"x": "a" * 2_000_000}}
    r = httpx.post(url, json=big, headers=auth(service_token))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = httpx.post(url, json={"hospital_id": "H1", "alert_type": "system"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = httpx.post(
        url,
        json={"hospital_id": "H1", "alert_type": "system"},
        headers=auth(token(role="nurse", hospitals=["H1"])),
    )
    assert r.status_code == 403
    assert httpx.get(hub_server.url + "/ready").json()["last_seq"] == before


def test_schemas_and_openapi(hub_server: HubProcess) -> None:
    index = httpx.get(hub_server.url + "/api/schemas").json()
    assert set(index) == set(EVENT_TYPES)
    schema = httpx.get(hub_server.url + "/api/schemas/risk_updated").json()
    assert schema["properties"]["risk_score"]["maximum"] == 1.0
    assert {"id", "seq", "type", "timestamp", "received_at", "source"} <= set(schema["required"])
    assert httpx.get(hub_server.url + "/api/schemas/nope").status_code == 404
    doc = httpx.get(hub_server.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/api/events/patient_alert" in doc["paths"] and "/api/events" in doc["paths"]


def test_cors_allows_configured_origins_only(hub_server: HubProcess) -> None:
    ok = httpx.options(
        hub_server.url + "/api/events",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
    )
    assert ok.headers.get("access-control-allow-origin") == "http://localhost:5173"
    evil = httpx.options(
        hub_server.url + "/api/events",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in evil.headers
    # Engine.IO refuses a browser handshake from an unknown origin
    r = httpx.get(
        hub_server.url + "/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 400
    r = httpx.get(
        hub_server.url + "/socket.io/",
        params={"EIO": "4", "transport": "polling"},
        headers={"Origin": "http://localhost:5173"},
    )
    assert r.status_code == 200


def test_unknown_path_is_json_404(hub_server: HubProcess) -> None:
    r = httpx.get(hub_server.url + "/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
