"""The MLLP listener: store, then acknowledge.

Per frame: tokenize (AE with ERR when it cannot be read), check message type, version and
processing id against the listener's configuration (AR), durably store the raw bytes keyed by
MSH-3/MSH-4/MSH-10 (a duplicate gets the first answer again and produces nothing), in enhanced
mode answer CA once stored, hand the message to the plugins, store the answer, then write it.
Frames on one connection are handled in order, as MLLP senders expect. Whatever a peer sends,
the connection survives: junk is skipped, and oversized or unreadable frames are NAKed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict, Field

from adapters.hl7.ack import AckError, ack_code, build_ack, encode_ack
from adapters.hl7.framing import FrameDecoder, Oversized, frame_all
from adapters.hl7.message import Hl7Error, Message, parse
from hub.events import iso, utc_now
from hub.inputs import InboundMessage, NormalizeFailed

if TYPE_CHECKING:
    from hub.journal.base import StoredInput
    from hub.runtime import HubContext

log = logging.getLogger("adapters.hl7")

# A connection stops reading once this many frames (or bytes) wait to be handled, so a sender
# that does not wait for its ACKs is held back by TCP instead of growing the hub's memory; it
# reads again once half of them are answered.
MAX_QUEUED_FRAMES = 32
MAX_QUEUED_BYTES = 4 * 1_048_576
# How long stop() lets in-flight messages finish (their answers are then written).
STOP_GRACE_S = 10.0

SUPPORTED_VERSIONS = [
    "2.3",
    "2.3.1",
    "2.4",
    "2.5",
    "2.5.1",
    "2.6",
    "2.7",
    "2.7.1",
    "2.8",
    "2.8.1",
    "2.8.2",
]


class ListenerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        "default",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$",
        description="Listener name: the events' source is mllp:NAME.",
    )
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(2575, ge=0, le=65535, description="TCP port.")
    max_message_bytes: int = Field(1_048_576, ge=1024, description="Largest frame accepted.")
    idle_timeout_s: float = Field(600.0, gt=0, description="Close connections idle this long.")
    allowed_sources: list[str] = Field(
        default_factory=list, description="Peer addresses or CIDR ranges; empty allows any."
    )
    default_charset: str = Field("utf-8", description="Codec when MSH-18 is empty.")
    message_types: list[str] = Field(
        default_factory=lambda: ["ADT", "PMU", "ORU"],
        description="MSH-9.1 values accepted (AR else).",
    )
    versions: list[str] = Field(
        default_factory=lambda: list(SUPPORTED_VERSIONS), description="MSH-12 values accepted."
    )
    tls_cert: str | None = Field(None, description="PEM certificate: enables TLS.")
    tls_key: str | None = Field(None, description="PEM private key for tls_cert.")
    tls_client_ca: str | None = Field(
        None, description="PEM CA bundle: require client certificates it signed (mutual TLS)."
    )
    strict_validation: bool = Field(
        False,
        description="Also validate each message against its version's structure with hl7apy "
        "(AE with ERR 101/102 when it fails). Costs ~15-25 ms of CPU per message.",
    )
    processing_ids: list[str] = Field(
        default_factory=lambda: ["P", "T", "D"], description="MSH-11 values accepted."
    )
    max_silence_s: float | None = Field(
        None,
        gt=0,
        description="Raise a system alert when no message arrived for this long (a sender "
        "that normally sends every minute stopped); cleared by the next message.",
    )
    alert_hospitals: list[str] = Field(
        default_factory=lambda: ["system"],
        description="Hospitals whose rooms get this listener's system alerts.",
    )


class MllpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listeners: list[ListenerConfig] = Field(
        default_factory=lambda: [ListenerConfig()], description="MLLP listeners."
    )


def strict_problem(raw: bytes, codec: str) -> AckError | None:
    """Full structural validation with hl7apy, as the reference parser (off the hot path)."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    try:
        parsed = parse_message(
            raw.decode(codec).replace("\n", "\r"),
            validation_level=VALIDATION_LEVEL.STRICT,
            find_groups=True,
        )
        parsed.validate()
    except Exception as exc:
        text = str(exc) or type(exc).__name__
        code = "101" if "required" in text.lower() or "missing" in text.lower() else "102"
        return AckError(code, f"strict validation: {text}"[:500])
    return None


def _wanted(condition: str | None, *, success: bool) -> bool:
    """HL7 table 0155: AL always, NE never, ER on error/reject only, SU on success only."""
    condition = (condition or "AL").upper()
    return (
        condition == "AL" or (condition == "ER" and not success) or (condition == "SU" and success)
    )


class MllpListener:
    def __init__(self, config: ListenerConfig) -> None:
        self.config = config
        self.name = f"mllp:{config.name}"
        self._server: asyncio.Server | None = None
        self._hub: HubContext | None = None
        self._networks = [ipaddress.ip_network(s, strict=False) for s in config.allowed_sources]
        self._connections: set[_Connection] = set()
        self.port: int | None = None
        # read by the hub's input watchdog (hub/input_alerts.py)
        self.max_silence_s = config.max_silence_s
        self.alert_hospitals = config.alert_hospitals
        self.last_activity = time.monotonic()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, hub: HubContext) -> None:
        self._hub = hub
        for stored in await hub.journal.pending_inputs(self.name):
            # stored before a crash but never answered: finish them; a resend is a duplicate
            await self._process(stored, None)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._connected, self.config.host, self.config.port, ssl=self._tls_context()
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("mllp listening", extra={"listener": self.name, "port": self.port})

    def _tls_context(self) -> ssl.SSLContext | None:
        cfg = self.config
        if not cfg.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        if cfg.tls_client_ca:
            context.load_verify_locations(cfg.tls_client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    async def stop(self) -> None:
        """Close every connection; a message being handled still gets its answer first."""
        if self._server is not None:
            self._server.close()
        workers = [w for c in list(self._connections) if (w := c.close()) is not None]
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=STOP_GRACE_S)
        for task in late:  # a journal that does not answer must not hold up shutdown
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def reprocess(self, stored: StoredInput) -> bytes:
        """Run a kept message through the plugins again (after a fix or a plugin upgrade)."""
        message = parse(stored.raw, self.config.default_charset)
        return await self._process(stored, message)

    def health(self) -> str | None:
        if self._server is None or not self._server.is_serving():
            return "not listening"
        return None

    # --- connections --------------------------------------------------------------------------

    def _connected(self) -> _Connection:
        return _Connection(self)

    def _allowed(self, peer: Any) -> bool:
        if not self._networks:
            return True
        try:
            address = ipaddress.ip_address(peer[0])
        except (TypeError, ValueError, IndexError):
            return False
        return any(address in net for net in self._networks)

    async def _reply_to(self, item: bytes | Oversized) -> list[bytes]:
        try:
            return await self._handle(item)
        except Exception:
            # nothing was promised: AR tells the sender to retry later, unchanged
            log.exception("mllp message failed", extra={"listener": self.name})
            return [
                self._nak(
                    None, "AR", AckError("207", "the hub could not store the message; retry later")
                )
            ]

    async def _handle(self, item: bytes | Oversized) -> list[bytes]:
        """The frames to answer ``item`` with (enhanced mode's commit ACK is written early)."""
        self.last_activity = time.monotonic()
        hub = self._hub
        assert hub is not None
        metrics = hub.metrics
        if isinstance(item, Oversized):
            metrics.input_errors.labels(self.name, "oversized").inc()
            text = f"message of {item.size} bytes exceeds {self.config.max_message_bytes}"
            return [self._nak(None, "AE", AckError("104", text, "MSH^1"))]
        try:
            message = parse(item, self.config.default_charset)
        except Hl7Error as exc:
            metrics.input_errors.labels(self.name, f"hl7_{exc.code}").inc()
            await hub.journal.store_input(
                self.name, None, item, iso(utc_now()), "rejected", exc.text
            )
            return [self._nak(None, "AE", AckError(exc.code, exc.text, exc.location))]
        refusal = self._refusal(message)
        if refusal is not None:
            metrics.input_errors.labels(self.name, f"hl7_{refusal.code}").inc()
            await hub.journal.store_input(
                self.name, None, item, iso(utc_now()), "rejected", refusal.text
            )
            code = "CR" if message.enhanced_mode else "AR"
            return [
                encode_ack(build_ack(message, code, errors=(refusal,), text=refusal.text), message)
            ]
        if self.config.strict_validation:
            problem = await asyncio.to_thread(strict_problem, item, message.codec)
            if problem is not None:
                metrics.input_errors.labels(self.name, "hl7_strict").inc()
                await hub.journal.store_input(
                    self.name, None, item, iso(utc_now()), "rejected", problem.text
                )
                return [
                    encode_ack(
                        build_ack(message, "AE", errors=(problem,), text=problem.text), message
                    )
                ]
        key = "|".join(
            (
                message.sending_application or "",
                message.sending_facility or "",
                message.control_id or "",
            )
        )
        accepted = await hub.accept(
            self._inbound(message), item, key, lambda failure: self._answer(message, failure)
        )
        reply = accepted.reply
        assert reply is not None
        if accepted.stored.duplicate or not message.enhanced_mode:
            self._log(message, reply, accepted.stored.duplicate)
            return [reply]
        # Enhanced mode (MSH-15/16): commit accept once stored, then the application ACK as
        # the sender's conditions ask (AL always, NE never, ER on error, SU on success).
        # Storage and processing share one commit, so both answers go out together.
        self._log(message, reply, False)
        replies = []
        if _wanted(message.accept_ack_type, success=True):
            replies.append(encode_ack(build_ack(message, "CA"), message))
        ok = accepted.stored.status == "processed"
        if _wanted(message.application_ack_type, success=ok):
            replies.append(reply)
        return replies

    def _refusal(self, message: Message) -> AckError | None:
        cfg = self.config
        if message.message_code not in cfg.message_types:
            return AckError(
                "200", f"message type {message.message_code} not accepted", "MSH^1^9^1^1"
            )
        if message.version not in cfg.versions:
            return AckError("203", f"version {message.version} not accepted", "MSH^1^12")
        if message.processing_id not in cfg.processing_ids:
            return AckError(
                "202", f"processing id {message.processing_id} not accepted", "MSH^1^11"
            )
        return None

    def _nak(self, message: Message | None, code: str, error: AckError) -> bytes:
        return encode_ack(
            build_ack(message, code, errors=(error,), text=error.text),
            message,
            self.config.default_charset,
        )

    def _inbound(self, message: Message, input_id: int | None = None) -> InboundMessage:
        meta: dict[str, Any] = {
            "control_id": message.control_id,
            "type": message.message_code,
            "trigger": message.trigger,
        }
        if input_id is not None:
            meta["input_id"] = input_id
        return InboundMessage(kind="hl7v2", source=self.name, body=message, meta=meta)

    def _answer(self, message: Message, failure: NormalizeFailed | None) -> bytes:
        if failure is None:
            return encode_ack(build_ack(message, "AA"), message)
        error = AckError("207", failure.reason)
        return encode_ack(build_ack(message, "AE", errors=(error,), text=error.text), message)

    def _log(self, message: Message, reply: bytes, duplicate: bool) -> None:
        log.info(
            "hl7 message handled",
            extra={
                "listener": self.name,
                "control_id": message.control_id,
                "type": f"{message.message_code}^{message.trigger}",
                "ack": ack_code(reply),
                "duplicate": duplicate,
            },
        )

    async def _process(self, stored: StoredInput, message: Message | None) -> bytes:
        """Normalize a message stored earlier (pending at start, or reprocessed) and record
        the answer; its events get the same ids they would have had the first time."""
        hub = self._hub
        assert hub is not None
        if message is None:
            message = parse(stored.raw, self.config.default_charset)
        failure: NormalizeFailed | None = None
        try:
            await hub.ingest(self._inbound(message, stored.id), f"{self.name}:{stored.id}")
        except NormalizeFailed as exc:
            failure = exc
        reply = self._answer(message, failure)
        await hub.journal.finish_input(
            stored.id,
            "error" if failure else "processed",
            reply,
            failure.reason if failure else None,
        )
        self._log(message, reply, False)
        return reply


def _size(item: bytes | Oversized) -> int:
    return len(item) if isinstance(item, bytes) else len(item.prefix)


class _Connection(asyncio.Protocol):
    """One MLLP peer, driven by the transport's callbacks rather than a read loop.

    Frames are decoded as bytes arrive and queued; one worker task per connection handles them
    one at a time, in order, and writes each answer before taking the next, so answers leave in
    message order. The worker exists only while frames wait. Idleness is checked by a single
    timer that re-arms itself from the last activity, so a busy connection costs no timer work
    per read.
    """

    def __init__(self, listener: MllpListener) -> None:
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._decoder = FrameDecoder(listener.config.max_message_bytes)
        self._queue: deque[bytes | Oversized] = deque()
        self._queued_bytes = 0
        self._worker: asyncio.Task[None] | None = None
        self._reading_paused = False
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._finishing = False  # EOF or stop: answer what is in hand, read nothing more
        self._closed = False  # the transport is closing or gone: nothing more can be written
        self._last_activity = 0.0
        self._idle: asyncio.TimerHandle | None = None

    # --- transport callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        listener = self._listener
        if not listener._allowed(transport.get_extra_info("peername") or ("?", 0)):
            log.warning("mllp peer not allowed", extra={"listener": listener.name})
            self._closed = True
            transport.close()
            return
        listener._connections.add(self)
        self._last_activity = self._loop.time()
        self._idle = self._loop.call_later(listener.config.idle_timeout_s, self._check_idle)

    def data_received(self, data: bytes) -> None:
        if self._closed or self._finishing:
            return
        self._last_activity = self._loop.time()
        items = self._decoder.feed(data)
        if not items:
            return
        queue = self._queue
        queue.extend(items)
        self._queued_bytes += sum(map(_size, items))
        if not self._reading_paused and (
            len(queue) >= MAX_QUEUED_FRAMES or self._queued_bytes >= MAX_QUEUED_BYTES
        ):
            self._reading_paused = True
            self._pause_reading()
        if self._worker is None:
            self._worker = self._loop.create_task(self._work())

    def eof_received(self) -> bool:
        self._finishing = True
        # Keep the socket open to answer what is queued; the worker closes it when done.
        # (Over TLS asyncio closes regardless; the read loop this replaced did the same.)
        return self._worker is not None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._drop_queue()
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._wake_writer()
        if self._worker is None:
            self._listener._connections.discard(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    # --- handling -----------------------------------------------------------------------------

    async def _work(self) -> None:
        listener = self._listener
        queue = self._queue
        transport = self._transport
        assert transport is not None
        try:
            while queue and not self._closed:
                item = queue.popleft()
                self._queued_bytes -= _size(item)
                if self._reading_paused and (
                    len(queue) <= MAX_QUEUED_FRAMES // 2
                    and self._queued_bytes < MAX_QUEUED_BYTES // 2
                    and not self._finishing
                ):
                    self._reading_paused = False
                    transport.resume_reading()
                replies = await listener._reply_to(item)
                if self._closed:
                    break  # the peer is gone: the answer is stored for its resend
                transport.write(frame_all(replies))
                if self._write_paused:
                    self._writable = self._loop.create_future()
                    await self._writable
                self._last_activity = self._loop.time()
        except asyncio.CancelledError:
            self._abort()  # stop() gave up waiting: the sender resends what was not answered
            raise
        except Exception:
            log.exception("mllp connection failed", extra={"listener": listener.name})
            self._abort()
        finally:
            self._worker = None
            if self._closed:
                listener._connections.discard(self)
            elif self._finishing:
                self._close_transport()

    def close(self) -> asyncio.Task[None] | None:
        """Read nothing more and drop queued frames; the frame in hand still gets its answer.

        Returns the worker to wait for, if one is running (it closes the transport when done).
        """
        self._finishing = True
        self._drop_queue()
        if self._worker is None:
            self._close_transport()
            return None
        if not self._reading_paused and not self._closed:
            self._reading_paused = True
            self._pause_reading()
        return self._worker

    def _check_idle(self) -> None:
        self._idle = None
        if self._closed:
            return
        timeout = self._listener.config.idle_timeout_s
        idle = self._loop.time() - self._last_activity
        if self._worker is None and idle >= timeout:
            self._close_transport()
            return
        # Busy, or active since the timer was set: wait out the rest of the period.
        delay = timeout if self._worker is not None else timeout - idle
        self._idle = self._loop.call_later(delay, self._check_idle)

    # --- helpers ------------------------------------------------------------------------------

    def _drop_queue(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0

    def _wake_writer(self) -> None:
        waiter = self._writable
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._writable = None

    def _pause_reading(self) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def _close_transport(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._transport is not None:
            self._transport.close()  # sends what is buffered first; connection_lost follows

    def _abort(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.abort()
