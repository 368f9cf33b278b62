"""The official JS socket.io-client v4 against a real hub (as clinician UIs connect)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HubProcess, publish, token, uid

JS = Path(__file__).resolve().parent / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js not installed")


def test_socket_io_client_connects_joins_receives_and_resumes(
    hub_server: HubProcess, service_token: str
) -> None:
    assert (JS / "node_modules" / "socket.io-client").is_dir(), (
        "run `npm ci --prefix tests/js` (README's test command does)"
    )
    h, p, t = uid("H"), uid("P"), uid("T")
    r = publish(
        hub_server,
        "triage_updated",
        {"triage_id": t, "status": "pending", "patient_id": p, "hospital_id": h},
        service_token,
    )
    assert r.status_code == 202
    env = {
        **os.environ,
        "HUB_URL": hub_server.url,
        "NURSE_TOKEN": token(sub="js-nurse", hospitals=[h]),
        "SERVICE_TOKEN": service_token,
        "BAD_TOKEN": token(secret="wrong-secret-" + "z" * 40),
        "HOSPITAL": h,
        "PATIENT": p,
        "TRIAGE": t,
    }
    proc = subprocess.run(
        ["node", str(JS / "client_check.mjs")], env=env, capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])

    assert report["refused_bad"] == {
        "message": "unauthorized",
        "data": {"code": 401, "reason": "invalid signature"},
        "active": False,
    }
    assert report["refused_missing"]["data"] == {"code": 401, "reason": "missing token"}
    assert report["connection_response"]["user_id"] == "js-nurse"
    joins = report["joins"]
    for room in (f"hospital_{h}", f"patient_{p}", f"triage_{t}", "triage_queue"):
        assert joins[room]["ok"] is True, (room, joins[room])
    assert joins["hospital_ELSEWHERE"]["error"] == "forbidden"
    assert joins["not_a_room"]["error"] == "invalid_room"
    assert report["transport"] == "websocket", "the client should have upgraded from polling"
    events = report["events"]
    for event_type, delivered in events.items():
        assert len(delivered) == 1, f"{event_type} delivered {len(delivered)} times"
        event = delivered[0]
        assert {"id", "seq", "type", "timestamp", "received_at", "source"} <= set(event)
        assert event["type"] == event_type
    assert events["risk_updated"][0]["risk_score"] == 0.81
    assert events["bed_status_changed"][0]["bed_info"]["status"] == "cleaning"
    assert events["staff_availability_changed"][0]["available"] is False
    assert report["resume_ack"]["ok"] is True and report["resume_ack"]["replayed"] == 3
    assert report["resume"]["replayed"] == report["resume"]["expected"]
