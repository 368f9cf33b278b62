"""The third-party plugin in examples/nurse-call, installed as a package and used end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, HubProcess, token, uid
from tests.test_socketio import Listener

EXAMPLE = ROOT / "examples" / "nurse-call"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed as a package would be, beside the hub (no dependencies fetched)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [BIN / "pip", "install", "-q", "--no-deps", "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def env_with(site: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def test_hub_plugins_lists_it_with_version_and_hooks(site: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hub", "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env_with(site),
    )
    assert "nurse_call 0.3.1 (hub_nurse_call): configure, normalize, register_inputs" in out.stdout
    disabled = subprocess.run(
        [sys.executable, "-m", "hub", "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env_with(site, HUB_PLUGINS__DISABLED='["nurse_call"]'),
    )
    assert "nurse_call" not in disabled.stdout and "adt" in disabled.stdout


@pytest.fixture
def nurse_hub(site: Path, tmp_path: Path) -> Iterator[HubProcess]:
    hub = HubProcess(tmp_path)
    hub.settings["nurse_call"] = {"hospital_id": "HNC"}
    hub.extra_env.update(
        PYTHONPATH=env_with(site)["PYTHONPATH"], NURSE_CALL_KEY="nurse-call-test-key"
    )
    yield hub.start()
    hub.stop()


async def test_calls_reach_the_rooms_once(nurse_hub: HubProcess) -> None:
    patient = uid("p")
    watcher = Listener()
    await watcher.connect(nurse_hub, token(hospitals=["HNC"], patients=[patient]))
    assert (await watcher.join("hospital_HNC"))["ok"] is True
    assert (await watcher.join(f"patient_{patient}"))["ok"] is True
    url = f"{nurse_hub.url}/feeds/nurse-call"
    call = {"call_id": uid("c"), "patient_id": patient, "bed_id": "4E:1:A", "kind": "code-blue"}
    headers = {"X-Api-Key": "nurse-call-test-key"}
    first = httpx.post(url, json=call, headers=headers)
    assert first.status_code == 200 and first.json()["accepted"] is True
    assert httpx.post(url, json=call, headers=headers).json() == first.json()  # a retry
    assert httpx.post(url, json=call, headers={"X-Api-Key": "wrong"}).status_code == 401
    assert httpx.post(url, json={"call_id": "x"}, headers=headers).status_code == 422
    await watcher.wait_for(lambda: watcher.of("patient_alert") and watcher.of("hospital_alert"))
    await __import__("asyncio").sleep(0.3)
    assert len(watcher.of("patient_alert")) == 1 and len(watcher.of("hospital_alert")) == 1
    assert watcher.of("hospital_alert")[0]["alert_type"] == "emergency"
    await watcher.close()


def test_the_plugins_own_tests_pass_with_the_hub_fixtures(site: Path) -> None:
    out = subprocess.run(
        [BIN / "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLE,
        env=env_with(site),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "3 passed" in out.stdout
