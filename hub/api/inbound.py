"""Inbound messages kept by the hub: list them by status, inspect one, reprocess it."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from hub.api.common import HttpError, authenticate, error, int_arg, json_response
from hub.journal.base import StoredInput
from hub.runtime import HubContext

STATUSES = ("pending", "processed", "error", "rejected")


def _summary(item: StoredInput) -> dict[str, Any]:
    return {
        "id": item.id,
        "source": item.source,
        "status": item.status,
        "error": item.error,
        "received_at": item.received_at,
        "bytes": len(item.raw),
    }


def blueprint(hub: HubContext) -> Blueprint:
    bp = Blueprint("inbound", __name__)

    @bp.get("/api/inbound")
    async def list_inbound() -> Response:
        await authenticate(hub, roles=("admin",))
        status = request.args.get("status")
        if status is not None and status not in STATUSES:
            return error(400, "bad_request", f"status must be one of {', '.join(STATUSES)}")
        since = int_arg("since", 0, 0, 2**62)
        limit = int_arg("limit", 100, 1, 1000)
        items = await hub.journal.list_inputs(status, request.args.get("source"), since, limit)
        return json_response(
            {
                "entries": [_summary(i) for i in items],
                "next_since": items[-1].id if items else since,
            }
        )

    @bp.get("/api/inbound/<int:input_id>")
    async def show(input_id: int) -> Response:
        await authenticate(hub, roles=("admin",))
        item = await hub.journal.get_input(input_id)
        if item is None:
            return error(404, "not_found", f"no inbound message {input_id}")
        body = _summary(item)
        # latin-1 shows every byte as one character, whatever the sender's charset was
        body["raw"] = item.raw.decode("latin-1")
        body["reply"] = item.reply.decode("latin-1") if item.reply else None
        return json_response(body)

    @bp.post("/api/inbound/<int:input_id>/reprocess")
    async def reprocess(input_id: int) -> Response:
        await authenticate(hub, roles=("admin",))
        item = await hub.journal.get_input(input_id)
        if item is None:
            return error(404, "not_found", f"no inbound message {input_id}")
        component = next((i for i in hub.inputs if i.name == item.source), None)
        handler = getattr(component, "reprocess", None)
        if handler is None:
            return error(
                409,
                "not_reprocessable",
                f"input {item.source!r} is not running or cannot reprocess",
            )
        try:
            await handler(item)
        except Exception as exc:
            return error(422, "reprocess_failed", f"{type(exc).__name__}: {exc}")
        updated = await hub.journal.get_input(input_id)
        assert updated is not None
        return json_response(_summary(updated))

    @bp.errorhandler(HttpError)
    async def _http_error(exc: HttpError) -> Response:
        return exc.response

    return bp
