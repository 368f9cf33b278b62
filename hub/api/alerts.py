"""HTTP side of closing the loop on alerts: acknowledge a patient alert."""

from __future__ import annotations

import orjson
from quart import Blueprint, Response, request

from hub.alerts.acknowledge import acknowledge
from hub.api.common import HttpError, authenticate, error, json_response
from hub.runtime import HubContext

_STATUS = {"bad_request": 400, "forbidden": 403, "not_found": 404, "not_an_alert": 409}


def blueprint(hub: HubContext) -> Blueprint:
    bp = Blueprint("alerts", __name__)

    @bp.post("/api/alerts/<path:alert_id>/ack")
    async def ack(alert_id: str) -> Response:
        principal = await authenticate(hub)
        raw = await request.get_data(as_text=False)
        note = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                return error(400, "malformed_json", f"body is not valid JSON: {exc}")
            if not isinstance(body, dict):
                return error(400, "bad_request", "body must be a JSON object: {note?}")
            note = body.get("note")
        outcome = await acknowledge(
            hub, principal, alert_id, note, request.remote_addr or "unknown"
        )
        if not outcome.ok:
            assert outcome.error is not None
            return error(_STATUS[outcome.error], outcome.error, outcome.detail)
        return json_response(outcome.reply())

    @bp.errorhandler(HttpError)
    async def _http_error(exc: HttpError) -> Response:
        return exc.response

    return bp
