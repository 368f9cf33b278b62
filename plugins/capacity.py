"""Bed occupancy per unit and per hospital, and ``hospital_alert``s (``capacity``) on crossings.

- Occupancy = beds in an occupied status / beds the hub knows in the unit or hospital, less
  beds in an excluded status (a closed bed is not capacity). A scope with fewer than
  ``min_beds`` countable beds is not judged.
- Levels are ``none``, ``warning`` and ``critical``. A level is raised when occupancy reaches
  its threshold and only lowered once occupancy falls below threshold - hysteresis, so a bed
  flickering at the threshold raises one alert, not one per flicker. Each level change is one
  ``hospital_alert`` (``alert_type = "capacity"``) in the hospital's room; falling back to no
  level sends ``level = "cleared"``.
- Counters are kept incrementally from ``bed_status_changed`` events; a hospital's counters are
  seeded from the census the first time one of its bed events is seen, and all its scopes are
  judged then. Levels live in memory only: after a restart an alert that was active before is
  raised again at the first bed event of its hospital (see docs/capacity.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hub import hookimpl
from hub.events import EventDraft, HospitalAlert

if TYPE_CHECKING:
    from hub.events import Event
    from hub.inputs import Input
    from hub.runtime import HubContext

log = logging.getLogger("plugins.capacity")

NAME = "capacity"
SOURCE = "capacity"
LEVELS = ("none", "warning", "critical")
# Thresholds are fractions the operator typed (0.9 - 0.03 is not exactly 0.87 in binary);
# without the slack an occupancy of exactly 87% could count as below the clearing line.
_EPS = 1e-9


class CapacitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warning: float = Field(0.90, gt=0, le=1, description="Occupancy that raises a warning.")
    critical: float = Field(0.95, gt=0, le=1, description="Occupancy that raises critical.")
    hysteresis: float = Field(
        0.03,
        ge=0,
        lt=1,
        description="A level clears only when occupancy falls below its threshold minus this.",
    )
    per_unit: bool = Field(True, description="Judge each unit (ward).")
    per_hospital: bool = Field(True, description="Judge each hospital as a whole.")
    min_beds: int = Field(
        4, ge=1, description="Units and hospitals with fewer countable beds are not judged."
    )
    occupied_statuses: list[str] = Field(
        default_factory=lambda: ["occupied"], description="Bed statuses counted as occupied."
    )
    excluded_statuses: list[str] = Field(
        default_factory=lambda: ["closed"],
        description="Bed statuses left out of the denominator (not capacity).",
    )
    hospitals: list[str] | None = Field(
        None, description="Only these hospitals are judged; all when absent."
    )

    @field_validator("critical")
    @classmethod
    def _critical_not_below_warning(cls, value: float, info: ValidationInfo) -> float:
        warning = info.data.get("warning")
        if warning is not None and value < warning:
            raise ValueError(f"must be at least warning ({warning})")
        return value

    @field_validator("hysteresis")
    @classmethod
    def _hysteresis_below_warning(cls, value: float, info: ValidationInfo) -> float:
        # warning - hysteresis <= 0 would be a level that can never clear
        warning = info.data.get("warning")
        if warning is not None and value >= warning:
            raise ValueError(f"must be less than warning ({warning}) or no alert ever clears")
        return value

    @field_validator("occupied_statuses", "excluded_statuses")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [s.strip().lower() for s in value]

    @field_validator("excluded_statuses")
    @classmethod
    def _disjoint(cls, value: list[str], info: ValidationInfo) -> list[str]:
        both = sorted(set(value) & set(info.data.get("occupied_statuses") or ()))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be both occupied and excluded")
        return value


@dataclass(slots=True)
class Counts:
    occupied: int = 0
    beds: int = 0

    @property
    def occupancy(self) -> float:
        return self.occupied / self.beds if self.beds else 0.0


@dataclass(slots=True)
class _Bed:
    unit: str | None
    status: str
    seq: int


@dataclass(slots=True)
class _Hospital:
    beds: dict[str, _Bed] = field(default_factory=dict)
    total: Counts = field(default_factory=Counts)
    units: dict[str, Counts] = field(default_factory=dict)
    # (scope, unit) -> level index into LEVELS; absent means none
    levels: dict[tuple[str, str | None], int] = field(default_factory=dict)


def next_level(current: int, occupancy: float, settings: CapacitySettings) -> int:
    """The level after ``current`` for ``occupancy``: reached thresholds raise at once, a
    level already held is kept until occupancy is below its threshold - hysteresis."""
    thresholds = (settings.warning, settings.critical)
    for level in (2, 1):
        threshold = thresholds[level - 1]
        if occupancy >= threshold - _EPS:
            return level
        if current >= level and occupancy >= threshold - settings.hysteresis - _EPS:
            return level
    return 0


class CapacityMonitor:
    """Occupancy counters and levels of every hospital seen; pure bookkeeping, no I/O.

    ``bed_board`` is the census lookup (``Census.bed_board``), read once per hospital.
    """

    def __init__(
        self,
        settings: CapacitySettings,
        bed_board: Callable[[str], list[dict[str, Any]]],
    ) -> None:
        self.settings = settings
        self._bed_board = bed_board
        self._hospitals: dict[str, _Hospital] = {}
        self._occupied = frozenset(settings.occupied_statuses)
        self._excluded = frozenset(settings.excluded_statuses)
        self._allowed = frozenset(settings.hospitals) if settings.hospitals is not None else None

    def counts(self, hospital_id: str, unit: str | None = None) -> Counts | None:
        """The counters of a hospital (or one of its units), if it has been seen."""
        state = self._hospitals.get(hospital_id)
        if state is None:
            return None
        return state.total if unit is None else state.units.get(unit)

    def level(self, hospital_id: str, unit: str | None = None) -> str:
        state = self._hospitals.get(hospital_id)
        key = ("hospital", None) if unit is None else ("unit", unit)
        return LEVELS[state.levels.get(key, 0)] if state else "none"

    def observe(self, event: Event) -> list[HospitalAlert]:
        """The alerts a journaled event causes (none unless it is a bed event that changes a
        level)."""
        if event.type != "bed_status_changed":
            return []
        hospital_id = event.data.get("hospital_id")
        info = event.data.get("bed_info") or {}
        bed_id = info.get("bed_id")
        if not isinstance(hospital_id, str) or not isinstance(bed_id, str):
            return []
        if self._allowed is not None and hospital_id not in self._allowed:
            return []
        state = self._hospitals.get(hospital_id)
        if state is None:
            state = self._seed(hospital_id)
            touched: set[str | None] = {None, *state.units}
        else:
            touched = {None}
        previous = state.beds.get(bed_id)
        # The journal updates the census for a whole write batch before observers run, so a
        # seeded hospital may already reflect this event or later ones of the same batch.
        if previous is None or previous.seq < event.seq:
            unit = info.get("unit") if isinstance(info.get("unit"), str) else None
            status = str(info.get("status", "")).lower()
            if previous is not None:
                self._count(state, previous, -1)
                touched.add(previous.unit)
            bed = _Bed(unit, status, event.seq)
            state.beds[bed_id] = bed
            self._count(state, bed, +1)
            touched.add(unit)
        alerts = []
        # units first: the more specific alert is the one a ward acts on
        for unit in sorted(touched, key=lambda u: (u is None, u or "")):
            alert = self._judge(hospital_id, state, unit)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _seed(self, hospital_id: str) -> _Hospital:
        state = _Hospital()
        for record in self._bed_board(hospital_id):
            unit = record.get("unit")
            bed = _Bed(
                unit if isinstance(unit, str) else None,
                str(record.get("status", "")).lower(),
                int(record.get("seq") or 0),
            )
            state.beds[str(record["bed_id"])] = bed
            self._count(state, bed, +1)
        self._hospitals[hospital_id] = state
        return state

    def _count(self, state: _Hospital, bed: _Bed, sign: int) -> None:
        if bed.status in self._excluded:
            return
        occupied = sign if bed.status in self._occupied else 0
        scopes = [state.total]
        if bed.unit is not None:
            scopes.append(state.units.setdefault(bed.unit, Counts()))
        for counts in scopes:
            counts.beds += sign
            counts.occupied += occupied

    def _judge(self, hospital_id: str, state: _Hospital, unit: str | None) -> HospitalAlert | None:
        settings = self.settings
        if unit is None and not settings.per_hospital:
            return None
        if unit is not None and not settings.per_unit:
            return None
        counts = state.total if unit is None else state.units.get(unit, Counts())
        key: tuple[str, str | None] = ("hospital", None) if unit is None else ("unit", unit)
        current = state.levels.get(key, 0)
        judged = counts.beds >= settings.min_beds
        level = next_level(current, counts.occupancy, settings) if judged else 0
        if level == current:
            return None
        if level:
            state.levels[key] = level
        else:
            state.levels.pop(key, None)
        shown: Literal["warning", "critical", "cleared"] = (
            "cleared" if level == 0 else "warning" if level == 1 else "critical"
        )
        name = f"Unit {unit}" if unit is not None else f"Hospital {hospital_id}"
        # integer percent, rounded down so that the figure never reads as reaching a threshold
        # the occupancy has not reached
        percent = counts.occupied * 100 // counts.beds if counts.beds else 0
        message = f"{name} at {percent}% ({counts.occupied} of {counts.beds} beds): {shown}"
        if not judged:
            message += f" (fewer than {settings.min_beds} open beds are not judged)"
        data: dict[str, Any] = {
            "message": message,
            "level": shown,
            "previous": LEVELS[current],
            "scope": key[0],
            "occupancy": round(counts.occupancy, 3),
            "occupied": counts.occupied,
            "beds": counts.beds,
        }
        if unit is not None:
            data["unit"] = unit
        log.info(
            "capacity level changed",
            extra={"hospital": hospital_id, "scope": key[0], "unit": unit, "level": shown},
        )
        return HospitalAlert(hospital_id=hospital_id, alert_type="capacity", alert_data=data)


class Publisher:
    """The hub-owned lifecycle of the alerts: knows the hub's loop (``event_journaled`` may
    run in a worker thread when plugins are isolated) and, on shutdown, waits for alerts
    already decided so they are journaled before the journal closes."""

    name = "capacity"

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self, hub: HubContext) -> None:
        self.loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        await drain()
        self.loop = None

    def health(self) -> str | None:
        return None


SETTINGS = CapacitySettings()
HUB: HubContext | None = None
MONITOR: CapacityMonitor | None = None
PUBLISHER = Publisher()
# Publishing tasks are only referenced here until they finish; the loop keeps weak references.
_TASKS: set[asyncio.Task[Any]] = set()


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS, HUB, MONITOR
    SETTINGS = CapacitySettings.model_validate(hub.plugin_settings(NAME))
    HUB = hub
    MONITOR = CapacityMonitor(SETTINGS, hub.census.bed_board)


@hookimpl
def register_inputs(register: Callable[[Input], None]) -> None:
    register(PUBLISHER)


@hookimpl
def event_journaled(event: Event) -> None:
    if MONITOR is None or HUB is None or event.type != "bed_status_changed":
        return
    alerts = MONITOR.observe(event)
    if not alerts:
        return
    drafts = [EventDraft(payload=alert, source=SOURCE) for alert in alerts]
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = PUBLISHER.loop
        if loop is None or loop.is_closed():
            log.error("capacity alert not published: no event loop", extra={"alerts": len(drafts)})
            return
        loop.call_soon_threadsafe(_schedule, HUB, drafts)
        return
    _schedule(HUB, drafts)


def _schedule(hub: HubContext, drafts: list[EventDraft]) -> None:
    # Tasks start in creation order and publish enqueues its write before its first await, so
    # alerts are journaled in the order the levels changed.
    task = asyncio.get_running_loop().create_task(_publish(hub, drafts), name="capacity-alert")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def _publish(hub: HubContext, drafts: list[EventDraft]) -> None:
    try:
        await hub.publish(drafts)
    except Exception:
        log.exception("capacity alert not published", extra={"alerts": len(drafts)})


async def drain() -> None:
    """Wait for the alerts scheduled so far to be journaled (tests, orderly shutdown)."""
    while _TASKS:
        await asyncio.gather(*list(_TASKS), return_exceptions=True)
