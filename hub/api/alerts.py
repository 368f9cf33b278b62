"""HTTP side of closing the loop on alerts: the open alerts of a hospital, and acknowledging."""

from __future__ import annotations

import orjson
from quart import Blueprint, Response, request

from hub.alerts.acknowledge import acknowledge
from hub.alerts.open import open_alerts
from hub.api.common import HttpError, authenticate, error, hospital_reader, int_arg, json_response
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

    @bp.get("/api/alerts")
    async def list_open() -> Response:
        """Open patient alerts of ?hospital=H (readers of hospital_H), newest first, with
        the journal position to follow the rooms from."""
        hospital = request.args.get("hospital", "")
        refused = await hospital_reader(hub, hospital)
        if refused is not None:
            return refused
        hours = int_arg("hours", 24, 1, 24 * 7)
        return json_response(await open_alerts(hub, hospital, hours))

    @bp.errorhandler(HttpError)
    async def _http_error(exc: HttpError) -> Response:
        return exc.response

    return bp
