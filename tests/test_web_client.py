"""web/client (@clinical-hub/client) and web/console: their vitest suites (the client's against
real hubs it starts itself, the console's components), and the console's production build.

The suites live in web/client/test and web/console/test; these tests are how CI runs them.
They need Node.js and the web workspace's packages (`npm ci --prefix web`); without them they
fail rather than skip, so a CI that forgot the install step cannot pass without running them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
CLIENT = WEB / "client"


def _run(
    npm: str, *args: str, timeout: float, where: Path = CLIENT
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        # the tests start `python -m hub serve`: use this interpreter, which has the hub
        "HUB_PYTHON": sys.executable,
        "CI": "true",
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
    }
    return subprocess.run(
        [npm, *args, "--prefix", str(where)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    text = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    return text[-30_000:]


@pytest.mark.timeout(900)
def test_web_client_vitest_suite() -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm (Node.js 20.19+) is needed for web/client's tests"
    missing = [
        p
        for p in ("socket.io-client", "vitest", "typescript", "@clinical-hub/client")
        if not (WEB / "node_modules" / p).exists()
    ]
    assert not missing, (
        f"web/node_modules lacks {', '.join(missing)}: run `npm ci --prefix web` first"
    )

    build = _run(npm, "run", "build", timeout=300)
    assert build.returncode == 0, "npm run build --prefix web/client failed\n" + _output(build)

    test = _run(npm, "test", timeout=840)
    print(test.stdout[-5_000:])
    assert test.returncode == 0, "npm test --prefix web/client failed\n" + _output(test)


@pytest.mark.timeout(600)
def test_console_builds_and_its_components_pass() -> None:
    npm = shutil.which("npm")
    assert npm is not None, "npm (Node.js 20.19+) is needed for web/console's tests"
    assert (WEB / "node_modules" / "vite").exists(), "run `npm ci --prefix web` first"
    console = WEB / "console"
    build = _run(npm, "run", "build", timeout=300, where=console)
    assert build.returncode == 0, "npm run build --prefix web/console failed\n" + _output(build)
    assert (console / "dist" / "index.html").is_file()
    test = _run(npm, "test", timeout=300, where=console)
    assert test.returncode == 0, "npm test --prefix web/console failed\n" + _output(test)
