"""PractitionerRole and Slot -> ``staff_availability_changed`` (clinical-reference §2.6, §2.7).

PractitionerRole: ``available`` = ``active != false`` and now within ``period`` and (no
available times, or now inside one: ``availableTime`` in R4/R4B, ``availability[].availableTime``
in R5, days and clock times read in the ``timezone`` setting) and now outside every
``notAvailable[].during`` (R4/R4B) / ``availability[].notAvailableTime[].during`` (R5). The
value is computed when the resource arrives; nothing re-evaluates it when a window opens or
closes (that needs a scheduler, see docs/fhir-resources.md).
``staff_id`` is the ``practitioner`` reference id; ``staff_type`` comes from ``code`` through
``staff_type_by_code``, then the ``practitioner-role`` codes ``doctor``/``nurse``, else
``other``; ``hospital_id`` from ``organization`` like beds (skip and count when unresolved).

Slot: ``free`` -> available, ``busy-unavailable`` -> unavailable; ``busy``/``busy-tentative``
say the person is booked, not off duty, so they give nothing (§2.7), nor does a slot already
over. A Slot names only its Schedule, so the staff member comes from ``staff_by_schedule`` (by
Schedule id) or from the Schedule found ``contained`` or in the same delivery, whose actor is a
Practitioner or a PractitionerRole (itself contained or delivered). Otherwise the Slot is
skipped. The event's ``timestamp`` is the slot start.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from hub.events import EventDraft, StaffAvailabilityChanged
from plugins.fhir_resources.common import Context, codes, draft, ref_id, ref_type, sanitise
from plugins.observations import fhir_time

if TYPE_CHECKING:
    from adapters.fhir.receiver import FhirEntry

PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _instant(value: Any, tz: tzinfo, *, end: bool = False) -> datetime | None:
    """A Period bound; a bare date is a whole local day, so an end date includes that day."""
    if isinstance(value, str) and len(value) == 10:
        try:
            day = datetime.fromisoformat(value).replace(tzinfo=tz)
        except ValueError:
            return None
        return day + timedelta(days=1) if end else day
    return fhir_time(value)


def within(period: Any, now: datetime, tz: tzinfo) -> bool:
    if not isinstance(period, dict):
        return True
    start = _instant(period.get("start"), tz)
    end = _instant(period.get("end"), tz, end=True)
    return (start is None or start <= now) and (end is None or now < end)


def _clock(value: Any) -> time | None:
    if not isinstance(value, str):
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


def in_window(window: dict[str, Any], local: datetime) -> bool:
    days = [d for d in window.get("daysOfWeek") or [] if d in DAYS] or list(DAYS)
    today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
    start = _clock(window.get("availableStartTime")) or time(0)
    end = _clock(window.get("availableEndTime"))
    now = local.time().replace(tzinfo=None)
    if window.get("allDay") is True or (end is None and start == time(0)):
        return today in days
    if end is None:
        return today in days and now >= start
    if start <= end:
        return today in days and start <= now < end
    # overnight window: it belongs to the day it starts on
    return (today in days and now >= start) or (yesterday in days and now < end)


def _windows(resource: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    times = list(resource.get("availableTime") or [])
    gaps = [g.get("during") for g in resource.get("notAvailable") or [] if isinstance(g, dict)]
    for availability in resource.get("availability") or []:
        if isinstance(availability, dict):
            times += availability.get("availableTime") or []
            gaps += [
                g.get("during")
                for g in availability.get("notAvailableTime") or []
                if isinstance(g, dict)
            ]
    return [t for t in times if isinstance(t, dict)], gaps


def available(resource: dict[str, Any], now: datetime, tz: tzinfo) -> bool:
    if resource.get("active") is False or not within(resource.get("period"), now, tz):
        return False
    times, gaps = _windows(resource)
    if any(isinstance(gap, dict) and within(gap, now, tz) for gap in gaps):
        return False
    local = now.astimezone(tz)
    return not times or any(in_window(window, local) for window in times)


def staff_type(role: dict[str, Any], ctx: Context) -> str:
    concepts = role.get("code")
    concepts = concepts if isinstance(concepts, list) else [concepts]
    for concept in concepts:
        for code in codes(concept, None):
            if code in ctx.settings.staff_type_by_code:
                return ctx.settings.staff_type_by_code[code]
    for concept in concepts:
        for code in codes(concept, PRACTITIONER_ROLE, systemless=False):
            if code in ("doctor", "nurse"):
                return code
    return "other"


def map_practitioner_role(entry: FhirEntry, ctx: Context) -> list[EventDraft]:
    resource = entry.resource
    assert resource is not None
    staff_id = sanitise(ref_id(resource.get("practitioner"), "Practitioner"))
    if staff_id is None:
        ctx.skip(entry, "no practitioner reference")
        return []
    hospital = ctx.hospital(resource.get("organization"))
    if hospital is None:
        ctx.skip(entry, "no hospital for the organization")
        return []
    payload = StaffAvailabilityChanged.model_validate(
        {
            "hospital_id": hospital,
            "staff_id": staff_id,
            "staff_type": staff_type(resource, ctx),
            "available": available(resource, ctx.now, ctx.settings.zone()),
        }
    )
    return [draft(entry, ctx, payload)]


def _slot_staff(slot: dict[str, Any], ctx: Context) -> tuple[str, str, str | None] | None:
    """(staff id, staff type, hospital) of the Slot's schedule actor, when knowable."""
    reference = slot.get("schedule")
    schedule_id = ref_id(reference, "Schedule")
    configured = ctx.settings.staff_by_schedule.get(schedule_id or "")
    if configured is not None:
        return configured.staff_id, configured.staff_type, configured.hospital_id
    schedule = ctx.resolve(reference, slot)
    if not isinstance(schedule, dict):
        return None
    for actor in schedule.get("actor") or []:
        kind = ref_type(actor)
        if kind == "Practitioner":
            staff_id = sanitise(ref_id(actor, "Practitioner"))
            if staff_id:
                return staff_id, "other", None
        elif kind == "PractitionerRole":
            role = ctx.resolve(actor, schedule) or ctx.resolve(actor, slot)
            if not isinstance(role, dict):
                continue
            staff_id = sanitise(ref_id(role.get("practitioner"), "Practitioner"))
            if staff_id:
                return (
                    staff_id,
                    staff_type(role, ctx),
                    ctx.hospital_of_org(role.get("organization")),
                )
    return None


def map_slot(entry: FhirEntry, ctx: Context) -> list[EventDraft]:
    resource = entry.resource
    assert resource is not None
    status = resource.get("status")
    if status not in ("free", "busy-unavailable"):
        return []
    tz = ctx.settings.zone()
    end = _instant(resource.get("end"), tz)
    if end is not None and end <= ctx.now:
        ctx.skip(entry, "slot is over")
        return []
    staff = _slot_staff(resource, ctx)
    if staff is None:
        ctx.skip(entry, "schedule actor unknown")
        return []
    staff_id, kind, hospital = staff
    hospital = hospital or ctx.settings.default_hospital
    if hospital is None:
        ctx.skip(entry, "no hospital for the schedule")
        return []
    payload = StaffAvailabilityChanged.model_validate(
        {
            "hospital_id": hospital,
            "staff_id": staff_id,
            "staff_type": kind,
            "available": status == "free",
            "timestamp": _instant(resource.get("start"), tz),
        }
    )
    return [draft(entry, ctx, payload)]
