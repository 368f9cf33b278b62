"""Reference docs generated from the models, so docs/events.md cannot drift from the code."""

from __future__ import annotations

from typing import Any

from hub.config import describe
from hub.events import EVENT_MODELS, SCHEMA_VERSION, envelope_schema, json_schema

ROUTING = {
    "patient_alert": "`patient_{patient_id}`",
    "risk_updated": "`patient_{patient_id}`",
    "hospital_alert": "`hospital_{hospital_id}`",
    "triage_updated": "`triage_{triage_id}`, `patient_{patient_id}`, `triage_queue`",
    "staff_availability_changed": "`hospital_{hospital_id}`",
    "bed_status_changed": "`hospital_{hospital_id}`, and `patient_{bed_info.patient_id}` when set",
    "alert_acknowledged": "`patient_{patient_id}`, and `hospital_{hospital_id}` when known",
    "alert_escalated": "`hospital_{hospital_id}`, `patient_{patient_id}`",
}


def _type_of(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if "$ref" in prop:
        return "object"
    kind = str(prop.get("type", "any"))
    bounds = []
    if "minimum" in prop:
        bounds.append(f">= {prop['minimum']}")
    if "maximum" in prop:
        bounds.append(f"<= {prop['maximum']}")
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def events_markdown() -> str:
    lines = [
        "# Events reference",
        "",
        "Generated from `hub/events.py` by `hub reference events`; do not edit by hand.",
        f"Schema version: {SCHEMA_VERSION}. JSON Schemas: `GET /api/schemas/{{type}}`.",
        "",
        "## Envelope (every event)",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
    ]
    for name, prop in envelope_schema().items():
        lines.append(f"| `{name}` | {prop['type']} | {prop['description']} |")
    for event_type, model in EVENT_MODELS.items():
        schema = json_schema(event_type)
        envelope = set(envelope_schema())
        lines += [
            "",
            f"## `{event_type}`",
            "",
            " ".join((model.__doc__ or "").split()),
            "",
            f"Delivered to: {ROUTING[event_type]}.",
            "",
            "| field | type | required | meaning |",
            "|---|---|---|---|",
        ]
        required = set(model.model_json_schema().get("required", []))
        for name, prop in schema["properties"].items():
            if name in envelope:
                continue
            desc = prop.get("description", "")
            if name == "bed_info":
                desc = "bed_id (required), status (required), patient_id, unit, room, extra keys"
            req = "yes" if name in required else "no"
            lines.append(f"| `{name}` | {_type_of(prop)} | {req} | {desc} |")
    return "\n".join(lines) + "\n"


def config_markdown() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from `hub/config.py` by `hub reference config`; do not edit by hand.",
        "Environment overrides: `HUB_<SECTION>__<KEY>`; lists comma-separated or JSON.",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
    ]
    for key, default, description in describe():
        lines.append(f"| `{key}` | `{default}` | {description} |")
    return "\n".join(lines) + "\n"
