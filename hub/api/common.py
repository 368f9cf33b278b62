"""Shared HTTP helpers: JSON errors and bearer-token authentication."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from quart import Response, request

from hub.auth import AuthError, Principal
from hub.rooms import InvalidRoom, parse_room
from hub.runtime import HubContext


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def raw_json(text: str, status: int = 200) -> Response:
    return Response(text, status=status, content_type="application/json")


def error(status: int, code: str, detail: str, **extra: Any) -> Response:
    body = {"error": code, "detail": detail, **extra}
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return json_response(body, status, headers)


class HttpError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def authenticate(hub: HubContext, roles: Iterable[str] | None = None) -> Principal:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    try:
        principal = await hub.verifier.verify_async(token)
    except AuthError as exc:
        raise HttpError(error(401, "unauthorized", exc.reason)) from None
    allowed = set(roles) if roles is not None else None
    if allowed is not None and principal.role not in allowed and not principal.is_admin:
        raise HttpError(
            error(
                403,
                "forbidden",
                f"role {principal.role!r} may not do this; needs one of "
                + ", ".join(sorted(allowed)),
            )
        )
    return principal


async def hospital_reader(
    hub: HubContext, hospital_id: str, roles: Iterable[str] | None = None
) -> Response | None:
    """None when the caller (of one of ``roles``, when given) may read the hospital (as they
    may join its room), else the error to answer."""
    principal = await authenticate(hub, roles)
    try:
        room = parse_room(f"hospital_{hospital_id}")
    except InvalidRoom:
        return error(400, "bad_request", "invalid hospital id")
    decision = hub.authorize(principal, room)
    return None if decision.allowed else error(403, "forbidden", decision.reason)


def int_arg(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(error(400, "bad_request", f"{name} must be an integer")) from None
    if not minimum <= value <= maximum:
        raise HttpError(
            error(400, "bad_request", f"{name} must be between {minimum} and {maximum}")
        )
    return value
