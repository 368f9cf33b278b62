"""HL7 v2 ADT and PMU traffic to bed, triage and staff events (clinical-reference §1.3-1.10).

What each trigger produces:

- A01/A13 admit, cancel discharge: the bed in PV1-3 is ``occupied`` by the patient;
- A02 transfer: the bed in PV1-6 is released (``release_status``), the bed in PV1-3 occupied;
- A03 discharge: the bed in PV1-3 is released;
- A11 cancel admit: the bed in PV1-3 is ``available``; A12 cancel transfer: PV1-3 occupied
  again and the bed in PV1-6 (where the cancelled transfer went) ``available``;
- A17 swap: each PID/PV1 pair's PV1-3 occupied by its patient;
- A20: the bed in NPU-1 gets NPU-2 mapped through table 0116;
- emergency patients (PV1-2 = E): A04 registration -> ``triage_updated`` ``pending``; A01/A02
  into a bed -> ``assigned``; A11 -> ``cancelled``; the triage id is the visit number PV1-19;
- PMU B01/B02 (STF-7), B04 (on), B03/B05/B06 (off) -> ``staff_availability_changed``;
- A40 merge: the survivor (PID-3) takes the retired id's (MRG-1) bed and triage cases, and both
  patient rooms get an ``info`` ``patient_alert`` with code ``merged``.

A location without a bed (PL.3 empty) is a unit or room, not a bed: no bed event. The patient
id is PID-3.1 of the repetition whose type (CX.5) and authority (CX.4) match the settings; the
hospital is the location's facility (PL.4), else MSH-4, mapped through ``hospital_by_facility``.
Event time is EVN-6, else EVN-2, else MSH-7.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from hub import hookimpl
from hub.events import (
    BedStatusChanged,
    EventDraft,
    PatientAlert,
    StaffAvailabilityChanged,
    TriageUpdated,
)
from hub.inputs import RejectMessage

if TYPE_CHECKING:
    from adapters.hl7.message import Message
    from hub.inputs import InboundMessage
    from hub.runtime import HubContext

BED_STATUS_0116 = {
    "C": "closed",
    "H": "cleaning",
    "I": "isolated",
    "K": "contaminated",
    "O": "occupied",
    "U": "available",
}


# STF-4 / PRA-3 codes the hub reads as doctor or nurse unless a source says otherwise
STAFF_TYPE_CODES = {
    "MD": "doctor",
    "DR": "doctor",
    "PHYS": "doctor",
    "RN": "nurse",
    "NU": "nurse",
    "LPN": "nurse",
}


class AdtSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id_type: str | None = Field("MR", description="PID-3 identifier type (CX.5).")
    patient_id_authority: str | None = Field(None, description="PID-3 authority (CX.4).")
    hospital_by_facility: dict[str, str] = Field(
        default_factory=dict, description="Facility (PL.4 / MSH-4) -> hospital id."
    )
    default_hospital: str | None = Field(None, description="Hospital when no facility is sent.")
    release_status: str = Field("cleaning", description="Status of a bed a patient leaves.")
    staff_types: dict[str, str] = Field(
        default_factory=lambda: dict(STAFF_TYPE_CODES),
        description="STF-4 / PRA-3 code -> doctor | nurse (anything else: other).",
    )


SETTINGS = AdtSettings()
HUB: HubContext | None = None
_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]+")


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS, HUB
    SETTINGS = AdtSettings.model_validate(hub.plugin_settings("adt"))
    HUB = hub


def ident(value: str | None) -> str | None:
    """HL7 ids may hold spaces or slashes; room names may not, so those runs become '_'."""
    if not value:
        return None
    cleaned = _UNSAFE.sub("_", value.strip()).strip("_")
    return cleaned or None


def hl7_time(value: str | None) -> datetime | None:
    """YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ] -> aware datetime (UTC when no offset)."""
    if not value:
        return None
    match = re.fullmatch(
        r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?([+-]\d{4})?", value.strip()
    )
    if match is None:
        return None
    y, mo, d, h, mi, s, frac, tz = match.groups()
    zone: timezone = UTC
    if tz:
        sign = 1 if tz[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])))
    try:
        return datetime(
            int(y),
            int(mo or 1),
            int(d or 1),
            int(h or 0),
            int(mi or 0),
            int(s or 0),
            int(float(frac) * 1_000_000) if frac else 0,
            tzinfo=zone,
        )
    except ValueError:
        return None


class _Context:
    def __init__(self, msg: Message, source: str) -> None:
        self.msg = msg
        self.source = source
        self.when = (
            hl7_time(msg.value("EVN", 6))
            or hl7_time(msg.value("EVN", 2))
            or hl7_time(msg.value("MSH", 7))
        )
        self.drafts: list[EventDraft] = []

    def hospital(self, facility: str | None) -> str:
        for candidate in (facility, self.msg.sending_facility):
            if candidate:
                return SETTINGS.hospital_by_facility.get(candidate) or ident(candidate) or ""
        if SETTINGS.default_hospital:
            return SETTINGS.default_hospital
        raise RejectMessage(
            "no facility in the location or MSH-4, and no default hospital", code="no_hospital"
        )

    def bed(self, seg: list[str] | None, field: int, status: str, patient: str | None) -> None:
        msg = self.msg
        unit, room, bed = (msg.value_of(seg, field, c) for c in (1, 2, 3))
        if not bed:
            return
        hospital = self.hospital(msg.value_of(seg, field, 4))
        bed_info = {
            "bed_id": ident(":".join(p or "" for p in (unit, room, bed))),
            "status": status,
            "unit": unit,
            "room": room,
            "bed": bed,
        }
        if patient:
            bed_info["patient_id"] = patient
        self.drafts.append(
            EventDraft(
                payload=BedStatusChanged.model_validate(
                    {"hospital_id": hospital, "bed_info": bed_info, "timestamp": self.when}
                ),
                source=self.source,
            )
        )

    def release_current_bed(self, patient: str, status: str) -> None:
        """Free the bed the census says the patient is in (PV1-3 was empty)."""
        current = HUB.census.patient_bed(patient) if HUB is not None else None
        if not current:
            return
        bed_info = {k: current.get(k) for k in ("bed_id", "unit", "room", "bed")}
        bed_info["status"] = status
        self.drafts.append(
            EventDraft(
                payload=BedStatusChanged.model_validate(
                    {
                        "hospital_id": current["hospital_id"],
                        "bed_info": bed_info,
                        "timestamp": self.when,
                    }
                ),
                source=self.source,
            )
        )

    def moved(self, seg: list[str] | None, patient: str) -> bool:
        """Whether PV1-3 names a bed other than the one the census has for the patient."""
        unit, room, bed = (self.msg.value_of(seg, 3, c) for c in (1, 2, 3))
        if not bed:
            return False
        current = HUB.census.patient_bed(patient) if HUB is not None else None
        wanted = ident(":".join(p or "" for p in (unit, room, bed)))
        return current is None or current.get("bed_id") != wanted

    def triage(
        self, pid: list[str] | None, pv1: list[str] | None, status: str, patient: str | None
    ) -> None:
        msg = self.msg
        visit = ident(msg.value_of(pv1, 19))
        if not visit or not patient:
            return
        hospital = self.hospital(msg.value_of(pv1, 3, 4))
        self.drafts.append(
            EventDraft(
                payload=TriageUpdated.model_validate(
                    {
                        "triage_id": visit,
                        "status": status,
                        "patient_id": patient,
                        "hospital_id": hospital,
                        "timestamp": self.when,
                    }
                ),
                source=self.source,
            )
        )


def patient_id(msg: Message, pid: list[str] | None, field: int = 3) -> str | None:
    """PID-3 (or MRG-1 with ``field=1``): the CX repetition of the configured type/authority."""
    reps = msg.repetitions(pid, field)
    for rep in reps:
        type_ok = (
            not SETTINGS.patient_id_type or msg.component_of(rep, 5) == SETTINGS.patient_id_type
        )
        auth_ok = (
            not SETTINGS.patient_id_authority
            or msg.component_of(rep, 4) == SETTINGS.patient_id_authority
        )
        if type_ok and auth_ok:
            return ident(msg.component_of(rep, 1))
    return ident(msg.component_of(reps[0], 1)) if reps else None


def _merge(ctx: _Context) -> None:
    """A40: the surviving patient (PID-3) takes the retired one's (MRG-1) bed and triage cases.

    The hub's state changes only through journaled events, so the merge is told as events: the
    retired patient's bed re-occupied by the survivor, each of its triage cases re-assigned,
    and an ``info`` alert in both patient rooms so screens showing the retired id can follow.
    """
    msg = ctx.msg
    pairs = list(zip(msg.all("PID"), msg.all("MRG"), strict=False))
    if not pairs:
        raise RejectMessage("A40 needs PID and MRG segments", code="missing_segment")
    census = HUB.census if HUB is not None else None
    for pid, mrg in pairs:
        surviving = patient_id(msg, pid)
        if not surviving:
            raise RejectMessage("PID-3 (patient identifier) is empty", code="missing_pid3")
        retired = patient_id(msg, mrg, field=1)
        if not retired:
            raise RejectMessage("MRG-1 (prior patient identifier) is empty", code="missing_mrg1")
        if retired == surviving or census is None:
            continue
        bed = census.patient_bed(retired)
        if bed:
            info = {k: bed.get(k) for k in ("bed_id", "unit", "room", "bed")}
            info.update(status="occupied", patient_id=surviving)
            ctx.drafts.append(
                EventDraft(
                    payload=BedStatusChanged.model_validate(
                        {"hospital_id": bed["hospital_id"], "bed_info": info, "timestamp": ctx.when}
                    ),
                    source=ctx.source,
                )
            )
        for triage_id, case in sorted(census.patient_triage_cases(retired).items()):
            if "status" not in case:
                continue  # a case journaled before statuses were kept: nothing to restate
            ctx.drafts.append(
                EventDraft(
                    payload=TriageUpdated.model_validate(
                        {
                            "triage_id": triage_id,
                            "status": case["status"],
                            "patient_id": surviving,
                            "hospital_id": case.get("hospital_id"),
                            "priority": case.get("priority"),
                            "details": {"merged_from": retired},
                            "timestamp": ctx.when,
                        }
                    ),
                    source=ctx.source,
                )
            )
        hospitals = sorted(census.patient_hospitals(retired))
        hospital = hospitals[0] if hospitals else None
        # the survivor inherits the retired id's hospital, so staff there can open its room
        for room_patient in (retired, surviving):
            ctx.drafts.append(
                EventDraft(
                    payload=PatientAlert.model_validate(
                        {
                            "patient_id": room_patient,
                            "alert_type": "info",
                            "alert_data": {
                                "code": "merged",
                                "message": "patient records merged",
                                "surviving_patient_id": surviving,
                                "retired_patient_id": retired,
                            },
                            "hospital_id": hospital if room_patient == surviving else None,
                            "timestamp": ctx.when,
                        }
                    ),
                    source=ctx.source,
                )
            )


def _adt(ctx: _Context, trigger: str) -> None:
    msg = ctx.msg
    if trigger == "A40":
        _merge(ctx)
        return
    if trigger == "A20":
        npu = msg.segment("NPU")
        if npu is None:
            raise RejectMessage("A20 without an NPU segment", code="missing_npu")
        code = msg.value_of(npu, 2)
        ctx.bed(npu, 1, BED_STATUS_0116.get(code or "", "unknown"), None)
        return
    pairs = list(zip(msg.all("PID"), msg.all("PV1"), strict=False))
    if not pairs:
        raise RejectMessage(f"{trigger} needs PID and PV1 segments", code="missing_segment")
    for pid, pv1 in pairs if trigger == "A17" else pairs[:1]:
        patient = patient_id(msg, pid)
        if not patient:
            raise RejectMessage("PID-3 (patient identifier) is empty", code="missing_pid3")
        emergency = msg.value_of(pv1, 2) == "E"
        has_bed = bool(msg.value_of(pv1, 3, 3))
        if trigger in ("A01", "A13", "A17"):
            ctx.bed(pv1, 3, "occupied", patient)
        elif trigger == "A02":
            ctx.bed(pv1, 6, SETTINGS.release_status, None)
            ctx.bed(pv1, 3, "occupied", patient)
        elif trigger == "A03":
            if has_bed:
                ctx.bed(pv1, 3, SETTINGS.release_status, None)
            else:
                ctx.release_current_bed(patient, SETTINGS.release_status)
        elif trigger == "A08" and ctx.moved(pv1, patient):
            # A08 is "update patient information"; many EHRs still send bed moves as A08
            ctx.release_current_bed(patient, SETTINGS.release_status)
            ctx.bed(pv1, 3, "occupied", patient)
        elif trigger == "A04" and has_bed:
            ctx.bed(pv1, 3, "occupied", patient)
        elif trigger == "A11":
            if has_bed:
                ctx.bed(pv1, 3, "available", None)
            else:
                ctx.release_current_bed(patient, "available")
        elif trigger == "A12":
            ctx.bed(pv1, 6, "available", None)
            ctx.bed(pv1, 3, "occupied", patient)
        if emergency:
            if trigger == "A04":
                ctx.triage(pid, pv1, "assigned" if has_bed else "pending", patient)
            elif trigger in ("A01", "A02") and has_bed:
                ctx.triage(pid, pv1, "assigned", patient)
            elif trigger == "A11":
                ctx.triage(pid, pv1, "cancelled", patient)


def _pmu(ctx: _Context, trigger: str) -> None:
    msg = ctx.msg
    stf = msg.segment("STF")
    if stf is None:
        raise RejectMessage("PMU without an STF segment", code="missing_stf")
    staff = ident(msg.value_of(stf, 2, 1) or msg.value_of(stf, 1, 1))
    if not staff:
        raise RejectMessage("STF-2 and STF-1 (staff identifier) are empty", code="missing_stf2")
    code = msg.value_of(stf, 4) or msg.value("PRA", 3)
    staff_type = SETTINGS.staff_types.get(code or "", "other")
    available = {"B04": True, "B03": False, "B05": False, "B06": False}.get(
        trigger, msg.value_of(stf, 7) == "A"
    )
    ctx.drafts.append(
        EventDraft(
            payload=StaffAvailabilityChanged.model_validate(
                {
                    "hospital_id": ctx.hospital(None),
                    "staff_id": staff,
                    "staff_type": staff_type,
                    "available": available,
                    "timestamp": ctx.when,
                }
            ),
            source=ctx.source,
        )
    )


@hookimpl
def normalize(message: InboundMessage) -> list[EventDraft] | None:
    if message.kind != "hl7v2":
        return None
    msg: Any = message.body
    code, trigger = msg.message_code, (msg.trigger or msg.value("EVN", 1) or "")
    ctx = _Context(msg, message.source)
    if code == "ADT":
        _adt(ctx, trigger)
    elif code == "PMU" and trigger in ("B01", "B02", "B03", "B04", "B05", "B06"):
        _pmu(ctx, trigger)
    else:
        return None
    return ctx.drafts
