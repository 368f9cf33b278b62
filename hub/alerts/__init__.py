"""Closing the loop on patient alerts: acknowledgement by a clinician, and escalation of
critical alerts nobody acknowledged in time. Both are journaled events the hub raises itself
(``alert_acknowledged``, ``alert_escalated``), so every node and every screen sees them, they
resume with ``since`` like any event, and they are in the audit trail."""
