"""System alerts about the hub's inputs: silent senders and adapters that keep failing.

One alert per problem, not one per attempt: a poller that fails every 5 s for an hour raises
one ``hospital_alert`` of type ``system`` when it starts failing and one when it recovers. The
alerts go to the rooms of the hospitals the input serves (``alert_hospitals``), so the people
who depend on the feed see it, and name the input, never message content.

Inputs take part by having, besides the ``Input`` protocol:

- ``max_silence_s: float | None`` and ``last_activity: float`` (``time.monotonic()`` of the
  last message): the hub's watchdog raises ``silent`` when the gap exceeds the limit;
- ``alert_hospitals: list[str]``: where their alerts go (default: ``system``);
- calls to ``hub.input_alerts.problem(...)`` / ``.resolved(...)`` for failures they see.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hub.events import EventDraft, HospitalAlert

if TYPE_CHECKING:
    from hub.inputs import Input
    from hub.runtime import HubContext

log = logging.getLogger("hub.inputs")

DEFAULT_HOSPITALS = ("system",)


def alert_hospitals(component: Input) -> list[str]:
    hospitals = getattr(component, "alert_hospitals", None)
    return list(hospitals) if hospitals else list(DEFAULT_HOSPITALS)


class InputAlerts:
    def __init__(self, hub: HubContext) -> None:
        self._hub = hub
        self._open: dict[tuple[str, str], tuple[list[str], float]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def open_problems(self) -> dict[str, str]:
        """``input: problem`` for every problem raised and not yet resolved."""
        return {name: kind for (name, kind) in self._open}

    def problem(
        self, input_name: str, kind: str, hospitals: Sequence[str], message: str, **data: Any
    ) -> bool:
        """Raise ``kind`` for an input once; False when it is already raised."""
        key = (input_name, kind)
        if key in self._open:
            return False
        targets = list(hospitals) or list(DEFAULT_HOSPITALS)
        self._open[key] = (targets, time.monotonic())
        self._hub.metrics.input_problems.labels(input_name, kind).inc()
        log.warning("input problem", extra={"input": input_name, "problem": kind})
        self._publish(targets, input_name, kind, "raised", message, data)
        return True

    def resolved(self, input_name: str, kind: str, message: str, **data: Any) -> bool:
        """Clear ``kind`` for an input; False when it was not raised."""
        opened = self._open.pop((input_name, kind), None)
        if opened is None:
            return False
        targets, since = opened
        data.setdefault("lasted_s", round(time.monotonic() - since, 1))
        log.info("input problem resolved", extra={"input": input_name, "problem": kind})
        self._publish(targets, input_name, kind, "cleared", message, data)
        return True

    def _publish(
        self,
        hospitals: list[str],
        input_name: str,
        kind: str,
        state: str,
        message: str,
        data: dict[str, Any],
    ) -> None:
        drafts = [
            EventDraft(
                payload=HospitalAlert(
                    hospital_id=hospital,
                    alert_type="system",
                    alert_data={
                        "message": message,
                        "input": input_name,
                        "problem": kind,
                        "state": state,
                        **data,
                    },
                ),
                source=input_name,
            )
            for hospital in hospitals
        ]
        task = asyncio.get_running_loop().create_task(self._hub.publish(drafts))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("input alert not journaled", exc_info=task.exception())

    def check_silence(self, inputs: Sequence[Input], now: float) -> None:
        """The watchdog's pass: raise or clear ``silent`` for each input with a limit."""
        for component in inputs:
            limit = getattr(component, "max_silence_s", None)
            last = getattr(component, "last_activity", None)
            if not limit or last is None:
                continue
            quiet = now - last
            if quiet > limit:
                self.problem(
                    component.name,
                    "silent",
                    alert_hospitals(component),
                    f"{component.name}: nothing received for {quiet:.0f} s (expected within "
                    f"{limit:g} s)",
                    max_silence_s=limit,
                )
            else:
                self.resolved(component.name, "silent", f"{component.name}: receiving again")
