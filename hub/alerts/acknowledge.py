"""Acknowledge a patient alert: checked, journaled once, broadcast, audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.auth import Principal
from hub.events import AlertAcknowledged, Event, EventDraft, utc_now
from hub.journal.base import AuditRecord
from hub.rooms import parse_room

if TYPE_CHECKING:
    from hub.runtime import HubContext


def ack_id(alert_id: str) -> str:
    """The acknowledgement's event id: one per alert, whichever node or screen sends it, so a
    double click or two nurses at once journal it once (the second is told ``duplicate``)."""
    return f"ack:{alert_id}"


@dataclass(frozen=True)
class AckOutcome:
    ok: bool
    event: Event | None = None
    duplicate: bool = False
    error: str | None = None  # bad_request | not_found | not_an_alert | forbidden
    detail: str = ""

    def reply(self) -> dict[str, Any]:
        """The Socket.IO ack and HTTP body."""
        if self.ok:
            assert self.event is not None
            return {"ok": True, "event": self.event.wire(), "duplicate": self.duplicate}
        return {"ok": False, "error": self.error, "detail": self.detail}


async def acknowledge(
    hub: HubContext, principal: Principal, alert_id: Any, note: Any, client: str
) -> AckOutcome:
    if not isinstance(alert_id, str) or not 1 <= len(alert_id) <= 128:
        return AckOutcome(False, error="bad_request", detail="id must be a string of 1-128")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        return AckOutcome(False, error="bad_request", detail="note must be a string of <= 500")
    found = await hub.journal.read_events([alert_id])
    if not found:
        return AckOutcome(False, error="not_found", detail="no journaled event has this id")
    alert = found[0]
    if alert.type != "patient_alert":
        return AckOutcome(False, error="not_an_alert", detail=f"{alert_id} is a {alert.type}")
    patient = alert.data["patient_id"]
    room = parse_room(f"patient_{patient}")
    decision = hub.authorize(principal, room)
    reason = alert_id if decision.allowed else f"{alert_id}: {decision.reason}"
    await hub.journal.audit(
        AuditRecord.now(principal, "ack_alert", room.name, decision.allowed, reason, client)
    )
    if not decision.allowed:
        return AckOutcome(False, error="forbidden", detail=decision.reason)
    hospital = alert.data.get("hospital_id") or hub.census.patient_hospital(patient)
    payload = AlertAcknowledged(
        alert_id=alert_id,
        patient_id=patient,
        hospital_id=hospital,
        alert_type=alert.data["alert_type"],
        acknowledged_by=principal.subject,
        acknowledged_role=principal.role,
        acknowledged_at=utc_now(),
        note=note,
    )
    appended = await hub.publish([EventDraft(payload=payload, source="hub", id=ack_id(alert_id))])
    return AckOutcome(True, event=appended[0].event, duplicate=appended[0].duplicate)
