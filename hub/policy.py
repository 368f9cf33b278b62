"""Room authorization: combines every plugin's ``authorize_room`` answer into one decision."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoomDecision:
    allowed: bool
    reason: str = ""


def combine(answers: list[RoomDecision | bool | None]) -> RoomDecision:
    """Any deny wins; otherwise any allow; with no opinion at all, deny (closed by default)."""
    allow: RoomDecision | None = None
    for answer in answers:
        if answer is None:
            continue
        decision = answer if isinstance(answer, RoomDecision) else RoomDecision(bool(answer))
        if not decision.allowed:
            return RoomDecision(False, decision.reason or "denied by policy")
        allow = allow or decision
    return allow or RoomDecision(False, "no policy allows this room")
