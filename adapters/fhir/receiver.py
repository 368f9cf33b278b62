"""The FHIR notification receiver: ``POST /fhir/{source}`` (and ``PUT /fhir/{source}/{Type}/{id}``).

Store, then answer: the body, the events made from it and the answer are committed together
(``HubContext.accept``) before the 2xx is sent, so an accepted notification is never lost and
a resent one (same subscription and event numbers, or same resource version) gets the first
answer again and produces no new events. Invalid resources are refused in an OperationOutcome
that names each failed entry and element, without blocking the other entries.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from dataclasses import dataclass, field
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from quart import Blueprint, Response

from adapters.fhir.follow import Follower
from adapters.fhir.notification import Delivery, Entry, PayloadError, parse_delivery
from adapters.fhir.validation import Invalid, validate
from hub.api.common import HttpError, authenticate
from hub.auth import AuthError
from hub.http_lean import BodyTooLarge, LeanRequest, LeanResponse, LeanRoute
from hub.inputs import InboundMessage, NormalizeFailed

if TYPE_CHECKING:
    from hub.journal import StoredInput
    from hub.runtime import HubContext

log = logging.getLogger("adapters.fhir")

FHIR_JSON = "application/fhir+json"


class SourceConfig(BaseModel):
    """One FHIR server (or other sender) pushing to ``/fhir/{name}``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        "default", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="URL segment and label."
    )
    accept_hub_tokens: bool = Field(
        False, description="Accept the hub's own JWTs with the service (or admin) role."
    )
    bearer_token_env: str | None = Field(
        None, description="Environment variable holding a static bearer token for this source."
    )
    hmac_secret_env: str | None = Field(
        None,
        description="Environment variable holding the HMAC-SHA256 secret (Medplum's "
        "subscription-secret); the signature of the raw body is read from ``hmac_header``.",
    )
    hmac_header: str = Field("X-Signature", description="Header carrying the hex HMAC.")
    fhir_version: Literal["R4", "R4B", "R5"] = Field(
        "R4", description="Version of plain resources and Bundles (notifications say theirs)."
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest body accepted.")
    base_url: str | None = Field(
        None,
        description="The source's FHIR base URL, for reading id-only foci, empty "
        "notifications and missed events.",
    )
    fetch_token_env: str | None = Field(
        None, description="Environment variable holding a bearer token for reading."
    )
    fetch_timeout_s: float = Field(10.0, gt=0, description="Timeout of each read.")
    fetch_attempts: int = Field(3, ge=1, le=10, description="Tries per read (with backoff).")
    fetch_backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles.")
    heartbeat_s: float | None = Field(
        None,
        gt=0,
        description="The subscriptions' heartbeat period: no notification within twice it "
        "marks the source silent. None: no watchdog.",
    )
    max_silence_s: float | None = Field(
        None,
        gt=0,
        description="Raise a system alert when nothing arrived for this long (for servers "
        "that send no heartbeats); cleared by the next delivery.",
    )
    gap_grace_s: float = Field(
        5.0, ge=0, description="How long a missing event number may arrive late before recovery."
    )
    poll_types: list[str] = Field(
        default_factory=lambda: ["Observation"],
        description="Resource types searched for empty notifications (and recovery when the "
        "missed events' types are unknown).",
    )
    recovery_limit: int = Field(1000, ge=1, description="Most resources read per recovery.")
    alert_hospital: str = Field(
        "system",
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="Hospital whose room gets this source's system alerts (gaps, silence).",
    )
    patient_id: Literal["reference", "identifier"] = Field(
        "reference",
        description="How the hub's patient id comes from a FHIR patient reference: the "
        "referenced id, or an identifier of ``patient_identifier_system``.",
    )
    patient_identifier_system: str | None = Field(
        None, description="Identifier system (e.g. the MRN system) when patient_id = identifier."
    )

    @model_validator(mode="after")
    def _checked(self) -> SourceConfig:
        if not (self.accept_hub_tokens or self.bearer_token_env or self.hmac_secret_env):
            raise ValueError(
                "a FHIR source needs accept_hub_tokens, bearer_token_env or hmac_secret_env"
            )
        if self.patient_id == "identifier" and not self.patient_identifier_system:
            raise ValueError("patient_id = identifier needs patient_identifier_system")
        for env in (self.bearer_token_env, self.hmac_secret_env, self.fetch_token_env):
            if env and not os.environ.get(env):
                raise ValueError(f"environment variable {env} is not set")
        return self


class FhirSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(
        default_factory=lambda: [SourceConfig(name="default", accept_hub_tokens=True)],
        description="Sources; by default one named 'default' accepting the hub's service tokens.",
    )

    @model_validator(mode="after")
    def _unique(self) -> FhirSettings:
        names = [s.name for s in self.sources]
        if len(names) != len(set(names)):
            raise ValueError("FHIR source names must be unique")
        return self


@dataclass(frozen=True, slots=True)
class FhirEntry:
    """A delivered resource as plugins see it: JSON to read, the validated model, identity."""

    resource: dict[str, Any] | None
    model: Any
    resource_type: str | None
    reference: str | None  # Type/id
    version_key: str | None  # Type/id/_history/versionId when the sender versioned it
    patient_id: str | None  # the hub's patient id per the source's rule, when resolvable
    method: str | None = None


@dataclass(frozen=True, slots=True)
class FhirDelivery:
    """``InboundMessage.body`` for kind ``fhir``."""

    source: str
    delivery: Delivery
    entries: list[FhirEntry] = field(default_factory=list)


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": issues}


def issue(severity: str, code: str, text: str, expression: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": text}
    if expression:
        item["expression"] = [expression]
    return item


def _reply(status: int, body: dict[str, Any]) -> bytes:
    """The stored answer: ``STATUS\n`` then the body as sent, so a duplicate is answered by
    slicing, not by decoding and encoding JSON again."""
    return b"%d\n" % status + orjson.dumps(body)


def _response(reply: bytes) -> LeanResponse:
    status, _, body = reply.partition(b"\n")
    return LeanResponse(int(status), body, FHIR_JSON)


def _fail(status: int, code: str, text: str, expression: str | None = None) -> LeanResponse:
    body = orjson.dumps(operation_outcome([issue("error", code, text, expression)]))
    return LeanResponse(status, body, FHIR_JSON)


class FhirSource:
    """One configured source: authentication, parsing and the store-then-answer path."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.name = f"fhir:{config.name}"
        self._hub: HubContext | None = None
        token_env, secret_env = config.bearer_token_env, config.hmac_secret_env
        self._token = os.environ.get(token_env, "").encode() if token_env else None
        self._secret = os.environ.get(secret_env, "").encode() if secret_env else None
        fetch_env = config.fetch_token_env
        self.follower = Follower(
            config, self.name, os.environ.get(fetch_env) if fetch_env else None
        )
        # read by the hub's input watchdog: for sources that send no heartbeats
        self.max_silence_s = config.max_silence_s
        self.alert_hospitals = [config.alert_hospital]
        self.last_activity = time.monotonic()
        self._reading: set[int] = set()  # pending inputs whose reads run in this process

    async def start(self, hub: HubContext) -> None:
        self._hub = hub
        await self.follower.start(hub, self._deliver_read)
        # notifications whose resources were being read when this node (or another, sharing
        # the journal, whose lease has run out) stopped
        await self._take_over(hub)
        self.follower.spawn(self._keep_taking_over(hub), "take-over")

    async def _take_over(self, hub: HubContext) -> None:
        for stored in await hub.journal.claim_pending(self.name):
            if stored.id not in self._reading:
                self._read_later(stored.id, stored.reply, self._parse_stored(stored))

    async def _keep_taking_over(self, hub: HubContext) -> None:
        # With one process this finds nothing new; with several, a dead node's leases expire
        # after cluster.lease_s and its accepted notifications are finished here.
        period = hub.config.cluster.lease_s / 2
        while True:
            await asyncio.sleep(period)
            try:
                await self._take_over(hub)
            except Exception:
                log.exception("claiming pending notifications failed", extra={"input": self.name})

    async def stop(self) -> None:
        await self.follower.stop()
        self._hub = None

    def health(self) -> str | None:
        if self._hub is None:
            return "not started"
        return self.follower.health()

    # --- request handling -----------------------------------------------------------------

    async def authenticate(self, request: LeanRequest, body: bytes) -> str | None:
        """None when the sender is who the source expects, otherwise why not."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if self._secret is not None:
            signature = request.headers.get(self.config.hmac_header.lower(), "").strip().lower()
            expected = hmac.new(self._secret, body, sha256).hexdigest()
            if signature and hmac.compare_digest(signature, expected):
                return None
        if self._token is not None and token and hmac.compare_digest(token.encode(), self._token):
            return None
        if self.config.accept_hub_tokens and token and self._hub is not None:
            try:
                principal = await self._hub.verifier.verify_async(token)
            except AuthError as exc:
                return exc.reason
            if principal.role == "service" or principal.is_admin:
                return None
            return f"role {principal.role!r} may not push FHIR notifications"
        return "missing or wrong credentials for this source"

    async def receive(self, request: LeanRequest, path_reference: str | None) -> LeanResponse:
        hub = self._hub
        if hub is None:
            return _fail(503, "transient", "the FHIR receiver is not running")
        limit = self.config.max_body_bytes
        length = request.content_length
        if length is not None and length > limit:
            return _fail(413, "too-costly", f"body exceeds {limit} bytes")
        try:
            # Medplum signs the raw body, so it is read before the caller is known
            body = await request.body(limit)
        except BodyTooLarge:
            return _fail(413, "too-costly", f"body exceeds {limit} bytes")
        refusal = await self.authenticate(request, body)
        if refusal is not None:
            hub.metrics.input_errors.labels(self.name, "unauthorized").inc()
            response = _fail(401, "security", refusal)
            response.headers["WWW-Authenticate"] = 'Bearer realm="hub-fhir"'
            return response
        mimetype = request.mimetype
        if body and mimetype not in (FHIR_JSON, "application/json"):
            return _fail(415, "not-supported", f"send {FHIR_JSON}, not {mimetype or 'nothing'}")
        try:
            parsed = orjson.loads(body) if body.strip() else None
            delivery = parse_delivery(parsed, path_reference)
        except orjson.JSONDecodeError as exc:
            return await self._reject(body, 400, "invalid", f"the body is not JSON: {exc}", None)
        except PayloadError as exc:
            return await self._reject(body, 422, "structure", exc.text, exc.element)
        return await self._accept(hub, body, delivery)

    async def _reject(
        self, body: bytes, status: int, code: str, text: str, expression: str | None
    ) -> LeanResponse:
        hub = self._hub
        assert hub is not None
        hub.metrics.input_errors.labels(self.name, code).inc()
        await hub.journal.store_input(self.name, None, body, _now(), "rejected", text)
        return _fail(status, code, text, expression)

    async def _accept(self, hub: HubContext, body: bytes, delivery: Delivery) -> LeanResponse:
        entries, problems = self._checked(delivery)
        message = self._message(delivery, entries)

        def answer(failure: NormalizeFailed | None) -> bytes:
            issues = list(problems)
            if failure is not None:
                issues.append(issue("error", "processing", failure.reason))
            if issues:
                return _reply(422, operation_outcome(issues))
            text = f"accepted {len(entries)} of {len(delivery.entries)} entries"
            return _reply(200, operation_outcome([issue("information", "informational", text)]))

        key = dedupe_key(delivery, entries)
        problem = "; ".join(p["diagnostics"] for p in problems) or None
        accepted = await hub.accept(
            message, body, f"{self.name}|{key}" if key else None, answer, problem
        )
        self.last_activity = time.monotonic()
        if problems and not accepted.stored.duplicate:
            hub.metrics.input_errors.labels(self.name, "invalid_resource").inc()
        if delivery.is_notification and not accepted.stored.duplicate:
            self.follower.noticed(delivery)
            if self.follower.needs_reading(delivery):
                await hub.journal.finish_input(
                    accepted.stored.id, "pending", accepted.reply, "reading notified resources"
                )
                self._read_later(accepted.stored.id, accepted.reply, delivery)
        log.info(
            "fhir delivery handled",
            extra={
                "source": self.name,
                "input_id": accepted.stored.id,
                "form": delivery.form,
                "notification": delivery.kind,
                "entries": len(delivery.entries),
                "invalid": len(problems),
                "duplicate": accepted.stored.duplicate,
            },
        )
        assert accepted.reply is not None
        return _response(accepted.reply)

    async def reprocess(self, stored: StoredInput) -> None:
        """Run a kept delivery through the plugins again (after a fix or a plugin upgrade).

        Its events get the ids they would have had the first time, so only what is missing
        is journaled; entries that are still invalid keep it an error.
        """
        hub = self._hub
        assert hub is not None
        delivery = self._parse_stored(stored)
        entries, problems = self._checked(delivery)
        message = self._message(delivery, entries)
        reasons = [p["diagnostics"] for p in problems]
        if delivery.is_notification and self.follower.needs_reading(delivery):
            problem = await self.follower.read(delivery)
            if problem:
                reasons.append(problem)
        try:
            await hub.ingest(message, id_prefix=f"{self.name}:{stored.id}")
        except NormalizeFailed as exc:
            reasons.append(exc.reason)
        status = "error" if reasons else "processed"
        await hub.journal.finish_input(stored.id, status, stored.reply, "; ".join(reasons) or None)

    def _checked(self, delivery: Delivery) -> tuple[list[FhirEntry], list[dict[str, Any]]]:
        version = delivery.version or self.config.fhir_version
        entries: list[FhirEntry] = []
        problems: list[dict[str, Any]] = []
        for entry in delivery.entries:
            if entry.resource is None:
                entries.append(self._entry(entry, None))
                continue
            checked = validate(entry.resource, version)
            if isinstance(checked, Invalid):
                where = (
                    f"Bundle.entry[{entry.index}].resource" if delivery.form != "resource" else ""
                )
                expression = f"{where}.{checked.element}" if where else checked.element
                problems.append(issue("error", "invalid", checked.text, expression))
                continue
            entries.append(self._entry(entry, checked))
        return entries, problems

    def _message(self, delivery: Delivery, entries: list[FhirEntry]) -> InboundMessage:
        return InboundMessage(
            kind="fhir",
            source=self.name,
            body=FhirDelivery(self.config.name, delivery, entries),
            meta={"form": delivery.form, "notification": delivery.kind},
        )

    def _entry(self, entry: Entry, model: Any) -> FhirEntry:
        resource = entry.resource
        reference = entry.reference
        version_key = None
        if resource is not None:
            rid = resource.get("id")
            if isinstance(rid, str) and rid:
                reference = f"{resource.get('resourceType')}/{rid}"
                meta = resource.get("meta")
                vid = meta.get("versionId") if isinstance(meta, dict) else None
                if isinstance(vid, str) and vid:
                    version_key = f"{reference}/_history/{vid}"
        return FhirEntry(
            resource=resource,
            model=model,
            resource_type=entry.resource_type,
            reference=reference,
            version_key=version_key,
            patient_id=self.patient_of(resource),
            method=entry.method,
        )

    def patient_of(self, resource: dict[str, Any] | None) -> str | None:
        """The hub's patient id for the patient a resource is about, per the source's rule."""
        if resource is None:
            return None
        if resource.get("resourceType") == "Patient":
            return self._patient_id(f"Patient/{resource.get('id')}", resource.get("identifier"))
        for element in ("subject", "patient"):
            ref = resource.get(element)
            if isinstance(ref, dict):
                identifier = ref.get("identifier")
                return self._patient_id(
                    ref.get("reference"), [identifier] if isinstance(identifier, dict) else None
                )
        return None

    def _patient_id(self, reference: Any, identifiers: Any) -> str | None:
        if self.config.patient_id == "identifier":
            for ident in identifiers or []:
                if isinstance(ident, dict) and ident.get("system") == (
                    self.config.patient_identifier_system
                ):
                    value = ident.get("value")
                    return value if isinstance(value, str) and value else None
            return None
        if not isinstance(reference, str) or "Patient/" not in reference:
            return None
        rid = reference.split("Patient/", 1)[1].split("/", 1)[0]
        return rid or None

    def _parse_stored(self, stored: StoredInput) -> Delivery:
        return parse_delivery(orjson.loads(stored.raw) if stored.raw.strip() else None)

    def _read_later(self, input_id: int, reply: bytes | None, delivery: Delivery) -> None:
        async def read() -> None:
            hub = self._hub
            assert hub is not None
            try:
                problem = await self.follower.read(delivery)
                status = "error" if problem else "processed"
                await hub.journal.finish_input(input_id, status, reply, problem)
            finally:
                self._reading.discard(input_id)
            if problem:
                hub.metrics.input_errors.labels(self.name, "read_failed").inc()

        self._reading.add(input_id)

        self.follower.spawn(read(), "read")

    async def _deliver_read(self, resources: list[dict[str, Any]], why: str) -> str | None:
        """Store and process resources read from the server as an input of their own."""
        hub = self._hub
        assert hub is not None
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
        raw = orjson.dumps(bundle)
        delivery = parse_delivery(bundle)
        entries, problems = self._checked(delivery)
        problem = "; ".join(p["diagnostics"] for p in problems) or None

        def answer(failure: NormalizeFailed | None) -> bytes:
            text = failure.reason if failure else why
            return _reply(200, operation_outcome([issue("information", "informational", text)]))

        accepted = await hub.accept(self._message(delivery, entries), raw, None, answer, problem)
        if accepted.stored.status == "error":
            return f"read resources kept as inbound {accepted.stored.id} with errors"
        return None

    def routes(self) -> list[LeanRoute]:
        """Notification endpoints on the hub's lean HTTP path (no Quart request machinery)."""
        base = f"/fhir/{self.config.name}"

        async def post_root(request: LeanRequest) -> LeanResponse:
            return await self.receive(request, None)

        async def put_resource(request: LeanRequest) -> LeanResponse:
            return await self.receive(request, f"{request.params['rtype']}/{request.params['rid']}")

        return [
            LeanRoute("POST", base, post_root),
            LeanRoute("PUT", f"{base}/{{rtype}}/{{rid}}", put_resource),
            LeanRoute("POST", f"{base}/{{rtype}}", post_root),
        ]

    def blueprint(self) -> Blueprint:
        """The operators' view, which needs the hub's admin authentication (Quart)."""
        bp = Blueprint(f"fhir_{self.config.name}", __name__)

        async def subscriptions() -> Response:
            # operators' view of what the hub knows about this source's subscriptions
            hub = self._hub
            if hub is None:
                return Response(b'{"error": "not running"}', 503, content_type="application/json")
            try:
                await authenticate(hub, roles=("admin",))
            except HttpError as exc:
                return exc.response
            now = time.monotonic()
            body = {
                "source": self.config.name,
                "silent": self.follower.tracker.silent(),
                "subscriptions": {
                    key: {
                        "status": sub.status,
                        "last_event_number": sub.last_number,
                        "last_event_time": sub.last_event_time,
                        "seconds_since_last_notification": round(now - sub.last_seen, 1),
                        "silent": sub.silent,
                        "counter_resets": sub.resets,
                        "awaiting_events": sorted(sub.missing),
                    }
                    for key, sub in sorted(self.follower.tracker.subscriptions.items())
                },
            }
            return Response(orjson.dumps(body), status=200, content_type="application/json")

        bp.add_url_rule(
            f"/api/fhir/{self.config.name}/subscriptions",
            f"subs_{self.config.name}",
            subscriptions,
            methods=["GET"],
        )
        return bp


def dedupe_key(delivery: Delivery, entries: list[FhirEntry]) -> str | None:
    """What makes a resend recognisable.

    Event numbers alone are not enough: HAPI keeps its counter in memory, so after a server
    restart numbers repeat for new events. The focus references (and resource versions) go in
    too, so only a true resend matches.
    """
    if delivery.is_notification:
        if delivery.kind != "event-notification" or not delivery.events:
            return None  # handshakes and heartbeats are recorded, never deduplicated
        events = ",".join(f"{e.number}:{e.focus}" for e in delivery.events)
        versions = ",".join(e.version_key or e.reference or "" for e in entries)
        return f"{delivery.subscription}|{events}|{versions}"
    if delivery.form == "resource" and entries and entries[0].version_key:
        return entries[0].version_key
    return None


def _now() -> str:
    from hub.events import iso, utc_now

    return iso(utc_now())
