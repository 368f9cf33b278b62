"""Socket.IO side: authenticate at connect, authorize and audit room joins, resume with since."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import socketio
from socketio.exceptions import ConnectionRefusedError as SioConnectionRefused

from hub.alerts.acknowledge import acknowledge
from hub.auth import AuthError, Principal
from hub.journal.base import AuditRecord
from hub.realtime import engineio_tuning
from hub.realtime.fanout import Client, Fanout, ReplayTooLarge
from hub.rooms import InvalidRoom, parse_room

if TYPE_CHECKING:
    from hub.runtime import HubContext

log = logging.getLogger("hub.realtime")


def _bearer(environ: dict[str, Any]) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return str(header[7:].strip())
    return None


def _client_address(environ: dict[str, Any]) -> str:
    scope = environ.get("asgi.scope") or {}
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "unknown"


class Realtime:
    """Owns the AsyncServer, the fan-out and the client-facing event handlers."""

    def __init__(self, hub: HubContext, cors_origins: list[str]) -> None:
        cfg = hub.config.realtime
        self.hub = hub
        engineio_tuning.apply()
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=cors_origins,
            transports=list(cfg.transports),
            ping_interval=cfg.ping_interval_s,
            ping_timeout=cfg.ping_timeout_s,
            max_http_buffer_size=cfg.max_message_bytes,
            logger=False,
            engineio_logger=False,
        )
        engineio_tuning.lean_environs(self.sio.eio)
        engineio_tuning.slim_queues(self.sio.eio)
        self.fanout = Fanout(
            self.sio.eio.sockets,
            hub.metrics,
            cfg.max_queue_per_client,
            on_overflow=self._disconnect_slow,
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("join_room", self._on_join)
        self.sio.on("leave_room", self._on_leave)
        self.sio.on("ack_alert", self._on_ack_alert)

    # --- lifecycle ----------------------------------------------------------------------------

    async def shutdown(self) -> None:
        await self.sio.shutdown()

    async def drain(self) -> None:
        """Send every client elsewhere: a ``hub_shutdown`` notice, then the Engine.IO
        connection is closed. Closing below Socket.IO matters: socket.io-client treats a
        Socket.IO-level disconnect as final ("io server disconnect") but reconnects after a
        transport close, through the load balancer to another node, where it resumes with
        ``since``."""
        clients = len(self.sio.eio.sockets)
        log.info("sending clients to other nodes", extra={"clients": clients})
        if not clients:
            return
        await self.sio.emit("hub_shutdown", {"reconnect": True, "reason": "node stopping"})
        await asyncio.sleep(0.05)  # let the notice leave before the connection ends
        # Aborted, without an Engine.IO CLOSE packet: clients that receive CLOSE (the Python
        # client) take it as final too; a transport that just ends makes every client retry.
        await asyncio.gather(*(self._force_close(sid) for sid in list(self.sio.eio.sockets)))

    def _disconnect_slow(self, client: Client) -> None:
        task = asyncio.get_running_loop().create_task(self._force_close(client.eio_sid))
        self.hub.background.add(task)
        task.add_done_callback(self.hub.background.discard)

    async def _force_close(self, eio_sid: str) -> None:
        sock = self.sio.eio.sockets.get(eio_sid)
        if sock is None:
            return
        # abort: do not queue a CLOSE packet behind data the client is not reading
        await sock.close(wait=False, abort=True)
        sock.queue.put_nowait(None)  # wakes the writer so the transport ends

    # --- handlers -----------------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        metrics = self.hub.metrics
        token = auth.get("token") if isinstance(auth, dict) else None
        token = token or _bearer(environ)
        try:
            principal = await self.hub.verifier.verify_async(token)
        except AuthError as exc:
            metrics.connections.labels("refused").inc()
            log.info("connection refused", extra={"reason": exc.reason})
            raise SioConnectionRefused(
                "unauthorized", {"code": 401, "reason": exc.reason}
            ) from None
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        client = Client(sid, eio_sid, principal, _client_address(environ))
        client.tokens = float(self.hub.config.realtime.join_burst)
        client.tokens_at = time.monotonic()
        if principal.expires_at is not None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, principal.expires_at - time.time())
            client.expiry = loop.call_later(delay, self._expire, sid)
        self.fanout.add_client(client)
        metrics.connections.labels("accepted").inc()
        metrics.connected_clients.inc()
        log.info("client connected", extra={"sid": sid, "role": principal.role})
        await self.sio.emit(
            "connection_response",
            {
                "status": "connected",
                "sid": sid,
                "user_id": principal.subject,
                "role": principal.role,
                "hospitals": sorted(principal.hospitals),
                "seq": self.fanout.dispatched_seq,
            },
            to=sid,
        )

    def _expire(self, sid: str) -> None:
        log.info("token expired, disconnecting", extra={"sid": sid})
        task = asyncio.get_running_loop().create_task(self.sio.disconnect(sid))
        self.hub.background.add(task)
        task.add_done_callback(self.hub.background.discard)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        client = self.fanout.remove_client(sid)
        if client is not None:
            self.hub.metrics.connected_clients.dec()
            log.info("client disconnected", extra={"sid": sid, "reason": str(reason)})

    def _rate_ok(self, client: Client) -> bool:
        cfg = self.hub.config.realtime
        now = time.monotonic()
        client.tokens = min(
            float(cfg.join_burst), client.tokens + (now - client.tokens_at) * cfg.join_rate_per_s
        )
        client.tokens_at = now
        if client.tokens < 1.0:
            return False
        client.tokens -= 1.0
        return True

    async def _audit(
        self, client: Client, action: str, room: str, outcome: str, reason: str = ""
    ) -> None:
        await self.hub.journal.audit(
            AuditRecord.now(
                client.principal, action, room, outcome == "allowed", reason, client.address
            )
        )

    async def _on_join(self, sid: str, data: Any = None) -> dict[str, Any]:
        client = self.fanout.clients.get(sid)
        metrics = self.hub.metrics
        if client is None or client.closing:
            return {"ok": False, "error": "unauthenticated"}
        if not isinstance(data, dict) or "room" not in data:
            return {"ok": False, "error": "bad_request", "detail": "expected {room, since?}"}
        name = data.get("room")
        since = data.get("since")
        if since is not None and (
            isinstance(since, bool) or not isinstance(since, int) or since < 0
        ):
            return {
                "ok": False,
                "room": name,
                "error": "bad_request",
                "detail": "since must be a non-negative integer",
            }
        if not self._rate_ok(client):
            metrics.room_joins.labels("any", "rate_limited").inc()
            return {"ok": False, "room": name, "error": "rate_limited"}
        try:
            room = parse_room(name)
        except InvalidRoom as exc:
            metrics.room_joins.labels("invalid", "invalid_room").inc()
            return {"ok": False, "room": name, "error": "invalid_room", "detail": str(exc)}
        if room.name not in client.rooms and len(client.rooms) >= (
            self.hub.config.realtime.max_rooms_per_client
        ):
            metrics.room_joins.labels(room.kind, "too_many_rooms").inc()
            return {"ok": False, "room": room.name, "error": "too_many_rooms"}
        decision = self.hub.authorize(client.principal, room)
        if not decision.allowed:
            metrics.room_joins.labels(room.kind, "denied").inc()
            await self._audit(client, "join", room.name, "denied", decision.reason)
            return {"ok": False, "room": room.name, "error": "forbidden", "detail": decision.reason}
        if room.audited:
            await self._audit(client, "join", room.name, "allowed")
        journal = self.hub.journal

        async def read_page(after: int, until: int, limit: int) -> Any:
            return await journal.read_room(room.name, after, until, limit)

        cfg = self.hub.config.realtime
        async with client.join_lock:
            if client.closing:
                return {"ok": False, "room": room.name, "error": "disconnected"}
            try:
                position, replayed, truncated = await self.fanout.join(
                    client, room.name, since, read_page, cfg.replay_batch, cfg.replay_limit
                )
            except ReplayTooLarge as exc:
                return {
                    "ok": False,
                    "room": room.name,
                    "error": "replay_too_large",
                    "detail": f"{exc}; read GET /api/events in pages, then join with since",
                }
        metrics.room_joins.labels(room.kind, "allowed").inc()
        reply: dict[str, Any] = {"ok": True, "room": room.name, "seq": position}
        if since is not None:
            reply["replayed"] = replayed
            reply["truncated"] = truncated
        await self.sio.emit("room_joined", {"room": room.name, "seq": position}, to=sid)
        return reply

    async def _on_ack_alert(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``ack_alert {id, note?}``: the acknowledgement is journaled and broadcast as
        ``alert_acknowledged``; the reply is ``{ok, event, duplicate}`` or ``{ok: false,
        error, detail}``."""
        client = self.fanout.clients.get(sid)
        if client is None or client.closing:
            return {"ok": False, "error": "unauthenticated"}
        if not isinstance(data, dict) or "id" not in data:
            return {"ok": False, "error": "bad_request", "detail": "expected {id, note?}"}
        if not self._rate_ok(client):
            return {"ok": False, "error": "rate_limited"}
        outcome = await acknowledge(
            self.hub, client.principal, data.get("id"), data.get("note"), client.address
        )
        return outcome.reply()

    async def _on_leave(self, sid: str, data: Any = None) -> dict[str, Any]:
        client = self.fanout.clients.get(sid)
        if client is None or client.closing:
            return {"ok": False, "error": "unauthenticated"}
        if not isinstance(data, dict) or "room" not in data:
            return {"ok": False, "error": "bad_request", "detail": "expected {room}"}
        if not self._rate_ok(client):
            return {"ok": False, "room": data.get("room"), "error": "rate_limited"}
        try:
            room = parse_room(data.get("room"))
        except InvalidRoom as exc:
            return {
                "ok": False,
                "room": data.get("room"),
                "error": "invalid_room",
                "detail": str(exc),
            }
        async with client.join_lock:
            was_member = self.fanout.leave(client, room.name)
        if not was_member:
            return {"ok": False, "room": room.name, "error": "not_joined"}
        if room.audited:
            await self._audit(client, "leave", room.name, "allowed")
        await self.sio.emit("room_left", {"room": room.name}, to=sid)
        return {"ok": True, "room": room.name}

    def principal_of(self, sid: str) -> Principal | None:
        client = self.fanout.clients.get(sid)
        return client.principal if client else None
