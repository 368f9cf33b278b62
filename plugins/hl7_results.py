"""HL7 v2 results (ORU^R01, and OBX inside ADT) to ``patient_alert`` (clinical-reference §3,
event mapping: "OBX-8 abnormal flags (H/HH/L/LL/A/AA -> same codes as v3 interpretation)").

Each OBX is judged like a FHIR Observation by the ``observations`` plugin, with the same
severity map (``severity_by_interpretation``: ``HH``, ``LL``, ``AA`` critical; ``H``, ``L``,
``A`` ... warning) and the same alert text ("Potassium 6.9 mmol/L (critical high)"):

- OBX-8 (abnormal flags, table 0078; repeating from 2.5) decides; the worst flag wins;
- OBX-11 (result status, table 0085): ``F`` final judged; ``P`` preliminary only with the
  observations plugin's ``alert_on_preliminary``; ``C`` corrected sends ``action: supersede``
  (an ``info`` alert when it is now normal, so a stale critical alert is cleared); ``D``
  deleted and ``W`` wrong (entered in error) send an ``info`` alert with ``action: retract``;
- ``alert_data.observation`` is ``{filler order}/{OBX-3 code}`` (OBR-3, else OBR-2, else the
  message control id): a correction of the same result under a new message groups with it.

The patient is PID-3 and the hospital PV1-3's facility or MSH-4, mapped as the ``adt`` plugin
does; without either, the hospital the census knows the patient in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub import hookimpl
from hub.events import EventDraft, PatientAlert
from plugins import adt, observations

if TYPE_CHECKING:
    from adapters.hl7.message import Message
    from hub.inputs import InboundMessage
    from hub.runtime import HubContext

HUB: HubContext | None = None


@hookimpl
def configure(hub: HubContext) -> None:
    global HUB
    HUB = hub


def _worst(flags: list[str]) -> tuple[str | None, str | None]:
    severities = observations.SETTINGS.severity_by_interpretation
    rank = observations.RANK
    worst: tuple[str | None, str | None] = (None, None)
    for flag in flags:
        severity = severities.get(flag)
        if severity and (worst[0] is None or rank[severity] > rank[worst[0]]):
            worst = (severity, observations.INTERPRETATION_WORDS.get(flag, flag))
    return worst


def _hospital(msg: Message, pv1: list[str] | None, patient: str) -> str | None:
    facility = msg.value_of(pv1, 3, 4) or msg.sending_facility
    if facility:
        return adt.SETTINGS.hospital_by_facility.get(facility) or adt.ident(facility)
    if adt.SETTINGS.default_hospital:
        return adt.SETTINGS.default_hospital
    return HUB.census.patient_hospital(patient) if HUB is not None else None


def _alert(
    msg: Message, obx: list[str], order: str, patient: str, hospital: str | None, source: str
) -> EventDraft | None:
    status = (msg.value_of(obx, 11) or "F").upper()
    code = msg.value_of(obx, 3, 1) or ""
    name = msg.value_of(obx, 3, 2) or code or "Result"
    data: dict[str, Any] = {"observation": f"{order}/{code}", "status": status}
    if code:
        data["code"] = code
    if status in ("D", "W"):
        alert_type = "info"
        data.update(action="retract", message=f"{name}: result withdrawn")
    elif status in ("F", "C") or (status == "P" and observations.SETTINGS.alert_on_preliminary):
        flags = [f.strip().upper() for f in msg.repetitions(obx, 8) if f.strip()]
        severity, words = _worst(flags)
        superseding = status == "C"
        if severity is None and not superseding:
            return None
        value = msg.value_of(obx, 5) or ""
        unit = msg.value_of(obx, 6, 1) or ""
        text = " ".join(p for p in (name, value, unit) if p)
        data["message"] = f"{text} ({words})" if words else f"{text} (corrected)"
        if words:
            data["interpretation"] = words
        data["action"] = "supersede" if superseding else "raise"
        alert_type = severity or "info"
    else:
        return None
    payload = PatientAlert.model_validate(
        {
            "patient_id": patient,
            "hospital_id": hospital,
            "alert_type": alert_type,
            "alert_data": data,
            "timestamp": adt.hl7_time(msg.value_of(obx, 14)) or adt.hl7_time(msg.value("MSH", 7)),
        }
    )
    return EventDraft(payload=payload, source=source)


@hookimpl
def normalize(message: InboundMessage) -> list[EventDraft] | None:
    if message.kind != "hl7v2":
        return None
    msg: Any = message.body
    if msg.message_code not in ("ORU", "ADT") or not msg.all("OBX"):
        return None
    pid = msg.segment("PID")
    patient = adt.patient_id(msg, pid)
    if not patient:
        return None
    pv1 = msg.segment("PV1")
    hospital = _hospital(msg, pv1, patient)
    drafts: list[EventDraft] = []
    order = msg.control_id or ""
    # OBR starts each order group; OBX segments belong to the OBR before them
    for seg in msg.segments:
        if seg[0] not in ("OBR", "OBX"):
            continue
        if seg[0] == "OBR":
            order = msg.value_of(seg, 3, 1) or msg.value_of(seg, 2, 1) or msg.control_id or ""
            continue
        draft = _alert(msg, seg, order, patient, hospital, message.source)
        if draft is not None:
            drafts.append(draft)
    return drafts or None
