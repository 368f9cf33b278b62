"""A small FHIR server over real HTTP for the receiver's reads: resources by id, ``$events``
and ``_lastUpdated`` searches, with switches for failures. Synthetic data only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

FHIR_JSON = "application/fhir+json"


class FhirServer:
    def __init__(self) -> None:
        self.resources: dict[str, dict[str, Any]] = {}  # "Type/id" -> resource
        self.events: dict[int, str] = {}  # event number -> focus "Type/id"
        self.supports_events = True
        self.fail_next = 0  # answer this many requests with 503 first
        self.requests: list[str] = []
        self.status = "active"  # what $status reports, with the number of events sent

    def add(self, resource: dict[str, Any], updated: str = "2026-03-10T16:00:00Z") -> None:
        resource.setdefault("meta", {})["lastUpdated"] = updated
        self.resources[f"{resource['resourceType']}/{resource['id']}"] = resource

    def _json(self, body: Any, status: int = 200) -> web.Response:
        import json

        return web.Response(text=json.dumps(body), status=status, content_type=FHIR_JSON)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503)
        parts = request.match_info["path"].strip("/").split("/")
        if len(parts) == 3 and parts[0] == "Subscription" and parts[2] == "$status":
            status = {
                "resourceType": "SubscriptionStatus",
                "status": self.status,
                "type": "query-status",
                "eventsSinceSubscriptionStart": str(max(self.events, default=0)),
            }
            return self._json(
                {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": status}]}
            )
        if len(parts) == 3 and parts[0] == "Subscription" and parts[2] == "$events":
            if not self.supports_events:
                return self._json({"resourceType": "OperationOutcome"}, 404)
            since = int(request.query["eventsSinceNumber"])
            until = int(request.query["eventsUntilNumber"])
            numbers = [n for n in sorted(self.events) if since <= n <= until]
            status = {
                "resourceType": "SubscriptionStatus",
                "status": "active",
                "type": "query-event",
                "notificationEvent": [
                    {"eventNumber": str(n), "focus": {"reference": self.events[n]}} for n in numbers
                ],
            }
            entries = [{"resource": status}] + [
                {"resource": self.resources[self.events[n]]} for n in numbers
            ]
            return self._json({"resourceType": "Bundle", "type": "history", "entry": entries})
        if len(parts) == 2:
            found = self.resources.get("/".join(parts))
            return self._json(found) if found else self._json({}, 404)
        if len(parts) == 1:
            since = request.query.get("_lastUpdated", "ge")[2:]
            matches = [
                r
                for key, r in self.resources.items()
                if key.startswith(parts[0] + "/") and r["meta"]["lastUpdated"] >= since
            ]
            return self._json(
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "entry": [{"resource": r} for r in matches],
                }
            )
        return self._json({}, 404)

    @asynccontextmanager
    async def serve(self, port: int) -> AsyncIterator[FhirServer]:
        app = web.Application()
        app.router.add_get("/fhir/{path:.*}", self._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        try:
            yield self
        finally:
            await runner.cleanup()
