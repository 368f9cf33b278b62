"""The journal contract: what the core needs from durable storage, whatever the backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from hub.events import Event, iso, utc_now


@dataclass(frozen=True, slots=True)
class Appended:
    """Result of appending one event: the journaled event and whether it was already there."""

    event: Event
    wire: str  # the JSON clients receive, encoded once at write time
    duplicate: bool


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: str
    subject: str
    role: str
    action: str  # join | leave | read | ack_alert | escalate
    room: str
    outcome: str  # allowed | denied
    reason: str
    client: str

    @classmethod
    def now(
        cls,
        principal: Any,
        action: str,
        room: str,
        allowed: bool,
        reason: str,
        client: str,
    ) -> AuditRecord:
        """A record of ``principal`` (anything with ``subject`` and ``role``) doing ``action``
        on ``room`` now."""
        return cls(
            iso(utc_now()),
            principal.subject,
            principal.role,
            action,
            room,
            "allowed" if allowed else "denied",
            reason,
            client,
        )


@dataclass(frozen=True, slots=True)
class StoredInput:
    """A raw inbound message as durably stored before it was acknowledged."""

    id: int
    source: str
    dedupe_key: str | None
    raw: bytes
    status: str  # pending | processed | error | rejected
    duplicate: bool = False
    reply: bytes | None = None  # the answer first given (an HL7 ACK), replayed to duplicates
    error: str | None = None
    received_at: str = ""


@dataclass(frozen=True, slots=True)
class InputRecord:
    """An inbound message to keep, with the outcome of normalizing it and the answer given."""

    source: str
    dedupe_key: str | None
    raw: bytes
    received_at: str
    status: str  # processed | error | rejected
    reply: bytes | None = None
    error: str | None = None

    def kept(
        self, input_id: int, events: list[tuple[str, Event]]
    ) -> tuple[StoredInput, list[tuple[str, Event]]]:
        """The row as stored under ``input_id``, and each event paired with its id: its own,
        or ``{source}:{input id}:{local id}`` (what reprocessing the input gives it too)."""
        prefix = f"{self.source}:{input_id}"
        named = [(ev.id or f"{prefix}:{local}", ev) for local, ev in events]
        stored = StoredInput(
            input_id,
            self.source,
            self.dedupe_key,
            self.raw,
            self.status,
            False,
            self.reply,
            self.error,
            self.received_at,
        )
        return stored, named


@dataclass(frozen=True, slots=True)
class ReplayPage:
    """Events of one room after a position, and whether older ones were pruned away."""

    items: list[tuple[int, str]]  # (seq, wire JSON)
    truncated: bool


class Journal(Protocol):
    """Durable, ordered event storage with a per-room index, the audit trail and the census.

    ``append`` returns only once the events are durable (committed and synced): callers
    acknowledge senders after it returns, never before.
    """

    @property
    def last_seq(self) -> int: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, events: list[Event]) -> list[Appended]: ...

    async def read_room(self, room: str, since: int, until: int, limit: int) -> ReplayPage: ...

    async def read_ids(self, ids: list[str]) -> dict[str, int]: ...

    async def read_events(self, ids: list[str]) -> list[Event]:
        """The journaled events with these ids (those that exist), in seq order."""
        ...

    async def read_recent(self, types: list[str], received_after: str) -> list[Event]:
        """Events of ``types`` received after ``received_after`` (ISO 8601), in seq order:
        how a component rebuilds short-lived state (unacknowledged alerts) after a restart."""
        ...

    async def audit(self, record: AuditRecord) -> None: ...

    async def store_input(
        self,
        source: str,
        dedupe_key: str | None,
        raw: bytes,
        received_at: str,
        status: str = "pending",
        error: str | None = None,
    ) -> StoredInput:
        """Durably keep an inbound message before it is acknowledged; returns the stored row,
        or the earlier one (``duplicate=True``) when ``dedupe_key`` was already accepted."""
        ...

    async def finish_input(
        self, input_id: int, status: str, reply: bytes | None, error: str | None
    ) -> None: ...

    async def accept_input(
        self, record: InputRecord, events: list[tuple[str, Event]]
    ) -> tuple[StoredInput, list[Appended]]:
        """Store an inbound message, its events and its answer in one durable transaction.

        ``events`` pairs each event with its local id; one with an empty ``id`` gets
        ``{source}:{input id}:{local id}``, the id ``ingest`` gives a stored input's events,
        so reprocessing the same input later journals nothing twice.
        When ``record.dedupe_key`` was already accepted nothing is written: the earlier row
        (``duplicate=True``, with its reply) is returned and no events."""
        ...

    async def pending_inputs(self, source: str) -> list[StoredInput]: ...

    async def claim_pending(self, source: str) -> list[StoredInput]:
        """Pending inputs of ``source`` that no live node is working on, now this node's to
        finish. With one process that is every pending input; nodes sharing a journal lease
        them, so a dead node's are taken over once its lease runs out."""
        ...

    async def list_inputs(
        self, status: str | None, source: str | None, since_id: int, limit: int
    ) -> list[StoredInput]: ...

    async def get_input(self, input_id: int) -> StoredInput | None: ...

    async def read_audit(
        self, since_id: int, limit: int, room: str | None, subject: str | None
    ) -> list[tuple[int, AuditRecord]]: ...

    def patient_hospitals(self, patient_id: str) -> frozenset[str]: ...

    def triage_patient(self, triage_id: str) -> str | None: ...

    def patient_triage_cases(self, patient_id: str) -> dict[str, dict[str, Any]]:
        """Triage cases by id whose patient is ``patient_id``: status, hospital, priority."""
        ...

    def bed_board(self, hospital_id: str) -> list[dict[str, Any]]: ...

    def patient_bed(self, patient_id: str) -> dict[str, Any] | None: ...

    def bed(self, hospital_id: str, bed_id: str) -> dict[str, Any] | None:
        """The bed's latest record (status, patient, ``updated_at`` event time), if known."""
        ...

    def staff(self, hospital_id: str) -> list[dict[str, Any]]:
        """Every staff member the hub heard of in a hospital, with availability and type."""
        ...

    async def prune(self, older_than_iso: str) -> int: ...

    async def prune_records(self, inputs_before_iso: str, audit_before_iso: str) -> tuple[int, int]:
        """Delete inbound messages (never pending ones) and audit records older than the
        cutoffs, a small transaction at a time so writers are not held up; the counts."""
        ...

    async def check_writable(self) -> str | None: ...
