"""Operator endpoints: index, health, readiness, metrics, audit, plugins, schemas, OpenAPI."""

from __future__ import annotations

from dataclasses import asdict

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response, request

from hub import __version__
from hub.api.common import (
    HttpError,
    authenticate,
    error,
    int_arg,
    json_response,
)
from hub.api.openapi import openapi_document
from hub.events import EVENT_TYPES, json_schema
from hub.runtime import HubContext


def blueprint(hub: HubContext) -> Blueprint:
    bp = Blueprint("ops", __name__)

    @bp.get("/")
    async def index() -> Response:
        return json_response(
            {
                "name": hub.config.name,
                "service": "clinical integration hub",
                "version": __version__,
                "links": {
                    "health": "/health",
                    "ready": "/ready",
                    "metrics": "/metrics",
                    "openapi": "/openapi.json",
                    "schemas": "/api/schemas",
                    "events": "/api/events",
                    "socket.io": "/socket.io/",
                },
            }
        )

    @bp.get("/health")
    async def health() -> Response:
        return json_response({"status": "alive"})

    @bp.get("/ready")
    async def ready() -> Response:
        problems = await hub.readiness()
        if problems:
            return json_response({"ready": False, "problems": problems}, 503)
        return json_response({"ready": True, "last_seq": hub.journal.last_seq})

    @bp.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(hub.metrics.registry), content_type=CONTENT_TYPE_LATEST)

    @bp.get("/openapi.json")
    async def openapi() -> Response:
        return json_response(openapi_document())

    @bp.get("/api/schemas")
    async def schemas() -> Response:
        return json_response({t: f"/api/schemas/{t}" for t in EVENT_TYPES})

    @bp.get("/api/schemas/<event_type>")
    async def schema(event_type: str) -> Response:
        if event_type not in EVENT_TYPES:
            return error(404, "unknown_event_type", f"no event type {event_type!r}")
        return json_response(json_schema(event_type))

    @bp.get("/api/audit")
    async def audit() -> Response:
        await authenticate(hub, roles=("admin",))
        since = int_arg("since", 0, 0, 2**62)
        limit = int_arg("limit", 100, 1, 1000)
        rows = await hub.journal.read_audit(
            since, limit, request.args.get("room"), request.args.get("subject")
        )
        return json_response(
            {
                "entries": [{"id": rid, **asdict(rec)} for rid, rec in rows],
                "next_since": rows[-1][0] if rows else since,
            }
        )

    @bp.get("/api/plugins")
    async def plugins() -> Response:
        await authenticate(hub, roles=("admin",))
        return json_response(
            {
                "loaded": [asdict(p) for p in hub.plugins.list()],
                "failed": [asdict(f) for f in hub.plugins.failures],
            }
        )

    @bp.errorhandler(HttpError)
    async def _http_error(exc: HttpError) -> Response:
        return exc.response

    return bp
