"""Bed and staffing feed records to ``bed_status_changed`` / ``staff_availability_changed``.

Records come from the feeds adapter (``adapters/feeds``) as a ``FeedBatch`` and are judged
against the census the HL7 plugin keeps too, so an ADT discharge and a bed board's
housekeeping update about the same bed tell one story:

- status: the source's ``status_map`` first (exact, then case-insensitive), then a table 0116
  code (C closed, H cleaning, I isolated, K contaminated, O occupied, U available), then a hub
  status word; anything else rejects the whole input with the row and column named;
- ids are sanitised like HL7's (``plugins.adt.ident``); a record without ``bed_id`` is the bed
  ``unit:room:bed``, the id HL7 PV1-3 gives the same bed;
- a record older (``updated_at``) than what the census holds is stale: dropped, counted in
  ``hub_feed_stale_total{source,kind}``;
- a record that says what the census already says (same status and patient; same availability,
  type and unit for staff) makes no event: this is what makes a snapshot emit only changes;
- a record that changes what another input set last is applied (the newest event time wins)
  and counted in ``hub_census_conflicts_total{kind}``, as is a stale record that disagrees
  with another input's newer state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from hub import hookimpl
from hub.events import BedStatusChanged, EventDraft, StaffAvailabilityChanged, iso, utc_now
from hub.inputs import RejectMessage
from plugins.adt import BED_STATUS_0116, STAFF_TYPE_CODES, ident

if TYPE_CHECKING:
    from adapters.feeds.records import BedRecord, FeedBatch, StaffRecord
    from hub.events import Event
    from hub.inputs import InboundMessage
    from hub.runtime import HubContext

HUB_STATUSES = frozenset(BED_STATUS_0116.values())
STAFF_TYPES = {"doctor": "doctor", "nurse": "nurse", "other": "other", **STAFF_TYPE_CODES}
# Decisions not yet in the census: two requests about one bed can be judged before either is
# committed, and the older must not win. Entries outlive their commit only briefly.
_PENDING_TTL_S = 10.0


@dataclass(frozen=True, slots=True)
class _Counters:
    stale: Counter
    conflicts: Counter
    records: Counter


HUB: HubContext | None = None
COUNTERS: _Counters | None = None
_BY_REGISTRY: dict[int, _Counters] = {}
_PENDING: dict[tuple[str, str, str], tuple[dict[str, Any], float]] = {}


@hookimpl
def configure(hub: HubContext) -> None:
    global HUB, COUNTERS
    HUB = hub
    registry = hub.metrics.registry
    counters = _BY_REGISTRY.get(id(registry))
    if counters is None:
        counters = _Counters(
            stale=Counter(
                "hub_feed_stale_total",
                "Feed records older than the census's state, ignored",
                ["source", "kind"],
                registry=registry,
            ),
            conflicts=Counter(
                "hub_census_conflicts_total",
                "Records disagreeing with the state another input set (newest time wins)",
                ["kind"],
                registry=registry,
            ),
            records=Counter(
                "hub_feed_records_total",
                "Feed records by outcome (applied, unchanged, stale)",
                ["source", "kind", "outcome"],
                registry=registry,
            ),
        )
        _BY_REGISTRY[id(registry)] = counters
    COUNTERS = counters
    _PENDING.clear()


def status_lookup(status_map: dict[str, str]) -> Callable[[str], str | None]:
    """The hub status for a sender's status word, per the rules above (None: unknown)."""
    folded = {k.lower(): v for k, v in status_map.items()}

    def lookup(word: str) -> str | None:
        mapped = status_map.get(word) or folded.get(word.lower())
        if mapped:
            return mapped
        code = BED_STATUS_0116.get(word.upper()) if len(word) == 1 else None
        if code:
            return code
        lowered = word.lower()
        return lowered if lowered in HUB_STATUSES else None

    return lookup


def staff_type(code: str | None, staff_map: dict[str, str]) -> str | None:
    if code is None:
        return None
    for table in (staff_map, STAFF_TYPES):
        found = table.get(code) or table.get(code.upper()) or table.get(code.lower())
        if found:
            return found
    return "other"


def _reject(batch: FeedBatch, row: int, column: str, code: str, detail: str) -> None:
    batch.rejection = {"row": row, "column": column}
    raise RejectMessage(f"row {row}, {column}: {detail}", code=code)


def _latest(key: tuple[str, str, str], held: dict[str, Any] | None) -> dict[str, Any] | None:
    """The newer of the census's record and a decision still on its way to the census."""
    pending = _PENDING.get(key)
    if pending is None:
        return held
    state, at = pending
    if time.monotonic() - at > _PENDING_TTL_S:
        _PENDING.pop(key, None)
        return held
    if held is None or (held.get("updated_at") or "") < state["updated_at"]:
        return state
    return held


class _Judge:
    """Stale / unchanged / applied for each record of one batch, with its tally."""

    def __init__(self, batch: FeedBatch, source: str) -> None:
        self.batch, self.source = batch, source
        self.tally = {"events": 0, "unchanged": 0, "stale": 0, "conflicts": 0}
        self.seen: dict[tuple[str, str, str], dict[str, Any]] = {}

    def current(
        self, key: tuple[str, str, str], held: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        return self.seen.get(key) or _latest(key, held)

    def decide(self, current: dict[str, Any] | None, when: str | None, same: bool) -> bool:
        """True when the record is to be applied."""
        if current is None:
            self.tally["events"] += 1
            return True
        other = current.get("source") != self.source
        held = current.get("updated_at")
        if when is not None and held and when < held:
            self.tally["stale"] += 1
            if other and not same:
                self.tally["conflicts"] += 1
            return False
        if same:
            self.tally["unchanged"] += 1
            return False
        if other:
            self.tally["conflicts"] += 1
        self.tally["events"] += 1
        return True

    def remember(self, key: tuple[str, str, str], state: dict[str, Any]) -> None:
        self.seen[key] = state
        _PENDING[key] = (state, time.monotonic())

    def finish(self) -> None:
        self.batch.tally = self.tally
        if COUNTERS is None:
            return
        kind = self.batch.kind
        t = self.tally
        for outcome, count in (
            ("applied", t["events"]),
            ("unchanged", t["unchanged"]),
            ("stale", t["stale"]),
        ):
            if count:
                COUNTERS.records.labels(self.source, kind, outcome).inc(count)
        if t["stale"]:
            COUNTERS.stale.labels(self.source, kind).inc(t["stale"])
        if t["conflicts"]:
            COUNTERS.conflicts.labels(kind).inc(t["conflicts"])


def _hospital(batch: FeedBatch, record: BedRecord | StaffRecord) -> str:
    hospital = ident(record.hospital) or ident(batch.hospital)
    if hospital is None:
        _reject(
            batch,
            record.row,
            "hospital",
            "no_hospital",
            "no hospital in the record, the request (?hospital=) or the source's settings",
        )
    assert hospital is not None
    return hospital


def _beds(batch: FeedBatch, source: str) -> list[EventDraft]:
    lookup = status_lookup(batch.status_map)
    judge = _Judge(batch, source)
    census = HUB.census if HUB is not None else None
    now = iso(utc_now())
    drafts: list[EventDraft] = []
    record: BedRecord
    for record in batch.records:
        hospital = _hospital(batch, record)
        status = lookup(record.status)
        if status is None:
            _reject(
                batch,
                record.row,
                "status",
                "unknown_status",
                f"unknown bed status {record.status!r}: use a table 0116 code (C, H, I, K, O, "
                "U), one of " + ", ".join(sorted(HUB_STATUSES)) + ", or the source's status_map",
            )
        assert status is not None
        bed_id = ident(record.bed_id) or ident(
            ":".join(p or "" for p in (record.unit, record.room, record.bed))
        )
        if bed_id is None:
            _reject(batch, record.row, "bed_id", "missing_bed_id", "no usable bed id")
        assert bed_id is not None
        patient = ident(record.patient_id)
        when = iso(record.updated_at) if record.updated_at else None
        key = ("beds", hospital, bed_id)
        current = judge.current(key, census.bed(hospital, bed_id) if census else None)
        same = (
            current is not None
            and current.get("status") == status
            and current.get("patient_id") == patient
        )
        if not judge.decide(current, when, same):
            continue
        known = current or {}
        info: dict[str, Any] = {
            "bed_id": bed_id,
            "status": status,
            "unit": record.unit or known.get("unit"),
            "room": record.room or known.get("room"),
            "bed": record.bed or known.get("bed"),
        }
        if patient:
            info["patient_id"] = patient
        drafts.append(
            EventDraft(
                payload=BedStatusChanged.model_validate(
                    {"hospital_id": hospital, "bed_info": info, "timestamp": record.updated_at}
                ),
                source=source,
            )
        )
        judge.remember(
            key,
            {**info, "patient_id": patient, "updated_at": when or now, "source": source},
        )
    judge.finish()
    return drafts


def _staff(batch: FeedBatch, source: str) -> list[EventDraft]:
    judge = _Judge(batch, source)
    census = HUB.census if HUB is not None else None
    rosters: dict[str, dict[str, dict[str, Any]]] = {}
    now = iso(utc_now())
    drafts: list[EventDraft] = []
    record: StaffRecord
    for record in batch.records:
        hospital = _hospital(batch, record)
        staff_id = ident(record.staff_id)
        if staff_id is None:
            _reject(batch, record.row, "staff_id", "missing_staff_id", "no usable staff id")
        assert staff_id is not None
        if census is not None and hospital not in rosters:
            rosters[hospital] = {m["staff_id"]: m for m in census.staff(hospital)}
        key = ("staff", hospital, staff_id)
        current = judge.current(key, rosters.get(hospital, {}).get(staff_id))
        known = current or {}
        kind = staff_type(record.staff_type, batch.staff_type_map) or known.get("staff_type")
        unit = ident(record.unit) or known.get("unit")
        when = iso(record.updated_at) if record.updated_at else None
        same = (
            current is not None
            and current.get("available") == record.available
            and current.get("staff_type") == (kind or "other")
            and current.get("unit") == unit
        )
        if not judge.decide(current, when, same):
            continue
        payload = {
            "hospital_id": hospital,
            "staff_id": staff_id,
            "staff_type": kind or "other",
            "available": record.available,
            "unit": unit,
            "timestamp": record.updated_at,
        }
        drafts.append(
            EventDraft(payload=StaffAvailabilityChanged.model_validate(payload), source=source)
        )
        judge.remember(
            key,
            {
                "staff_id": staff_id,
                "staff_type": kind or "other",
                "available": record.available,
                "unit": unit,
                "updated_at": when or now,
                "source": source,
            },
        )
    judge.finish()
    return drafts


@hookimpl
def normalize(message: InboundMessage) -> list[EventDraft] | None:
    if message.kind != "feed":
        return None
    batch: FeedBatch = message.body
    return _beds(batch, message.source) if batch.kind == "beds" else _staff(batch, message.source)


@hookimpl
def event_journaled(event: Event) -> None:
    # once the census holds a decision, the pending copy is no longer needed
    if not _PENDING:
        return
    data = event.data
    if event.type == "bed_status_changed":
        key = ("beds", data["hospital_id"], data["bed_info"]["bed_id"])
    elif event.type == "staff_availability_changed":
        key = ("staff", data["hospital_id"], data["staff_id"])
    else:
        return
    pending = _PENDING.get(key)
    if pending is not None and pending[0]["updated_at"] <= event.timestamp:
        _PENDING.pop(key, None)
