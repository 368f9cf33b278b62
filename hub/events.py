"""The six clinical event types: typed, versioned payload models and the envelope of each event.

The payload fields are the seed's wire contract (``../shared/seed``); the envelope adds what a
client needs to resume and deduplicate: ``id``, ``seq``, ``type``, ``version``, ``timestamp``
(clinical time), ``received_at`` and ``source``. Bump ``SCHEMA_VERSION`` on a breaking change.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SCHEMA_VERSION = 1

# Ids become part of room names (patient_{id}), so they are restricted to characters that cannot
# smuggle another room or a path segment.
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a Z suffix."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    # uuid7 would sort by time but is not in 3.11's stdlib; ids are opaque to clients anyway.
    return uuid.uuid4().hex


class EventPayload(BaseModel):
    """Fields common to every payload model."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_type: ClassVar[str]
    timestamp: datetime | None = Field(
        None,
        description="When it happened clinically (ISO 8601; naive times are taken as UTC). "
        "Defaults to the time the hub received it.",
    )

    @field_validator("timestamp")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def rooms(self) -> list[str]:
        """Rooms the event is delivered to (seed routing)."""
        raise NotImplementedError

    def patient_location(self) -> tuple[str, str] | None:
        """(patient_id, hospital_id) when the event says where a patient is."""
        return None


class PatientAlert(EventPayload):
    """An alert about one patient (critical result, deterioration, device alarm)."""

    event_type: ClassVar[str] = "patient_alert"
    patient_id: Identifier = Field(description="Patient identifier (no names).")
    alert_type: Literal["critical", "warning", "info"] = Field(description="Severity class.")
    alert_data: dict[str, Any] = Field(
        default_factory=dict, description="Details, e.g. {message, severity, code}."
    )
    hospital_id: Identifier | None = Field(None, description="Hospital the patient is in.")

    def rooms(self) -> list[str]:
        return [f"patient_{self.patient_id}"]

    def patient_location(self) -> tuple[str, str] | None:
        return (self.patient_id, self.hospital_id) if self.hospital_id else None


class RiskUpdated(EventPayload):
    """A new risk score for a patient (NEWS2, qSOFA, a model)."""

    event_type: ClassVar[str] = "risk_updated"
    patient_id: Identifier = Field(description="Patient identifier.")
    risk_score: float = Field(ge=0.0, le=1.0, description="Normalised risk, 0..1.")
    risk_level: Literal["low", "low-medium", "medium", "high", "critical"] = Field(
        description="Risk band; NEWS2 uses low, low-medium (a single parameter scoring 3), "
        "medium and high (RCP 2017 Chart 3)."
    )
    explanation: dict[str, Any] = Field(
        default_factory=dict, description="What drove the score (features, raw score, method)."
    )
    hospital_id: Identifier | None = Field(None, description="Hospital the patient is in.")

    def rooms(self) -> list[str]:
        return [f"patient_{self.patient_id}"]

    def patient_location(self) -> tuple[str, str] | None:
        return (self.patient_id, self.hospital_id) if self.hospital_id else None


class HospitalAlert(EventPayload):
    """A hospital-wide alert: emergency, capacity, or a system problem."""

    event_type: ClassVar[str] = "hospital_alert"
    hospital_id: Identifier = Field(description="Hospital identifier.")
    alert_type: Literal["emergency", "capacity", "system"] = Field(description="Alert class.")
    alert_data: dict[str, Any] = Field(
        default_factory=dict, description="Details, e.g. {message, level, unit}."
    )

    def rooms(self) -> list[str]:
        return [f"hospital_{self.hospital_id}"]


class TriageUpdated(EventPayload):
    """A triage case changed status."""

    event_type: ClassVar[str] = "triage_updated"
    triage_id: Identifier = Field(description="Triage case identifier.")
    status: Literal["pending", "triaged", "assigned", "completed", "cancelled"] = Field(
        description="Triage status."
    )
    patient_id: Identifier = Field(description="Patient being triaged.")
    hospital_id: Identifier | None = Field(None, description="Hospital of the triage case.")
    priority: int | None = Field(None, ge=1, le=5, description="Acuity, e.g. ESI 1 (highest)-5.")
    details: dict[str, Any] = Field(default_factory=dict, description="Further details.")

    def rooms(self) -> list[str]:
        return [f"triage_{self.triage_id}", f"patient_{self.patient_id}", "triage_queue"]

    def patient_location(self) -> tuple[str, str] | None:
        return (self.patient_id, self.hospital_id) if self.hospital_id else None


class StaffAvailabilityChanged(EventPayload):
    """A staff member went on or off duty."""

    event_type: ClassVar[str] = "staff_availability_changed"
    hospital_id: Identifier = Field(description="Hospital identifier.")
    staff_id: Identifier = Field(description="Staff identifier (no names).")
    staff_type: Literal["doctor", "nurse", "other"] = Field(description="Kind of staff.")
    available: bool = Field(description="True when on duty / available.")
    unit: Identifier | None = Field(None, description="Unit or ward, if known.")

    def rooms(self) -> list[str]:
        return [f"hospital_{self.hospital_id}"]


class BedInfo(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    bed_id: Identifier = Field(description="Bed identifier.")
    status: str = Field(
        min_length=1, max_length=64, description="Bed status (e.g. occupied, available)."
    )
    patient_id: Identifier | None = Field(None, description="Patient in the bed, if any.")
    unit: str | None = Field(None, max_length=128, description="Unit or ward.")
    room: str | None = Field(None, max_length=128, description="Physical room.")


class BedStatusChanged(EventPayload):
    """A bed changed status (occupied, available, cleaning, ...)."""

    event_type: ClassVar[str] = "bed_status_changed"
    hospital_id: Identifier = Field(description="Hospital identifier.")
    bed_info: BedInfo = Field(description="The bed and its new status.")

    def rooms(self) -> list[str]:
        rooms = [f"hospital_{self.hospital_id}"]
        if self.bed_info.patient_id:
            rooms.append(f"patient_{self.bed_info.patient_id}")
        return rooms

    def patient_location(self) -> tuple[str, str] | None:
        pid = self.bed_info.patient_id
        return (pid, self.hospital_id) if pid else None


class AlertAcknowledged(EventPayload):
    """A clinician acknowledged a patient alert; every screen showing it clears it.

    Raised by the hub itself (``ack_alert`` over Socket.IO, ``POST /api/alerts/{id}/ack``),
    never published by other systems."""

    event_type: ClassVar[str] = "alert_acknowledged"
    alert_id: str = Field(min_length=1, max_length=128, description="Id of the patient_alert.")
    patient_id: Identifier = Field(description="Patient of the alert.")
    hospital_id: Identifier | None = Field(None, description="Hospital of the alert, if known.")
    alert_type: Literal["critical", "warning", "info"] = Field(description="Its severity.")
    acknowledged_by: str = Field(
        min_length=1, max_length=256, description="Token subject of who acknowledged it."
    )
    acknowledged_role: str = Field(max_length=64, description="Their role.")
    acknowledged_at: datetime = Field(description="When (UTC).")
    note: str | None = Field(None, max_length=500, description="Optional free-text note.")

    def rooms(self) -> list[str]:
        # the alert's own room, and the hospital room its escalations went to
        rooms = [f"patient_{self.patient_id}"]
        if self.hospital_id:
            rooms.append(f"hospital_{self.hospital_id}")
        return rooms


class AlertEscalated(EventPayload):
    """A critical patient alert nobody acknowledged in time, re-sent to the patient's
    hospital room (the charge nurse) as one step of the escalation chain.

    Raised by the hub itself, never published by other systems."""

    event_type: ClassVar[str] = "alert_escalated"
    alert_id: str = Field(min_length=1, max_length=128, description="Id of the patient_alert.")
    patient_id: Identifier = Field(description="Patient of the alert.")
    hospital_id: Identifier = Field(description="Hospital whose room it is escalated to.")
    step: int = Field(ge=1, description="Escalation step, 1 for the first.")
    escalate_to: str = Field(
        max_length=64, description="Who this step is for, from the chain (e.g. charge_nurse)."
    )
    unacknowledged_s: float = Field(ge=0, description="Seconds the alert had gone unanswered.")
    alert_type: Literal["critical", "warning", "info"] = Field(description="The alert's severity.")
    alert_data: dict[str, Any] = Field(default_factory=dict, description="The alert's details.")

    def rooms(self) -> list[str]:
        return [f"hospital_{self.hospital_id}", f"patient_{self.patient_id}"]


EVENT_MODELS: dict[str, type[EventPayload]] = {
    m.event_type: m
    for m in (
        PatientAlert,
        RiskUpdated,
        HospitalAlert,
        TriageUpdated,
        StaffAvailabilityChanged,
        BedStatusChanged,
        AlertAcknowledged,
        AlertEscalated,
    )
}
EVENT_TYPES = tuple(EVENT_MODELS)
# Raised by the hub about its own alerts, with checks (the alert exists, the caller may see it)
# that a publish through POST /api/events would skip.
HUB_EVENT_TYPES = ("alert_acknowledged", "alert_escalated")


class UnknownEventType(ValueError):
    pass


def parse_payload(event_type: str, data: Any) -> EventPayload:
    """Validate a payload for ``event_type``; raises UnknownEventType or ValidationError."""
    model = EVENT_MODELS.get(event_type)
    if model is None:
        raise UnknownEventType(
            f"unknown event type {event_type!r}; expected one of {', '.join(EVENT_TYPES)}"
        )
    return model.model_validate(data)


class EventDraft(BaseModel):
    """What a plugin or API caller hands the pipeline: a validated payload and its provenance."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    payload: EventPayload
    source: str = Field(description="Input that produced it, e.g. 'api', 'mllp:adt-main'.")
    id: str | None = Field(
        None, description="Caller-chosen id for idempotent retries; generated when absent."
    )


class Event(BaseModel):
    """A journaled event: envelope plus payload; ``wire()`` is what clients receive."""

    model_config = ConfigDict(frozen=True)

    id: str
    seq: int
    type: str
    version: int = SCHEMA_VERSION
    timestamp: str
    received_at: str
    source: str
    rooms: tuple[str, ...]
    data: dict[str, Any]
    patient_location: tuple[str, str] | None = Field(
        None, description="(patient, hospital) the event places a patient in; not sent."
    )

    def wire(self) -> dict[str, Any]:
        body = dict(self.data)
        body.update(
            id=self.id,
            seq=self.seq,
            type=self.type,
            version=self.version,
            timestamp=self.timestamp,
            received_at=self.received_at,
            source=self.source,
        )
        return body


def envelope_schema() -> dict[str, Any]:
    return {
        "id": {"type": "string", "description": "Unique event id, stable across replays."},
        "seq": {"type": "integer", "description": "Journal position; resume with since=seq."},
        "type": {"type": "string", "description": "Event type (the Socket.IO event name)."},
        "version": {"type": "integer", "description": "Schema version of this event type."},
        "timestamp": {
            "type": "string",
            "format": "date-time",
            "description": "When it happened clinically (UTC).",
        },
        "received_at": {
            "type": "string",
            "format": "date-time",
            "description": "When the hub received it (UTC).",
        },
        "source": {"type": "string", "description": "Input that produced the event."},
    }


def json_schema(event_type: str) -> dict[str, Any]:
    """JSON Schema of the event as delivered: the payload fields plus the envelope."""
    model = EVENT_MODELS[event_type]
    schema = model.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:clinical-hub:event:{event_type}:v{SCHEMA_VERSION}"
    schema["title"] = event_type
    props = schema.setdefault("properties", {})
    props["timestamp"] = envelope_schema()["timestamp"]
    props.update(envelope_schema())
    required = set(schema.get("required", []))
    required.update(["id", "seq", "type", "version", "timestamp", "received_at", "source"])
    schema["required"] = sorted(required)
    schema["additionalProperties"] = False
    return schema


def input_schema(event_type: str) -> dict[str, Any]:
    """JSON Schema of the body POST /api/events/{type} accepts."""
    schema = EVENT_MODELS[event_type].model_json_schema(mode="validation")
    props = schema.setdefault("properties", {})
    props["id"] = {
        "type": "string",
        "description": "Optional idempotency id; a retry with the same id is not journaled twice.",
    }
    return schema
