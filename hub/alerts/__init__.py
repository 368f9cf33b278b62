"""Closing the loop on patient alerts: acknowledgement by a clinician, and escalation of
critical alerts nobody acknowledged in time. Both are journaled events the hub raises itself
(``alert_acknowledged``, ``alert_escalated``), so every node and every screen sees them, they
resume with ``since`` like any event, and they are in the audit trail."""

from __future__ import annotations

from typing import Any

# what the state of a patient alert is made of, in seq order
ALERT_EVENTS = ["patient_alert", "alert_acknowledged", "alert_escalated"]


def observation_key(alert: dict[str, Any]) -> tuple[str, str] | None:
    """(patient, observation) a patient alert is about, when its result names one."""
    observation = (alert.get("alert_data") or {}).get("observation")
    return (alert["patient_id"], observation) if observation is not None else None


def replaces(alert: dict[str, Any]) -> tuple[str, str] | None:
    """The (patient, observation) whose earlier alerts this one replaces: a corrected
    (``supersede``) or withdrawn (``retract``) result ends them (docs/clients.md)."""
    action = (alert.get("alert_data") or {}).get("action")
    return observation_key(alert) if action in ("supersede", "retract") else None
