"""A bare python-socketio + Quart server: the baseline bench/fanout.py compares the hub with.

No journal, no auth, no policy: ``join_room`` enters the room and acks like the hub does, and
``POST /api/events/<type>`` wraps the JSON body in an envelope of about the hub's shape and
awaits ``sio.emit(type, event, room="hospital_<hospital_id>")`` -- stock python-socketio fan-out
(``AsyncManager.emit``), served by hypercorn with the same settings the hub uses.

By default hypercorn negotiates permessage-deflate with clients that offer it (stock behaviour);
``--no-deflate`` declines it the same way the hub does, to separate that effect from the rest.

    python bench/bare_server.py --port 5056 [--no-deflate] [--loop uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import uuid
from datetime import UTC, datetime
from typing import Any

import socketio
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, jsonify, request


def decline_websocket_compression() -> None:
    """Have hypercorn answer the handshake without permessage-deflate (as the hub does)."""
    from hypercorn.protocol import ws_stream

    handshake = ws_stream.Handshake
    original = handshake.accept

    def accept(self: Any, subprotocol: Any, additional_headers: Any) -> Any:
        self.extensions = None
        return original(self, subprotocol, additional_headers)

    handshake.accept = accept


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_app(transports: list[str]) -> Any:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=[],
        transports=transports,
        ping_interval=25,
        ping_timeout=20,
        max_http_buffer_size=65_536,
        logger=False,
        engineio_logger=False,
    )
    seq = itertools.count(1)
    last = {"seq": 0}

    @sio.on("join_room")
    async def join_room(sid: str, data: Any = None) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("room"), str):
            return {"ok": False, "error": "bad_request"}
        await sio.enter_room(sid, data["room"])
        return {"ok": True, "room": data["room"], "seq": last["seq"]}

    quart = Quart("bare")

    @quart.get("/health")
    async def health() -> Any:
        return jsonify({"status": "alive"})

    @quart.post("/api/events/<event_type>")
    async def publish(event_type: str) -> Any:
        body = await request.get_json(force=True)
        if not isinstance(body, dict) or not isinstance(body.get("hospital_id"), str):
            return jsonify({"error": "bad_request"}), 400
        n = next(seq)
        last["seq"] = n
        now = iso_now()
        event = dict(body)
        event.update(
            id=uuid.uuid4().hex,
            seq=n,
            type=event_type,
            version=1,
            timestamp=now,
            received_at=now,
            source="api",
        )
        await sio.emit(event_type, event, room=f"hospital_{body['hospital_id']}")
        return jsonify({"id": event["id"], "seq": n}), 202

    return socketio.ASGIApp(sio, other_asgi_app=quart)


async def main_async(args: argparse.Namespace) -> None:
    app = build_app(args.transports.split(","))
    cfg = Config()
    cfg.bind = [f"127.0.0.1:{args.port}"]
    cfg.backlog = 2048
    cfg.websocket_max_message_size = 65_536
    cfg.accesslog = None
    cfg.graceful_timeout = 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, cfg, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5056)
    parser.add_argument("--no-deflate", action="store_true", help="decline permessage-deflate")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--transports", default="websocket")
    args = parser.parse_args()
    if args.no_deflate:
        decline_websocket_compression()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main_async(args))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
