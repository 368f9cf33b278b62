"""Event-number bookkeeping per subscription (integration-engines.md §3.1 errors.md, §9.5
receiver obligations 2 and 3)."""

from __future__ import annotations

from adapters.fhir.notification import parse_delivery
from adapters.fhir.subscriptions import Gap, SubscriptionTracker

SUB = "https://fhir.example.test/fhir/Subscription/s1"


def test_consecutive_numbers_leave_no_gap() -> None:
    tracker = SubscriptionTracker(grace_s=5)
    for n in range(1, 6):
        tracker.seen(SUB, "event-notification", [n], n, now=float(n))
    assert tracker.due_gaps(now=100.0) == []


def test_a_gap_is_reported_after_the_grace_period_as_ranges() -> None:
    tracker = SubscriptionTracker(grace_s=5)
    tracker.seen(SUB, "event-notification", [1], 1, now=0.0, event_time="2026-03-10T10:00:00Z")
    tracker.seen(SUB, "event-notification", [4], 4, now=1.0, event_time="2026-03-10T10:03:00Z")
    tracker.seen(SUB, "event-notification", [6], 6, now=2.0, event_time="2026-03-10T10:05:00Z")
    assert tracker.due_gaps(now=5.9) == []  # still within grace: they may arrive late
    gaps = tracker.due_gaps(now=7.5)
    assert gaps == [
        Gap(SUB, 2, 3, "2026-03-10T10:00:00Z"),
        Gap(SUB, 5, 5, "2026-03-10T10:03:00Z"),
    ]
    assert tracker.due_gaps(now=100.0) == []  # reported once


def test_late_arrivals_within_grace_close_the_gap() -> None:
    tracker = SubscriptionTracker(grace_s=5)
    tracker.seen(SUB, "event-notification", [1], 1, now=0.0)
    tracker.seen(SUB, "event-notification", [3], 3, now=0.1)
    tracker.seen(SUB, "event-notification", [2], 2, now=0.2)  # concurrent POSTs reordered
    assert tracker.due_gaps(now=10.0) == []


def test_a_counter_that_goes_down_is_a_reset_not_a_gap() -> None:
    tracker = SubscriptionTracker(grace_s=5)
    tracker.seen(SUB, "event-notification", [41], 41, now=0.0)
    seen = tracker.seen(SUB, "event-notification", [1], 1, now=1.0)
    assert seen.reset and tracker.subscriptions[SUB].resets == 1
    tracker.seen(SUB, "event-notification", [2], 2, now=2.0)
    assert tracker.due_gaps(now=100.0) == []


def test_a_heartbeat_ahead_of_the_events_received_is_a_gap() -> None:
    tracker = SubscriptionTracker(grace_s=1)
    tracker.seen(SUB, "event-notification", [1], 1, now=0.0)
    tracker.seen(SUB, "heartbeat", [], 3, now=1.0)  # events 2 and 3 were sent, never arrived
    assert tracker.due_gaps(now=5.0) == [Gap(SUB, 2, 3, None)]


def test_handshake_sets_the_baseline_and_activates() -> None:
    tracker = SubscriptionTracker(grace_s=1)
    tracker.seen(SUB, "handshake", [], 0, now=0.0)
    assert tracker.subscriptions[SUB].status == "active"
    tracker.seen(SUB, "event-notification", [1], 1, now=0.5)
    assert tracker.due_gaps(now=5.0) == []


def test_silence_is_reported_once_and_cleared_by_the_next_notification() -> None:
    tracker = SubscriptionTracker(grace_s=1)
    tracker.seen(SUB, "heartbeat", [], 0, now=0.0)
    assert tracker.newly_silent(now=1.9, heartbeat_s=1.0) == []
    assert tracker.newly_silent(now=2.1, heartbeat_s=1.0) == [SUB]
    assert tracker.newly_silent(now=9.0, heartbeat_s=1.0) == []
    assert tracker.silent() == [SUB]
    assert tracker.seen(SUB, "heartbeat", [], 0, now=10.0).returned is True
    assert tracker.silent() == []


def test_r4_parameters_status_reads_like_r5() -> None:
    """Backport R4 ``Parameters`` (valueString event numbers) parse to the same fields."""
    r4 = {
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            {
                "resource": {
                    "resourceType": "Parameters",
                    "parameter": [
                        {"name": "subscription", "valueReference": {"reference": SUB}},
                        {"name": "status", "valueCode": "active"},
                        {"name": "type", "valueCode": "event-notification"},
                        {"name": "events-since-subscription-start", "valueString": "7"},
                        {
                            "name": "notification-event",
                            "part": [
                                {"name": "event-number", "valueString": "7"},
                                {
                                    "name": "focus",
                                    "valueReference": {"reference": "Observation/o7"},
                                },
                            ],
                        },
                    ],
                }
            }
        ],
    }
    delivery = parse_delivery(r4)
    assert (delivery.version, delivery.kind, delivery.subscription) == (
        "R4",
        "event-notification",
        SUB,
    )
    assert delivery.events_since_start == 7 and delivery.events[0].number == 7
    # id-only: the focus becomes an entry to read
    assert [(e.reference, e.resource) for e in delivery.entries] == [("Observation/o7", None)]
