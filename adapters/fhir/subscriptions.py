"""Per-subscription bookkeeping: event numbers, gaps, counter resets and heartbeats.

The receiver's obligations (Backport IG, integration-engines.md §9.5): track the event number
per subscription and detect gaps, waiting a little first because concurrent POSTs may arrive
out of order; treat a number that goes down as a server restart (HAPI counts in memory), not
a gap; notice when nothing, not even a heartbeat, arrived for twice the heartbeat period.
Pure logic: the caller passes the time and acts on what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Gap:
    subscription: str
    first: int
    last: int
    since: str | None = None  # the last good event's time before the gap, for a search

    def describe(self) -> str:
        span = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"events {span} of {self.subscription} never arrived"


@dataclass(frozen=True, slots=True)
class Seen:
    reset: bool  # the server's counter went back: it restarted
    returned: bool  # the subscription had been reported silent
    previous_event_time: str | None  # the latest event time known before this notification


@dataclass(slots=True)
class Subscription:
    status: str = "requested"
    last_number: int | None = None
    last_seen: float = 0.0
    last_event_time: str | None = None  # the latest notification-event timestamp seen
    # event number -> (report deadline, time of the last good event when it went missing)
    missing: dict[int, tuple[float, str | None]] = field(default_factory=dict)
    silent: bool = False
    resets: int = 0
    focus_types: set[str] = field(default_factory=set)


class SubscriptionTracker:
    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.subscriptions: dict[str, Subscription] = {}

    def seen(
        self,
        subscription: str,
        kind: str,
        numbers: list[int],
        events_since_start: int | None,
        now: float,
        event_time: str | None = None,
        focus_types: set[str] | None = None,
    ) -> Seen:
        """Record a notification."""
        sub = self.subscriptions.setdefault(subscription, Subscription())
        sub.last_seen = now
        returned, sub.silent = sub.silent, False
        previous_time = sub.last_event_time
        if focus_types:
            sub.focus_types |= focus_types
        if event_time and (sub.last_event_time is None or event_time > sub.last_event_time):
            sub.last_event_time = event_time
        if kind == "handshake":
            sub.status = "active"
            sub.last_number = events_since_start or 0
            sub.missing.clear()
            return Seen(False, returned, previous_time)
        if sub.status == "requested":
            sub.status = "active"
        reset = False
        for number in sorted(numbers):
            if number in sub.missing:
                del sub.missing[number]  # arrived late: not a gap after all
                continue
            if sub.last_number is None:
                sub.last_number = number
                continue
            if number <= sub.last_number:
                # a number seen before that was not deduplicated as a resend: new events under
                # old numbers, so the server restarted its counter
                reset = True
                sub.resets += 1
                sub.last_number = number
                sub.missing.clear()
                continue
            for missing in range(sub.last_number + 1, number):
                sub.missing.setdefault(missing, (now + self.grace_s, previous_time))
            sub.last_number = number
        if sub.last_number is None and events_since_start is not None:
            # the first thing heard (a heartbeat after a hub restart, say) sets the baseline
            sub.last_number = events_since_start
        # a heartbeat (or an event) whose count is ahead of what arrived means events were lost
        if (
            events_since_start is not None
            and sub.last_number is not None
            and events_since_start > sub.last_number
            and kind != "handshake"
        ):
            for missing in range(sub.last_number + 1, events_since_start + 1):
                sub.missing.setdefault(missing, (now + self.grace_s, previous_time))
            sub.last_number = events_since_start
        return Seen(reset, returned, previous_time)

    def note_count(self, subscription: str, events_since_start: int | None, now: float) -> None:
        """The server's own event count (from ``$status``): numbers above what arrived are
        missing, and are reported after the grace period like any gap. Not a notification:
        it does not end a silence."""
        sub = self.subscriptions.get(subscription)
        if sub is None or events_since_start is None or sub.last_number is None:
            return
        if events_since_start > sub.last_number:
            for missing in range(sub.last_number + 1, events_since_start + 1):
                sub.missing.setdefault(missing, (now + self.grace_s, sub.last_event_time))
            sub.last_number = events_since_start

    def due_gaps(self, now: float) -> list[Gap]:
        """Gaps whose grace has passed, as contiguous ranges; they are forgotten once returned."""
        gaps: list[Gap] = []
        for name, sub in self.subscriptions.items():
            due = sorted(n for n, (deadline, _) in sub.missing.items() if deadline <= now)
            since = {n: sub.missing.pop(n)[1] for n in due}
            runs: list[list[int]] = []
            for n in due:
                if runs and n == runs[-1][-1] + 1:
                    runs[-1].append(n)
                else:
                    runs.append([n])
            for run in runs:
                times = [t for n in run if (t := since[n])]
                gaps.append(Gap(name, run[0], run[-1], min(times) if times else None))
        return gaps

    def newly_silent(self, now: float, heartbeat_s: float) -> list[str]:
        """Subscriptions that just went quiet for more than twice the heartbeat period."""
        quiet = []
        for name, sub in self.subscriptions.items():
            if sub.status == "active" and not sub.silent and now - sub.last_seen > 2 * heartbeat_s:
                sub.silent = True
                quiet.append(name)
        return quiet

    def silent(self) -> list[str]:
        return sorted(name for name, sub in self.subscriptions.items() if sub.silent)
