"""Room names: the only four shapes clients may join, parsed once and validated strictly."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

RoomKind = Literal["patient", "hospital", "triage", "triage_queue"]

_ROOM_RE = re.compile(r"^(patient|hospital|triage)_([A-Za-z0-9][A-Za-z0-9._:\-]{0,127})$")


@dataclass(frozen=True, slots=True)
class Room:
    kind: RoomKind
    id: str | None
    name: str

    @property
    def audited(self) -> bool:
        """Patient-identifying rooms are audited on every join and leave."""
        return self.kind in ("patient", "triage")


class InvalidRoom(ValueError):
    pass


def parse_room(name: object) -> Room:
    if not isinstance(name, str):
        raise InvalidRoom("room must be a string")
    if name == "triage_queue":
        return Room("triage_queue", None, name)
    match = _ROOM_RE.match(name)
    if match is None:
        raise InvalidRoom("room must be patient_{id}, hospital_{id}, triage_{id} or triage_queue")
    kind, ident = match.groups()
    return Room(kind, ident, name)  # type: ignore[arg-type]
