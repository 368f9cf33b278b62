"""Prometheus metrics, one registry per hub instance (tests run several in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.connected_clients = Gauge(
            "hub_connected_clients", "Socket.IO clients currently connected", registry=r
        )
        self.connections = Counter(
            "hub_connections_total", "Connection attempts by outcome", ["outcome"], registry=r
        )
        self.room_joins = Counter(
            "hub_room_joins_total",
            "Room joins by room kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.events = Counter("hub_events_total", "Events journaled by type", ["type"], registry=r)
        self.escalations = Counter(
            "hub_alert_escalations_total",
            "Unacknowledged alert escalation steps by outcome (sent, no_hospital)",
            ["outcome"],
            registry=r,
        )
        self.duplicates = Counter(
            "hub_duplicate_events_total", "Events not journaled again (same id)", registry=r
        )
        self.journal_write_seconds = Histogram(
            "hub_journal_write_seconds",
            "Time to commit one journal batch",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.journal_batch_size = Histogram(
            "hub_journal_batch_events",
            "Records per journal commit",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=r,
        )
        self.emit_seconds = Histogram(
            "hub_emit_seconds",
            "Time to fan one event out to its rooms' clients",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "hub_deliveries_total",
            "Messages queued to clients (live and replayed)",
            ["mode"],
            registry=r,
        )
        self.replayed = Counter(
            "hub_replayed_events_total", "Events replayed to resuming clients", registry=r
        )
        self.slow_disconnects = Counter(
            "hub_slow_client_disconnects_total",
            "Clients disconnected because their outgoing queue overflowed",
            registry=r,
        )
        self.inputs = Counter(
            "hub_inputs_total",
            "Inbound messages by adapter and outcome",
            ["adapter", "outcome"],
            registry=r,
        )
        self.input_errors = Counter(
            "hub_input_errors_total",
            "Rejected inbound messages by adapter and reason",
            ["adapter", "reason"],
            registry=r,
        )
        self.input_problems = Counter(
            "hub_input_problems_total",
            "System alerts raised about inputs (silent, failing), by input and problem",
            ["input", "problem"],
            registry=r,
        )
        self.plugin_errors = Counter(
            "hub_plugin_errors_total",
            "Exceptions raised by plugin hooks",
            ["plugin", "hook"],
            registry=r,
        )
