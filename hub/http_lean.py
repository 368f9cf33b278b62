"""A lean HTTP path for inputs' endpoints, beside Quart.

Quart's request machinery (request and app contexts, routing, response objects, the CORS
wrapper) costs about 210 us per request on this machine: hypercorn alone answers a trivial
POST at ~5,100/s, through Quart at ~2,450/s (docs/benchmarks.md). For a bed board pushing
thousands of single-record updates a second that is most of the budget, so an input may
serve exact-path routes here instead: its handler gets the method, headers, query and a way
to read the body, and returns status, body and content type. These are server-to-server
endpoints: no CORS (a browser cannot call them cross-origin), no cookies, no sessions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

log = logging.getLogger("hub.http")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class LeanResponse:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def lean_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> LeanResponse:
    return LeanResponse(status, orjson.dumps(body), "application/json", dict(headers or {}))


def lean_error(status: int, code: str, detail: str, **extra: Any) -> LeanResponse:
    """The same JSON error shape as the rest of the API (``hub.api.common.error``)."""
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return lean_json({"error": code, "detail": detail, **extra}, status, headers)


class BodyTooLarge(Exception):
    pass


class LeanRequest:
    """What a handler sees: method, path, lower-cased headers, query, and the body on demand,
    so a handler can refuse a caller before reading (and never storing) what it sent."""

    __slots__ = ("_body", "_receive", "headers", "method", "params", "path", "query")

    def __init__(self, scope: dict[str, Any], receive: Receive) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
        }
        raw_query = scope.get("query_string", b"").decode("latin-1")
        self.query: dict[str, str] = dict(parse_qsl(raw_query)) if raw_query else {}
        self._receive = receive
        self._body: bytes | None = None
        self.params: dict[str, str] = {}  # from ``{name}`` segments of the route's path

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value and value.isdigit() else None

    @property
    def mimetype(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    async def body(self, limit: int) -> bytes:
        """The whole body; ``BodyTooLarge`` as soon as it exceeds ``limit`` bytes."""
        if self._body is not None:
            return self._body
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        self._body = b"".join(chunks)
        return self._body


Handler = Callable[[LeanRequest], Awaitable[LeanResponse]]


@dataclass(frozen=True, slots=True)
class LeanRoute:
    method: str
    path: str  # exact, or with ``{name}`` segments (a whole segment each)
    handler: Handler


Match = tuple[Handler, dict[str, str]]


class LeanRouter:
    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], Handler] = {}
        # (method, segment count) -> [(segments, handler)]: most requests to the hub (Socket.IO,
        # the API) match nothing here, and must pay as little as possible for finding that out
        self._patterns: dict[tuple[str, int], list[tuple[list[str], Handler]]] = {}
        self._seen: set[tuple[str, str]] = set()

    def add(self, route: LeanRoute) -> None:
        method = route.method.upper()
        if (method, route.path) in self._seen:
            raise ValueError(f"two inputs serve {route.method} {route.path}")
        self._seen.add((method, route.path))
        segments = route.path.strip("/").split("/")
        if any(seg.startswith("{") for seg in segments):
            self._patterns.setdefault((method, len(segments)), []).append((segments, route.handler))
        else:
            self._exact[(method, route.path)] = route.handler

    def match(self, method: str, path: str) -> Match | None:
        handler = self._exact.get((method, path))
        if handler is not None:
            return handler, {}
        if not self._patterns:
            return None
        parts = path.strip("/").split("/")
        for segments, candidate in self._patterns.get((method, len(parts)), ()):
            params = {}
            for seg, part in zip(segments, parts, strict=True):
                if seg.startswith("{"):
                    if not part:
                        break
                    params[seg[1:-1]] = part
                elif seg != part:
                    break
            else:
                return candidate, params
        return None

    async def serve(
        self, match: Match, scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        handler, params = match
        request = LeanRequest(scope, receive)
        request.params = params
        try:
            response = await handler(request)
        except BodyTooLarge:
            response = lean_error(413, "payload_too_large", "body too large for this endpoint")
        except Exception:
            log.exception("input endpoint failed", extra={"path": scope.get("path")})
            response = lean_error(500, "internal_error", "the hub could not handle this request")
        headers = [(b"content-type", response.content_type.encode("latin-1"))]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
