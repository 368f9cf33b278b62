"""The lean HTTP path's contract, driven as an ASGI server would drive it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hub.http_lean import LeanRequest, LeanResponse, LeanRoute, LeanRouter, lean_json


async def call(router: LeanRouter, method: str, path: str, chunks: list[bytes]) -> tuple[int, Any]:
    match = router.match(method, path)
    assert match is not None
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"Content-Type", b"application/json; charset=utf-8")],
        "query_string": b"hospital=H1&x=1",
    }
    await router.serve(match, scope, receive, send)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


async def test_body_query_headers_limits_and_failures() -> None:
    router = LeanRouter()

    async def echo(request: LeanRequest) -> LeanResponse:
        body = await request.body(limit=10)
        return lean_json({"body": body.decode(), "q": request.query, "m": request.mimetype})

    async def broken(request: LeanRequest) -> LeanResponse:
        raise RuntimeError("bug")

    router.add(LeanRoute("POST", "/echo", echo))
    router.add(LeanRoute("POST", "/broken", broken))
    assert router.match("GET", "/echo") is None and router.match("POST", "/echo/") is None
    status, body = await call(router, "POST", "/echo", [b"ab", b"cd"])
    assert (status, body) == (
        200,
        {"body": "abcd", "q": {"hospital": "H1", "x": "1"}, "m": "application/json"},
    )
    status, body = await call(router, "POST", "/echo", [b"123456", b"789012"])
    assert (status, body["error"]) == (413, "payload_too_large")
    status, body = await call(router, "POST", "/broken", [b""])
    assert (status, body["error"]) == (500, "internal_error") and "bug" not in body["detail"]
    with pytest.raises(ValueError, match="two inputs serve POST /echo"):
        router.add(LeanRoute("POST", "/echo", echo))


async def test_path_parameters() -> None:
    router = LeanRouter()

    async def show(request: LeanRequest) -> LeanResponse:
        return lean_json(request.params)

    router.add(LeanRoute("PUT", "/fhir/src/{rtype}/{rid}", show))
    status, body = await call(router, "PUT", "/fhir/src/Observation/o-1", [b""])
    assert (status, body) == (200, {"rtype": "Observation", "rid": "o-1"})
    assert router.match("PUT", "/fhir/src/Observation") is None
    assert router.match("PUT", "/fhir/other/Observation/o-1") is None
    assert router.match("PUT", "/fhir/src//o-1") is None
    assert router.match("POST", "/fhir/src/Observation/o-1") is None
