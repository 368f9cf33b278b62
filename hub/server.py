"""Serve the hub under hypercorn."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
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
    # the drain (hub.server.run) has already sent clients away: what is left is short
    hc.graceful_timeout = max(1.0, config.server.shutdown_timeout_s * 0.2)
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
    timeout = config.server.shutdown_timeout_s
    draining: list[asyncio.Task[None]] = []

    async def drain_then_stop() -> None:
        try:
            await asyncio.wait_for(app.drain(), timeout * 0.8)
        except TimeoutError:
            log.warning("drain did not finish in time; stopping anyway")
        except Exception:
            log.exception("drain failed; stopping anyway")
        stop.set()

    def on_signal() -> None:
        if draining:  # a second signal: stop now
            stop.set()
            return
        log.info("shutdown requested", extra={"timeout_s": timeout})
        draining.append(loop.create_task(drain_then_stop()))
        # Whatever hangs (a journal that stopped answering), the node is gone within the
        # configured time plus a margin: everything acknowledged is already committed.
        timer = threading.Timer(timeout + 5.0, _exit_now)
        timer.daemon = True  # must not itself hold up a clean exit
        timer.start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    log.info("serving", extra={"bind": f"{config.server.host}:{config.server.port}"})
    await serve(app, hypercorn_config(config), shutdown_trigger=stop.wait)


def _exit_now() -> None:
    log.error("shutdown took longer than server.shutdown_timeout_s; exiting")
    logging.shutdown()
    os._exit(1)


def serve_forever(app: HubApp, config: HubConfig) -> None:
    if config.server.worker_class == "uvloop":
        try:
            import uvloop

            uvloop.run(run(app, config))
            return
        except ImportError:
            log.warning("uvloop not installed; using asyncio")
    asyncio.run(run(app, config))
