"""The default room policy: who may join which room, from token claims and the census.

- ``admin`` may join any room;
- ``hospital_H`` when H is in the token's hospitals;
- ``patient_P`` when P is listed in the token's patients, or the hub places P in one of the
  token's hospitals;
- ``triage_T`` like the patient of triage case T (learned from journaled triage events);
- ``triage_queue`` for clinical roles (``auth.clinical_roles``).

Other plugins may add ``authorize_room`` answers; any deny wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub import hookimpl
from hub.policy import RoomDecision

if TYPE_CHECKING:
    from hub.auth import Principal
    from hub.rooms import Room
    from hub.runtime import HubContext


def _patient_allowed(principal: Principal, patient_id: str, hub: HubContext) -> RoomDecision:
    if patient_id in principal.patients:
        return RoomDecision(True)
    if hub.census.patient_hospitals(patient_id) & principal.hospitals:
        return RoomDecision(True)
    return RoomDecision(False, "patient is not in one of your hospitals")


@hookimpl
def authorize_room(principal: Principal, room: Room, hub: HubContext) -> RoomDecision | None:
    if principal.is_admin:
        return RoomDecision(True)
    if room.kind == "hospital":
        if room.id in principal.hospitals:
            return RoomDecision(True)
        return RoomDecision(False, "hospital not in your token")
    if room.kind == "patient":
        assert room.id is not None
        return _patient_allowed(principal, room.id, hub)
    if room.kind == "triage":
        assert room.id is not None
        patient = hub.census.triage_patient(room.id)
        if patient is None:
            return RoomDecision(False, "unknown triage case")
        return _patient_allowed(principal, patient, hub)
    if room.kind == "triage_queue":
        if principal.role in hub.config.auth.clinical_roles:
            return RoomDecision(True)
        return RoomDecision(False, "triage_queue is for clinical roles")
    return None
