"""``hub alert``: operators raise a hospital alert from the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tests.conftest import SECRET, HubProcess, token, uid
from tests.test_socketio import Listener


async def test_hub_alert_reaches_the_hospital_room(hub_server: HubProcess) -> None:
    hospital = uid("H")
    watcher = Listener()
    await watcher.connect(hub_server, token(hospitals=[hospital]))
    assert (await watcher.join(f"hospital_{hospital}"))["ok"] is True
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_AUTH__SECRET"] = SECRET  # the operator's machine shares the hub's secret
    out = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "hub",
            "alert",
            hospital,
            "Evacuate ward 4E",
            "--unit",
            "4E",
            "--by",
            "duty-manager",
            "--url",
            hub_server.url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"emergency alert for hospital {hospital}: id ")
    await watcher.wait_for(lambda: bool(watcher.of("hospital_alert")))
    [alert] = watcher.of("hospital_alert")
    assert alert["alert_type"] == "emergency"
    assert alert["alert_data"] == {
        "message": "Evacuate ward 4E",
        "raised_by": "duty-manager",
        "unit": "4E",
    }
    refused = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "hub",
            "alert",
            hospital,
            "x",
            "--url",
            hub_server.url,
            "--token",
            token(role="nurse"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert refused.returncode == 1 and "403" in refused.stderr
    await watcher.close()
