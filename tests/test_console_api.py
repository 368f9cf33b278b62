"""What the clinician console needs from the hub: the open triage queue of a hospital, the
operator's status page, and the built console served under /console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from quart import Quart

from hub.api import console as console_api
from hub.runtime import HubContext
from tests.conftest import HubProcess, embedded_config, publish, token, uid


def auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def triage(hub: HubProcess, svc: str, tid: str, status: str, patient: str, **extra: Any) -> None:
    body = {"triage_id": tid, "status": status, "patient_id": patient, **extra}
    r = publish(hub, "triage_updated", body, svc)
    assert r.status_code == 202, r.text


# --- GET /api/triage ----------------------------------------------------------------------------


def test_triage_lists_open_cases_of_one_hospital_by_priority_then_waiting(
    hub_server: HubProcess, service_token: str
) -> None:
    h, other = uid("H"), uid("H")
    t_wait, t_urgent, t_done, t_cancel, t_elsewhere = (uid("T") for _ in range(5))
    p = {name: uid("P") for name in ("wait", "urgent", "done", "cancel", "elsewhere")}
    triage(
        hub_server, service_token, t_wait, "pending", p["wait"], hospital_id=h, priority=3,
        timestamp="2030-01-01T10:00:00Z",
    )  # fmt: skip
    triage(
        hub_server, service_token, t_urgent, "pending", p["urgent"], hospital_id=h,
        priority=2, timestamp="2030-01-01T10:05:00Z",
    )  # fmt: skip
    triage(
        hub_server, service_token, t_urgent, "triaged", p["urgent"], hospital_id=h,
        priority=1, timestamp="2030-01-01T10:07:00Z", details={"area": "resus"},
    )  # fmt: skip
    triage(hub_server, service_token, t_done, "pending", p["done"], hospital_id=h)
    triage(hub_server, service_token, t_done, "completed", p["done"], hospital_id=h)
    triage(hub_server, service_token, t_cancel, "assigned", p["cancel"], hospital_id=h)
    triage(hub_server, service_token, t_cancel, "cancelled", p["cancel"], hospital_id=h)
    triage(hub_server, service_token, t_elsewhere, "pending", p["elsewhere"], hospital_id=other)

    r = httpx.get(
        f"{hub_server.url}/api/triage",
        params={"hospital": h},
        headers=auth(token("nurse", hospitals=[h])),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hospital_id"] == h and body["seq"] >= 1 and body["complete"] is True
    assert [c["triage_id"] for c in body["cases"]] == [t_urgent, t_wait]
    urgent, waiting = body["cases"]
    assert urgent["status"] == "triaged" and urgent["priority"] == 1
    assert urgent["patient_id"] == p["urgent"] and urgent["hospital_id"] == h
    assert urgent["opened_at"].startswith("2030-01-01T10:05:00")
    assert urgent["since"].startswith("2030-01-01T10:07:00")  # when it became triaged
    assert urgent["details"] == {"area": "resus"}
    assert waiting["status"] == "pending" and waiting["priority"] == 3
    assert waiting["since"] == waiting["opened_at"]
    assert isinstance(waiting["seq"], int)


def test_triage_case_without_hospital_is_placed_by_the_census(
    hub_server: HubProcess, service_token: str
) -> None:
    h, patient, tid = uid("H"), uid("P"), uid("T")
    r = publish(
        hub_server,
        "patient_alert",
        {"patient_id": patient, "alert_type": "info", "hospital_id": h},
        service_token,
    )
    assert r.status_code == 202
    triage(hub_server, service_token, tid, "pending", patient)
    r = httpx.get(
        f"{hub_server.url}/api/triage",
        params={"hospital": h},
        headers=auth(token("doctor", hospitals=[h])),
    )
    assert [(c["triage_id"], c["hospital_id"]) for c in r.json()["cases"]] == [(tid, h)]


def test_triage_is_for_clinical_roles_of_the_hospital(
    hub_server: HubProcess, service_token: str, admin_token: str
) -> None:
    h = uid("H")
    url = f"{hub_server.url}/api/triage"
    assert httpx.get(url, params={"hospital": h}).status_code == 401
    other = httpx.get(url, params={"hospital": h}, headers=auth(token("nurse", hospitals=["X"])))
    assert other.status_code == 403 and other.json()["error"] == "forbidden"
    svc = httpx.get(url, params={"hospital": h}, headers=auth(service_token))
    assert svc.status_code == 403
    porter = httpx.get(url, params={"hospital": h}, headers=auth(token("porter", hospitals=[h])))
    assert porter.status_code == 403
    missing = httpx.get(url, headers=auth(token("nurse", hospitals=[h])))
    assert missing.status_code == 400 and missing.json()["error"] == "bad_request"
    bad = httpx.get(url, params={"hospital": "a b"}, headers=auth(admin_token))
    assert bad.status_code == 400
    admin = httpx.get(url, params={"hospital": h}, headers=auth(admin_token))
    assert admin.status_code == 200 and admin.json()["cases"] == []


# --- GET /api/ops/status ------------------------------------------------------------------------


async def test_ops_status_reports_inputs_rates_errors_clients_and_journal(
    hub_server: HubProcess, service_token: str, admin_token: str
) -> None:
    url = f"{hub_server.url}/api/ops/status"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=auth(token("nurse", hospitals=["H1"]))).status_code == 403

    before = httpx.get(url, headers=auth(admin_token)).json()
    h = uid("H")
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        hub_server.url, auth={"token": token("nurse", hospitals=[h])}, transports=["websocket"]
    )
    try:
        assert (await client.call("join_room", {"room": f"hospital_{h}"}, timeout=10))["ok"]
        r = publish(
            hub_server,
            "hospital_alert",
            {"hospital_id": h, "alert_type": "system", "alert_data": {"message": "test"}},
            service_token,
        )
        assert r.status_code == 202
        seq = r.json()["seq"]
        status = httpx.get(url, headers=auth(admin_token))
    finally:
        await client.disconnect()
    assert status.status_code == 200, status.text
    body = status.json()

    assert body["node"]["name"] == "clinical-hub" and body["node"]["version"]
    assert body["node"]["node_id"] and body["node"]["uptime_s"] >= 0
    assert body["journal"]["backend"] == "sqlite" and body["journal"]["last_seq"] >= seq

    inputs = {i["name"]: i for i in body["inputs"]}
    assert inputs, "the repository's config runs inputs"
    for item in inputs.values():
        assert item["kind"] == item["name"].split(":")[0]
        assert isinstance(item["healthy"], bool)
        assert item["problem"] is None if item["healthy"] else item["problem"]
        assert item["last_activity"] is None or item["last_activity"].endswith("Z")

    messages = body["messages"]
    assert messages["window_s"] > 0
    alerts = messages["events"]["by_type"]["hospital_alert"]
    assert alerts["total"] >= 1 and alerts["per_min"] >= 0
    assert messages["events"]["total"] > before["messages"]["events"]["total"]
    assert messages["deliveries"]["total"] >= 1
    for key in ("inputs", "input_errors"):
        assert set(messages[key]) >= {"total", "per_min"}

    errors = body["inbound_errors"]
    assert isinstance(errors["count"], int) and errors["capped"] is False

    realtime = body["realtime"]
    assert realtime["connected_clients"] >= 1
    assert realtime["rooms"] >= 1 and realtime["rooms_by_kind"]["hospital"] >= 1


# --- /console -----------------------------------------------------------------------------------


def console_app(tmp_path: Path, dist: Path) -> Quart:
    app = Quart("console-test")
    app.register_blueprint(console_api.blueprint(HubContext(embedded_config(tmp_path)), dist))
    return app


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>console</title>")
    (root / "assets" / "index-3f9a1c.js").write_text("console.log(1)")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for you")
    return root


async def test_console_serves_index_for_routes_and_caches_hashed_assets(
    tmp_path: Path, dist: Path
) -> None:
    client = console_app(tmp_path, dist).test_client()
    for path in ("/console", "/console/", "/console/index.html", "/console/beds/H1"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert "<title>console</title>" in await r.get_data(as_text=True)
        assert r.headers["Cache-Control"] == "no-cache", path
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    asset = await client.get("/console/assets/index-3f9a1c.js")
    assert asset.status_code == 200 and "javascript" in asset.headers["Content-Type"]
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    icon = await client.get("/console/favicon.svg")
    assert icon.status_code == 200 and icon.headers["Cache-Control"] == "no-cache"
    for missing in ("/console/assets/index-000000.js", "/console/robots.txt"):
        r = await client.get(missing)
        assert r.status_code == 404 and (await r.get_json())["error"] == "not_found", missing
    escape = await client.get("/console/../secret.txt")
    assert escape.status_code == 404 or "not for you" not in await escape.get_data(as_text=True)
    encoded = await client.get("/console/assets/..%2F..%2Fsecret.txt")
    assert "not for you" not in await encoded.get_data(as_text=True)


async def test_console_not_built_is_a_json_404_with_the_build_command(tmp_path: Path) -> None:
    client = console_app(tmp_path, tmp_path / "nowhere").test_client()
    for path in ("/console", "/console/beds/H1", "/console/assets/x.js"):
        r = await client.get(path)
        assert r.status_code == 404
        assert await r.get_json() == {
            "error": "console not built",
            "hint": "npm ci --prefix web && npm run build --prefix web/console",
        }


def test_console_directory_defaults_to_the_repository_build(tmp_path: Path) -> None:
    hub = HubContext(embedded_config(tmp_path))
    assert console_api.console_dir(hub) == Path(__file__).resolve().parent.parent / (
        "web/console/dist"
    )


def test_the_running_hub_routes_console(hub_server: HubProcess) -> None:
    r = httpx.get(hub_server.url + "/console")
    if r.status_code == 404:
        assert r.json()["error"] == "console not built"
    else:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
