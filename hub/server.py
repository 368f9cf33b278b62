"""Serve the hub under hypercorn."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from hub.app import HubApp
from hub.config import HubConfig

log = logging.getLogger("hub.server")


def decline_websocket_compression() -> None:
    """Make hypercorn refuse permessage-deflate.

    hypercorn accepts the extension whenever a client offers it (browsers always do) and has no
    setting to decline it; at clinical-event sizes compression costs ~100 KB per connection and
    ~40% of the delivery rate (docs/benchmarks.md). Declining is always valid WebSocket: the
    client then talks uncompressed.
    """
    from hypercorn.protocol import ws_stream

    handshake = ws_stream.Handshake
    if getattr(handshake, "_hub_no_deflate", False):
        return
    original = handshake.accept

    def accept(self: Any, subprotocol: Any, additional_headers: Any) -> Any:
        self.extensions = None
        return original(self, subprotocol, additional_headers)

    handshake.accept = accept  # type: ignore[method-assign]
    handshake._hub_no_deflate = True  # type: ignore[attr-defined]


def hypercorn_config(config: HubConfig) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"{config.server.host}:{config.server.port}"]
    hc.graceful_timeout = config.server.shutdown_timeout_s
    hc.websocket_max_message_size = config.realtime.max_message_bytes
    hc.backlog = 2048
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    return hc


async def run(app: HubApp, config: HubConfig) -> None:
    if not config.realtime.websocket_compression:
        decline_websocket_compression()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("serving", extra={"bind": f"{config.server.host}:{config.server.port}"})
    await serve(app, hypercorn_config(config), shutdown_trigger=stop.wait)


def serve_forever(app: HubApp, config: HubConfig) -> None:
    if config.server.worker_class == "uvloop":
        try:
            import uvloop

            uvloop.run(run(app, config))
            return
        except ImportError:
            log.warning("uvloop not installed; using asyncio")
    asyncio.run(run(app, config))
