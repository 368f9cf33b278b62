"""Escalate critical patient alerts nobody acknowledged: re-sent to the patient's hospital room
(the charge nurse) as ``alert_escalated``, once per step of the configured chain.

State is what the journal says: the watch follows every committed event in seq order (this
node's and other nodes'), and after a start it reads back the alerts of the last chain length
from the journal. Every node runs it; an escalation's event id is fixed per alert and step, so
when two nodes fire the same step it is journaled once. Before a step fires the journal is asked
whether the alert has been acknowledged meanwhile (perhaps on another node a moment ago).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hub.alerts import ALERT_EVENTS, observation_key, replaces
from hub.alerts.acknowledge import ack_id
from hub.events import AlertEscalated, Event, EventDraft, iso, utc_now
from hub.journal.base import AuditRecord

if TYPE_CHECKING:
    from hub.runtime import HubContext

log = logging.getLogger("hub.alerts")


@dataclass(frozen=True)
class _Actor:
    subject: str
    role: str


_HUB = _Actor("hub", "system")  # who the audit trail says escalated


def escalation_id(alert_id: str, step: int) -> str:
    return f"esc:{alert_id}:{step}"


@dataclass
class _Open:
    event: Event
    received: datetime
    hospital_id: str | None
    step: int = 0  # steps already taken


class EscalationWatch:
    def __init__(self, hub: HubContext) -> None:
        self.hub = hub
        cfg = hub.config.alerts
        self._types = set(cfg.escalate_types)
        self._chain = list(zip(cfg.escalation_after_s, cfg.escalation_to, strict=True))
        self._interval = cfg.check_interval_s
        self.open: dict[str, _Open] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._chain and self._types)

    # --- following the journal ------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Called for every journaled event, in seq order; cheap for the ones it ignores."""
        kind = event.type
        if kind == "patient_alert":
            self._alert(event)
        elif kind == "alert_acknowledged":
            self.open.pop(event.data["alert_id"], None)
        elif kind == "alert_escalated":
            found = self.open.get(event.data["alert_id"])
            if found is not None:
                found.step = max(found.step, int(event.data["step"]))

    def _alert(self, event: Event) -> None:
        data = event.data
        replaced = replaces(data)
        if replaced is not None:
            # a corrected or withdrawn result ends the escalation of what it replaces
            for alert_id, found in list(self.open.items()):
                if observation_key(found.event.data) == replaced:
                    del self.open[alert_id]
        action = (data.get("alert_data") or {}).get("action")
        if action == "retract" or data.get("alert_type") not in self._types or not self.enabled:
            return
        received = datetime.fromisoformat(event.received_at.replace("Z", "+00:00"))
        self.open.setdefault(event.id, _Open(event, received, data.get("hospital_id")))

    # --- acting on it ---------------------------------------------------------------------

    async def run(self) -> None:
        if not self.enabled:
            return
        await self._rebuild()
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:
                log.exception("escalation check failed")

    async def _rebuild(self) -> None:
        horizon = utc_now() - timedelta(seconds=self._chain[-1][0] + 60)
        for event in await self.hub.journal.read_recent(ALERT_EVENTS, iso(horizon)):
            self.observe(event)
        log.info("escalation watch started", extra={"open_alerts": len(self.open)})

    async def check(self) -> None:
        now = utc_now()
        for alert_id, found in list(self.open.items()):
            if found.step >= len(self._chain):
                del self.open[alert_id]  # the chain is done
                continue
            after_s, target = self._chain[found.step]
            waited = (now - found.received).total_seconds()
            if waited >= after_s:
                await self._escalate(alert_id, found, found.step + 1, target, waited)

    async def _escalate(
        self, alert_id: str, found: _Open, step: int, target: str, waited: float
    ) -> None:
        hub = self.hub
        if await hub.journal.read_ids([ack_id(alert_id)]):
            self.open.pop(alert_id, None)  # acknowledged on some node a moment ago
            return
        data = found.event.data
        hospital = found.hospital_id or hub.census.patient_hospital(data["patient_id"])
        if hospital is None:
            # nowhere to send it: the patient's hospital is unknown (or not one)
            log.warning(
                "alert cannot be escalated: patient's hospital unknown",
                extra={"alert_id": alert_id, "step": step},
            )
            hub.metrics.escalations.labels("no_hospital").inc()
            found.step = step
            return
        payload = AlertEscalated(
            alert_id=alert_id,
            patient_id=data["patient_id"],
            hospital_id=hospital,
            step=step,
            escalate_to=target,
            unacknowledged_s=round(waited, 1),
            alert_type=data["alert_type"],
            alert_data=data.get("alert_data") or {},
        )
        appended = await hub.publish(
            [EventDraft(payload=payload, source="hub", id=escalation_id(alert_id, step))]
        )
        found.step = max(found.step, step)
        if appended[0].duplicate:
            return  # another node fired this step first
        hub.metrics.escalations.labels("sent").inc()
        log.info("alert escalated", extra={"alert_id": alert_id, "step": step, "to": target})
        reason = f"{alert_id} step {step} to {target}"
        await hub.journal.audit(
            AuditRecord.now(_HUB, "escalate", f"hospital_{hospital}", True, reason, hub.node_id)
        )
