"""What a FHIR server pushed: a topic-based notification, a plain resource, or a Bundle of them.

Pure parsing of the JSON a receiver gets (integration-engines.md §3.1, §9.5), with no clinical
logic and no I/O. Forms understood:

- topic-based notification Bundles: R4 Backport (``history``, ``entry[0]`` a ``Parameters``
  status), R4B (``history``, a ``SubscriptionStatus``) and R5 (``subscription-notification``);
  handshake, heartbeat, event-notification and query-status/query-event, with content
  ``full-resource`` (resources in the Bundle), ``id-only`` (focus references only) or ``empty``;
- a plain resource POSTed, or PUT to ``{endpoint}/{Type}/{id}`` (HAPI's classic rest-hook);
- ``batch``, ``transaction``, ``collection``, ``searchset`` and plain ``history`` Bundles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOTIFICATION_TYPES = ("handshake", "heartbeat", "event-notification", "query-status", "query-event")
PLAIN_BUNDLES = ("batch", "transaction", "collection", "searchset", "history", "message")


class PayloadError(ValueError):
    """The body is not a FHIR payload the receiver understands; ``element`` says where."""

    def __init__(self, text: str, element: str) -> None:
        super().__init__(text)
        self.text = text
        self.element = element


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource the sender delivered (``resource`` None for id-only focus references)."""

    index: int  # position in the Bundle, for OperationOutcome expressions
    resource: dict[str, Any] | None
    full_url: str | None = None
    method: str | None = None  # request.method: POST/PUT/DELETE, when the sender said
    reference: str | None = None  # "Type/id" when known without the resource (id-only)

    @property
    def resource_type(self) -> str | None:
        if self.resource is not None:
            value = self.resource.get("resourceType")
            return value if isinstance(value, str) else None
        return self.reference.split("/")[-2] if self.reference and "/" in self.reference else None


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    number: int | None
    focus: str | None  # the focus reference as sent
    timestamp: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST/PUT: its notification status (None for plain pushes) and its entries."""

    form: str  # notification | resource | bundle | empty
    version: str | None  # R4 | R4B | R5 when the form says, else None
    entries: list[Entry] = field(default_factory=list)
    kind: str | None = None  # handshake | heartbeat | event-notification | ...
    subscription: str | None = None
    topic: str | None = None
    status: str | None = None
    events_since_start: int | None = None
    events: list[NotificationEvent] = field(default_factory=list)

    @property
    def is_notification(self) -> bool:
        return self.form == "notification"


def _int(value: Any, element: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PayloadError(f"{element} must be a whole number, got {value!r}", element) from None


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        ref = value.get("reference")
        return ref if isinstance(ref, str) else None
    return None


def reference_key(reference: str | None) -> str | None:
    """``Type/id`` of an absolute or relative literal reference, without ``_history``."""
    if not reference:
        return None
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2:
        return None
    return f"{parts[-2]}/{parts[-1]}"


def _status_r4(resource: dict[str, Any]) -> dict[str, Any]:
    """A Backport R4 ``Parameters`` status as the R4B/R5 SubscriptionStatus field names."""
    out: dict[str, Any] = {"notificationEvent": []}
    names = {
        "subscription": ("subscription", "valueReference"),
        "topic": ("topic", "valueCanonical"),
        "status": ("status", "valueCode"),
        "type": ("type", "valueCode"),
        "events-since-subscription-start": ("eventsSinceSubscriptionStart", "valueString"),
    }
    for param in resource.get("parameter") or []:
        if not isinstance(param, dict):
            continue
        name = param.get("name")
        if name in names:
            key, value_field = names[name]
            value = param.get(value_field)
            if value is None:  # senders differ: take whichever value[x] is there
                value = next((v for k, v in param.items() if k.startswith("value")), None)
            out[key] = value
        elif name == "notification-event":
            event: dict[str, Any] = {}
            for part in param.get("part") or []:
                pname = part.get("name") if isinstance(part, dict) else None
                if pname == "event-number":
                    event["eventNumber"] = part.get("valueString", part.get("valueInteger"))
                elif pname == "timestamp":
                    event["timestamp"] = part.get("valueInstant")
                elif pname == "focus":
                    event["focus"] = part.get("valueReference")
            out["notificationEvent"].append(event)
    return out


def _notification(bundle: dict[str, Any], status: dict[str, Any], version: str) -> Delivery:
    fields = _status_r4(status) if status.get("resourceType") == "Parameters" else status
    kind = fields.get("type")
    if kind not in NOTIFICATION_TYPES:
        raise PayloadError(
            f"notification type {kind!r} is not one of {', '.join(NOTIFICATION_TYPES)}",
            "Bundle.entry[0].resource.type",
        )
    events = []
    for i, event in enumerate(fields.get("notificationEvent") or []):
        if not isinstance(event, dict):
            continue
        events.append(
            NotificationEvent(
                number=_int(
                    event.get("eventNumber"),
                    f"Bundle.entry[0].resource.notificationEvent[{i}].eventNumber",
                ),
                focus=_ref(event.get("focus")),
                timestamp=event.get("timestamp"),
            )
        )
    entries = _entries(bundle.get("entry") or [], start=1)
    # id-only: the foci are the entries to read (unless the sender also listed them)
    listed = {e.reference for e in entries if e.reference}
    for event in events:
        key = reference_key(event.focus)
        if key and key not in listed:
            entries.append(Entry(index=-1, resource=None, reference=key))
            listed.add(key)
    subscription = fields.get("subscription")
    return Delivery(
        form="notification",
        version=version,
        entries=entries,
        kind=kind,
        subscription=_ref(subscription) if isinstance(subscription, dict) else subscription,
        topic=fields.get("topic"),
        status=fields.get("status"),
        events_since_start=_int(
            fields.get("eventsSinceSubscriptionStart"),
            "Bundle.entry[0].resource.eventsSinceSubscriptionStart",
        ),
        events=events,
    )


def parse_delivery(body: Any, path_reference: str | None = None) -> Delivery:
    """Classify and take apart a pushed JSON body.

    ``path_reference`` is ``Type/id`` when the sender PUT to ``{endpoint}/{Type}/{id}``.
    An empty body (HAPI's payload-less rest-hook) is form ``empty``.
    """
    if body is None:
        return Delivery(form="empty", version=None)
    if not isinstance(body, dict):
        raise PayloadError("the body must be a JSON object (a FHIR resource)", "(root)")
    rtype = body.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise PayloadError("resourceType is missing", "resourceType")
    if rtype != "Bundle":
        if path_reference is not None:
            ptype, _, pid = path_reference.partition("/")
            if ptype != rtype or (body.get("id") not in (None, pid)):
                raise PayloadError(
                    f"the body is {rtype}/{body.get('id')} but was sent to {path_reference}",
                    "id",
                )
        return Delivery(
            form="resource",
            version=None,
            entries=[Entry(index=0, resource=body, method="PUT" if path_reference else "POST")],
        )
    btype = body.get("type")
    raw_entries = body.get("entry") or []
    if not isinstance(raw_entries, list):
        raise PayloadError("Bundle.entry must be an array", "Bundle.entry")
    head = (
        raw_entries[0].get("resource") if raw_entries and isinstance(raw_entries[0], dict) else None
    )
    first: dict[str, Any] = head if isinstance(head, dict) else {}
    first_type = first.get("resourceType")
    if btype == "subscription-notification":
        if first_type != "SubscriptionStatus":
            raise PayloadError(
                "a subscription-notification Bundle starts with a SubscriptionStatus",
                "Bundle.entry[0].resource",
            )
        return _notification(body, first, "R5")
    if btype == "history" and first_type == "SubscriptionStatus":
        return _notification(body, first, "R4B")
    if btype == "history" and first_type == "Parameters" and _is_backport_status(first):
        return _notification(body, first, "R4")
    if btype not in PLAIN_BUNDLES:
        raise PayloadError(f"Bundle type {btype!r} is not accepted", "Bundle.type")
    return Delivery(form="bundle", version=None, entries=_entries(raw_entries, start=0))


def parse_status(body: Any) -> Delivery | None:
    """The status a server returns from ``Subscription/{id}/$status``: a searchset Bundle whose
    first SubscriptionStatus (R4B, R5) or Backport ``Parameters`` (R4) is read, or one of
    those resources on its own. None when the answer holds no status."""
    if not isinstance(body, dict):
        return None
    candidates = [body]
    if body.get("resourceType") == "Bundle":
        candidates = [
            e["resource"]
            for e in body.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    for resource in candidates:
        rtype = resource.get("resourceType")
        if rtype == "SubscriptionStatus" or (
            rtype == "Parameters" and _is_backport_status(resource)
        ):
            version = "R4" if rtype == "Parameters" else "R4B"
            return _notification({"entry": [{"resource": resource}]}, resource, version)
    return None


def _entries(raw_entries: list[Any], start: int) -> list[Entry]:
    """Bundle entries from ``start`` (1 skips a notification's status entry)."""
    entries = []
    for index, item in enumerate(raw_entries[start:], start=start):
        if not isinstance(item, dict):
            raise PayloadError(f"entry {index} is not an object", f"Bundle.entry[{index}]")
        resource = item.get("resource")
        request: dict[str, Any] = item["request"] if isinstance(item.get("request"), dict) else {}
        entries.append(
            Entry(
                index=index,
                resource=resource if isinstance(resource, dict) else None,
                full_url=item.get("fullUrl"),
                method=request.get("method"),
                reference=reference_key(item.get("fullUrl") or request.get("url")),
            )
        )
    return entries


def _is_backport_status(resource: dict[str, Any]) -> bool:
    names = {p.get("name") for p in resource.get("parameter") or [] if isinstance(p, dict)}
    return "type" in names and ("subscription" in names or "status" in names)
