"""What a hospital's screens load: the bed board, the staff on duty and the open triage queue,
each readable by whoever may join ``hospital_{id}``."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Blueprint, Response, request

from hub.api.common import HttpError, authenticate, error, hospital_reader, json_response
from hub.runtime import HubContext

OPEN_TRIAGE = ("pending", "triaged", "assigned")


def blueprint(hub: HubContext) -> Blueprint:
    bp = Blueprint("hospitals", __name__)

    @bp.get("/api/hospitals/<hospital_id>/beds")
    async def beds(hospital_id: str) -> Response:
        refused = await hospital_reader(hub, hospital_id)
        if refused is not None:
            return refused
        board = hub.census.bed_board(hospital_id)
        return json_response({"hospital_id": hospital_id, "beds": board})

    @bp.get("/api/hospitals/<hospital_id>/staff")
    async def staff(hospital_id: str) -> Response:
        refused = await hospital_reader(hub, hospital_id)
        if refused is not None:
            return refused
        members = hub.census.staff(hospital_id)
        on_duty = {"doctor": 0, "nurse": 0, "other": 0}
        for member in members:
            if member["available"]:
                on_duty[member["staff_type"]] = on_duty.get(member["staff_type"], 0) + 1
        return json_response(
            {
                "hospital_id": hospital_id,
                "on_duty": on_duty,
                "on_duty_total": sum(on_duty.values()),
                "staff": members,
            }
        )

    @bp.get("/api/triage")
    async def triage() -> Response:
        hospital_id = request.args.get("hospital", "")
        if not hospital_id:
            await authenticate(hub, roles=hub.config.auth.clinical_roles)
            return error(400, "bad_request", "hospital is required: /api/triage?hospital=H")
        refused = await hospital_reader(hub, hospital_id, hub.config.auth.clinical_roles)
        if refused is not None:
            return refused
        cases, complete = await open_triage_cases(hub, hospital_id)
        return json_response(
            {
                "hospital_id": hospital_id,
                "seq": hub.journal.last_seq,
                "complete": complete,
                "cases": cases,
            }
        )

    @bp.errorhandler(HttpError)
    async def _http_error(exc: HttpError) -> Response:
        return exc.response

    return bp


# --- /api/triage -------------------------------------------------------------------------------

TRIAGE_PAGE = 1000


async def open_triage_cases(hub: HubContext, hospital_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The hospital's open triage cases, longest waiting first within each priority.

    The census says which cases are open (status, priority, hospital); it keeps no times, so
    the ``triage_queue`` room's history (within the journal's retention) gives each case's
    ``opened_at`` (first event) and ``since`` (when it entered its current status).
    ``complete`` is False when older events were pruned: cases opened before retention
    are then missing.
    """
    history: dict[str, dict[str, Any]] = {}
    since, until, complete = 0, hub.journal.last_seq, True
    while True:
        page = await hub.journal.read_room("triage_queue", since, until, TRIAGE_PAGE)
        complete = complete and not page.truncated
        for seq, wire in page.items:
            event = orjson.loads(wire)
            tid = event["triage_id"]
            case = history.get(tid)
            if case is None:
                case = history[tid] = {"triage_id": tid, "opened_at": event["timestamp"]}
            if case.get("status") != event["status"]:
                case["since"] = event["timestamp"]
            case.update(
                patient_id=event["patient_id"],
                status=event["status"],
                hospital_id=event.get("hospital_id"),
                priority=event.get("priority"),
                details=event.get("details") or {},
                updated_at=event["timestamp"],
                seq=seq,
            )
        if len(page.items) < TRIAGE_PAGE:
            break
        since = page.items[-1][0]
    by_patient: dict[str, dict[str, dict[str, Any]]] = {}
    cases = []
    for tid, case in history.items():
        if case["status"] not in OPEN_TRIAGE:
            continue
        patient = case["patient_id"]
        if patient not in by_patient:
            by_patient[patient] = hub.census.patient_triage_cases(patient)
        known = by_patient[patient].get(tid)
        if known is not None:  # the census is authoritative for the case's current state
            if known.get("status") not in OPEN_TRIAGE:
                continue
            case.update(
                status=known["status"],
                priority=known.get("priority"),
                hospital_id=known.get("hospital_id") or case["hospital_id"],
            )
        hospital = case["hospital_id"] or hub.census.patient_hospital(patient)
        if hospital != hospital_id:
            continue
        case["hospital_id"] = hospital
        cases.append(case)
    cases.sort(key=lambda c: (c["priority"] or 99, c["opened_at"], c["triage_id"]))
    return cases, complete
