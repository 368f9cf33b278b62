"""One hub for the feed tests, with push sources, pollers and the poll server they read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.testing import free_port
from tests.conftest import HubProcess, token
from tests.feeds.feed_server import FeedServer

API_KEY = "feed-test-key-" + "k" * 20
POLLED = "Hpoll"  # hospital of the polled feeds
QUIET = "Hquiet"  # hospital told when the 'quiet' source goes silent
BOARD, ROSTER = "/board.json", "/roster.csv"


@pytest.fixture(scope="package")
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.set(BOARD, b"[]", "application/json")
    server.set(ROSTER, b"staff_id,staff_type,available\r\n", "text/csv")
    server.port = free_port()  # type: ignore[attr-defined]
    yield server.start(server.port)  # type: ignore[attr-defined]
    server.stop()


@pytest.fixture(scope="package")
def feed_hub(
    tmp_path_factory: pytest.TempPathFactory, feed_server: FeedServer
) -> Iterator[HubProcess]:
    state: Path = tmp_path_factory.mktemp("feeds")
    hub = HubProcess(state, extra_env={"FEED_TEST_KEY": API_KEY})
    base = f"http://127.0.0.1:{feed_server.port}"  # type: ignore[attr-defined]
    settings = json.loads(hub.env()["HUB_PLUGINS__SETTINGS"])
    poll = {"interval_s": 0.2, "max_backoff_s": 0.4, "hospital": POLLED}
    settings["feeds"] = {
        "sources": [
            {"name": "default", "accept_hub_tokens": True},
            {
                "name": "bedboard",
                "api_key_env": "FEED_TEST_KEY",
                "status_map": {"housekeeping": "cleaning", "ready": "available"},
                "max_body_bytes": 4096,
                "kinds": ["beds"],
            },
            {
                "name": "quiet",
                "accept_hub_tokens": True,
                "max_silence_s": 1.0,
                "alert_hospitals": [QUIET],
            },
        ],
        "polls": [
            {
                "name": "board",
                "kind": "beds",
                "url": base + BOARD,
                "alert_after_failures": 2,
                "alert_hospitals": [POLLED],
                **poll,
            },
            {"name": "roster", "kind": "staff", "format": "csv", "url": base + ROSTER, **poll},
        ],
    }
    hub.extra_env["HUB_PLUGINS__SETTINGS"] = json.dumps(settings)
    yield hub.start()
    hub.stop()


def service() -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role='service', sub='feed-sender')}"}


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role='admin', sub='feed-admin')}"}


def send(
    hub: HubProcess,
    method: str,
    path: str,
    body: Any = None,
    *,
    content: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    **params: str,
) -> httpx.Response:
    """One request to the hub's feed endpoints, with the service token unless told otherwise."""
    sent = service() if headers is None else headers
    return httpx.request(
        method,
        f"{hub.url}{path}",
        json=body if content is None else None,
        content=content,
        headers=sent,
        params=params or None,
        timeout=10,
    )


def metric(hub: HubProcess, name: str, **labels: str) -> float:
    """A counter's value from /metrics (0 when it has not been counted yet)."""
    text = httpx.get(f"{hub.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("{", 1)[1].split("}", 1)[0]))
            if found == labels:
                return float(line.rsplit(" ", 1)[1])
    return 0.0
