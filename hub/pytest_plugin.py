"""pytest fixtures for plugin authors, registered as the ``clinical_hub`` pytest plugin.

- ``hub_pipeline``: an async factory of ``hub.testing.Pipeline`` (no sockets), closed after
  the test: ``async with`` is done for you.
- ``live_hub``: a factory of ``hub.testing.LiveHub`` (a real ``hub serve``), stopped after the
  test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.testing import LiveHub, Pipeline

try:  # the async fixture needs pytest-asyncio; without it only live_hub is offered
    import pytest_asyncio
except ImportError:  # pragma: no cover - the hub's own test environment has it
    pytest_asyncio = None  # type: ignore[assignment]


async def _pipelines() -> AsyncIterator[Callable[..., Awaitable[Pipeline]]]:
    opened: list[Pipeline] = []

    async def make(*args: Any, **kwargs: Any) -> Pipeline:
        pipeline = await Pipeline(*args, **kwargs).__aenter__()
        opened.append(pipeline)
        return pipeline

    yield make
    for pipeline in opened:
        await pipeline.__aexit__(None, None, None)


if pytest_asyncio is not None:
    hub_pipeline = pytest_asyncio.fixture(_pipelines, name="hub_pipeline")


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[Callable[..., LiveHub]]:
    started: list[LiveHub] = []

    def make(**kwargs: Any) -> LiveHub:
        hub = LiveHub(tmp_path / f"hub{len(started)}", **kwargs).start()
        started.append(hub)
        return hub

    yield make
    for hub in started:
        hub.stop()
