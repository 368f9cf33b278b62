"""web/console in a real browser: its end-to-end suite (`npm run e2e --prefix web/console`).

The suite (web/console/e2e/console.e2e.test.ts) builds the console when its build is missing
or older than its sources, starts its own `hub serve` on free ports with a temporary journal,
and drives headless Chromium with playwright-core: sign-in, alerts from HL7 over MLLP, two
screens and an acknowledgement, the bed board, a hub restart with nothing lost; screenshots of
every screen land in web/console/e2e/screenshots/.

It needs Node.js, the web workspace's packages and Debian's chromium; without them it fails
rather than skips, so a CI that forgot an install step cannot pass without having run it.
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
CONSOLE = WEB / "console"
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
PACKAGES = (
    "vitest",
    "playwright-core",
    "socket.io-client",
    "typescript",
    "vite",
    "@clinical-hub/client",
)


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    text = f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    return text[-30_000:]


@pytest.mark.timeout(900)
def test_console_in_headless_chromium() -> None:
    npm = shutil.which("npm")
    assert npm is not None, (
        "npm (Node.js 20.19+) is needed for web/console's end-to-end tests: install Node.js, "
        "then `npm ci --prefix web`"
    )
    missing = [p for p in PACKAGES if not (WEB / "node_modules" / p).exists()]
    assert not missing, (
        f"web/node_modules lacks {', '.join(missing)}: run `npm ci --prefix web` first"
    )
    assert os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK), (
        f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` "
        "(or set CHROMIUM to a Chromium binary; no browser is downloaded)"
    )

    env = {
        **os.environ,
        # the suite starts `python -m hub serve` and `python -m hub token`: this interpreter
        "HUB_PYTHON": sys.executable,
        "CHROMIUM": CHROMIUM,
        "CI": "true",
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
    }
    proc = subprocess.run(
        [npm, "run", "e2e", "--prefix", str(CONSOLE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    print(proc.stdout[-6_000:])
    assert proc.returncode == 0, "npm run e2e --prefix web/console failed\n" + _output(proc)
