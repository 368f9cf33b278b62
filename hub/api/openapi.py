"""The OpenAPI 3.1 document for the HTTP API, with event schemas taken from the models."""

from __future__ import annotations

from functools import cache
from typing import Any

from hub import __version__
from hub.events import EVENT_TYPES, HUB_EVENT_TYPES, input_schema, json_schema


def _err(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


@cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "detail"],
            "properties": {
                "error": {"type": "string", "description": "Machine-readable code."},
                "detail": {"type": "string", "description": "What is wrong, for people."},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string"},
                            "error": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                },
            },
        },
        "Accepted": {
            "type": "object",
            "required": ["id", "seq", "duplicate"],
            "properties": {
                "id": {"type": "string"},
                "seq": {"type": "integer"},
                "duplicate": {"type": "boolean", "description": "True when the id was seen."},
            },
        },
    }
    paths: dict[str, Any] = {}
    for event_type in EVENT_TYPES:
        schemas[event_type] = json_schema(event_type)
        if event_type in HUB_EVENT_TYPES:
            continue  # raised by the hub itself, not publishable
        in_name = f"{event_type}_input"
        schemas[in_name] = input_schema(event_type)
        paths[f"/api/events/{event_type}"] = {
            "post": {
                "summary": f"Publish a {event_type} event",
                "description": "Journaled durably before the 202 is sent; then emitted to rooms.",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{in_name}"}}
                    },
                },
                "responses": {
                    "202": {
                        "description": "Journaled",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}
                            }
                        },
                    },
                    "400": _err("Malformed JSON"),
                    "401": _err("Missing or invalid token"),
                    "403": _err("Token lacks the service role"),
                    "413": _err("Body larger than server.max_body_bytes"),
                    "415": _err("Not application/json"),
                    "422": _err("Validation failed; errors lists each field"),
                },
            }
        }
    paths["/api/events"] = {
        "get": {
            "summary": "Read a room's history after a position (authorized like join_room)",
            "security": [{"bearer": []}],
            "parameters": [
                {"name": "room", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
            ],
            "responses": {
                "200": {
                    "description": "Events in seq order; continue with since=next_since",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "room": {"type": "string"},
                                    "next_since": {"type": "integer"},
                                    "truncated": {"type": "boolean"},
                                    "more": {"type": "boolean"},
                                    "events": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        }
                    },
                },
                "400": _err("Invalid room or parameters"),
                "401": _err("Missing or invalid token"),
                "403": _err("Room not allowed for this token"),
            },
        }
    }
    for path, summary in (
        ("/", "Name, version and links"),
        ("/health", "Liveness"),
        ("/ready", "Readiness: journal writable and every input up (503 with reasons otherwise)"),
        ("/metrics", "Prometheus metrics"),
        ("/api/schemas", "Event JSON Schemas"),
        ("/api/audit", "Room join/leave/read audit trail (admin)"),
        ("/api/plugins", "Loaded and failed plugins (admin)"),
        ("/api/inbound", "Inbound messages kept by the hub, by status (admin)"),
        ("/api/inbound/{id}", "One inbound message with its raw bytes and reply (admin)"),
        ("/api/hospitals/{id}/beds", "The hospital's bed board (readers of hospital_{id})"),
        ("/api/hospitals/{id}/staff", "Staff and on-duty counts (readers of hospital_{id})"),
        ("/api/alerts", "Open patient alerts of ?hospital=H, newest first (its readers)"),
        ("/api/triage", "Open triage cases of ?hospital=H with waiting times (its readers)"),
        ("/api/ops/status", "Inputs' health, message rates, inbound errors, clients (admin)"),
        ("/console", "The clinician console (when built; 404 with how to build it otherwise)"),
    ):
        paths[path] = {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}
    paths["/api/alerts/{id}/ack"] = {
        "post": {
            "summary": "Acknowledge a patient_alert (readers of its patient room); journaled and "
            "broadcast as alert_acknowledged. Body: optional {note}.",
            "security": [{"bearer": []}],
            "responses": {
                "200": {
                    "description": "{event, duplicate}: the acknowledgement, new or earlier",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "401": _err("Missing or invalid token"),
                "403": _err("The alert's patient room is not allowed for this token"),
                "404": _err("No such alert"),
                "409": _err("The id is not a patient_alert"),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Clinical integration hub", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
