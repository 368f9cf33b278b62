"""The census every journal backend keeps: where patients, beds, triage cases and staff are.

It is derived from journaled events only, so a backend stores these tables in the same
transaction as the events and keeps this in-memory copy for reads (policies and plugins read
the census on every message). ``CensusChanges`` collects what one transaction's events change
and is applied to memory only after the commit, so nothing is shown that a rollback could take
back; backends persist its final state per key (patient, triage case, bed, staff member).
"""

from __future__ import annotations

from typing import Any

from hub.events import Event

BedKey = tuple[str, str]  # (hospital, bed id)


class MemoryCensus:
    def __init__(self) -> None:
        self.locations: dict[str, str] = {}  # patient -> hospital
        self.triage: dict[str, dict[str, Any]] = {}  # triage id -> case
        self.beds: dict[BedKey, dict[str, Any]] = {}
        # the same bed records by hospital, so one hospital's board is not a scan of all beds
        self.hospital_beds: dict[str, dict[str, dict[str, Any]]] = {}
        self.patient_bed: dict[str, BedKey] = {}
        self.staff: dict[str, dict[str, dict[str, Any]]] = {}  # hospital -> staff id -> record

    # --- loading what a backend stored ----------------------------------------------------------

    def load_bed(self, hospital: str, bed_id: str, record: dict[str, Any]) -> None:
        self.beds[(hospital, bed_id)] = record
        self.hospital_beds.setdefault(hospital, {})[bed_id] = record
        patient = record.get("patient_id")
        if patient:
            self.patient_bed[patient] = (hospital, bed_id)

    def load_staff(self, hospital: str, staff_id: str, record: dict[str, Any]) -> None:
        self.staff.setdefault(hospital, {})[staff_id] = record

    # --- one transaction ------------------------------------------------------------------------

    def changes(self) -> CensusChanges:
        return CensusChanges(self)

    def commit(self, changes: CensusChanges) -> None:
        self.locations.update({pid: hid for pid, (hid, _) in changes.locations.items()})
        self.triage.update({tid: case for tid, (case, _) in changes.triage.items()})
        for (hospital, bed_id), record in changes.beds.items():
            self.beds[(hospital, bed_id)] = record
            self.hospital_beds.setdefault(hospital, {})[bed_id] = record
        for patient, key in changes.patient_bed.items():
            if key is None:
                self.patient_bed.pop(patient, None)
            else:
                self.patient_bed[patient] = key
        for (hospital, staff_id), record in changes.staff.items():
            self.staff.setdefault(hospital, {})[staff_id] = record

    # --- reads (the Journal protocol's census methods) ------------------------------------------

    def patient_hospitals(self, patient_id: str) -> frozenset[str]:
        hospital = self.locations.get(patient_id)
        return frozenset((hospital,)) if hospital else frozenset()

    def triage_patient(self, triage_id: str) -> str | None:
        case = self.triage.get(triage_id)
        return case["patient_id"] if case else None

    def patient_triage_cases(self, patient_id: str) -> dict[str, dict[str, Any]]:
        # A scan: only merges ask, and they are rare next to the events that update cases.
        return {
            tid: dict(case) for tid, case in self.triage.items() if case["patient_id"] == patient_id
        }

    def bed_board(self, hospital_id: str) -> list[dict[str, Any]]:
        beds = self.hospital_beds.get(hospital_id, {})
        return [dict(beds[bid]) for bid in sorted(beds)]

    def bed(self, hospital_id: str, bed_id: str) -> dict[str, Any] | None:
        record = self.hospital_beds.get(hospital_id, {}).get(bed_id)
        return dict(record) if record else None

    def staff_of(self, hospital_id: str) -> list[dict[str, Any]]:
        members = self.staff.get(hospital_id, {})
        return [dict(members[sid]) for sid in sorted(members)]

    def patient_bed_of(self, patient_id: str) -> dict[str, Any] | None:
        key = self.patient_bed.get(patient_id)
        return dict(self.beds[key]) if key else None


class CensusChanges:
    """What one transaction's events change in the census; the final state per key."""

    def __init__(self, memory: MemoryCensus) -> None:
        self._memory = memory
        self.locations: dict[str, tuple[str, int]] = {}  # patient -> (hospital, seq)
        self.triage: dict[str, tuple[dict[str, Any], int]] = {}  # triage id -> (case, seq)
        self.beds: dict[BedKey, dict[str, Any]] = {}  # records carry their seq
        self.patient_bed: dict[str, BedKey | None] = {}
        self.staff: dict[tuple[str, str], dict[str, Any]] = {}  # records carry their seq

    def observe(self, event: Event) -> None:
        """Record what a newly journaled event (with its seq) changes."""
        seq, data = event.seq, event.data
        if event.patient_location:
            patient, hospital = event.patient_location
            self.locations[patient] = (hospital, seq)
        if event.type == "triage_updated":
            case = {
                "patient_id": data["patient_id"],
                "status": data["status"],
                "hospital_id": data.get("hospital_id"),
                "priority": data.get("priority"),
            }
            self.triage[data["triage_id"]] = (case, seq)
        elif event.type == "bed_status_changed":
            self._bed(event)
        elif event.type == "staff_availability_changed":
            self.staff[(data["hospital_id"], data["staff_id"])] = {
                "staff_id": data["staff_id"],
                "staff_type": data["staff_type"],
                "available": data["available"],
                "unit": data.get("unit"),
                "updated_at": event.timestamp,
                "seq": seq,
                "source": event.source,
            }

    def _bed(self, event: Event) -> None:
        info = dict(event.data["bed_info"])
        key = (event.data["hospital_id"], info["bed_id"])
        # updated_at and source let a feed tell a stale update from a newer one of another
        # system (clinical-reference: the newest event time wins, conflicts are counted)
        info.update(
            hospital_id=key[0], updated_at=event.timestamp, seq=event.seq, source=event.source
        )
        patient = info.get("patient_id")
        previous = self.beds.get(key) or self._memory.beds.get(key)
        leaving = previous.get("patient_id") if previous else None
        if leaving and leaving != patient and self._bed_of(leaving) == key:
            self.patient_bed[leaving] = None
        if patient:
            self.patient_bed[patient] = key
        self.beds[key] = info

    def _bed_of(self, patient: str) -> BedKey | None:
        if patient in self.patient_bed:
            return self.patient_bed[patient]
        return self._memory.patient_bed.get(patient)


class CensusReads:
    """The Journal protocol's census methods, for backends that keep a ``MemoryCensus``."""

    _memory: MemoryCensus

    def patient_hospitals(self, patient_id: str) -> frozenset[str]:
        return self._memory.patient_hospitals(patient_id)

    def triage_patient(self, triage_id: str) -> str | None:
        return self._memory.triage_patient(triage_id)

    def patient_triage_cases(self, patient_id: str) -> dict[str, dict[str, Any]]:
        return self._memory.patient_triage_cases(patient_id)

    def bed_board(self, hospital_id: str) -> list[dict[str, Any]]:
        return self._memory.bed_board(hospital_id)

    def bed(self, hospital_id: str, bed_id: str) -> dict[str, Any] | None:
        return self._memory.bed(hospital_id, bed_id)

    def staff(self, hospital_id: str) -> list[dict[str, Any]]:
        return self._memory.staff_of(hospital_id)

    def patient_bed(self, patient_id: str) -> dict[str, Any] | None:
        return self._memory.patient_bed_of(patient_id)
