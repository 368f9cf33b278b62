"""Hub configuration: one validated model, read from TOML and overridden by the environment.

Every key has a default and a description; ``hub config-reference`` prints them. Environment
variables override the file: ``HUB_<SECTION>__<KEY>`` (for example ``HUB_SERVER__PORT=5001``),
lists as comma-separated values or JSON. Secrets come only from the environment
(``HUB_AUTH__SECRET``) or from files the hub writes under ``./var``.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "HUB_"
DEFAULT_CONFIG_PATH = Path("config/hub.toml")


class ConfigError(Exception):
    """Raised when the configuration is invalid; the message names each key and problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerConfig(_Section):
    host: str = Field("127.0.0.1", description="Address HTTP and Socket.IO listen on.")
    port: int = Field(5000, ge=0, le=65535, description="TCP port for HTTP and Socket.IO.")
    public_url: str | None = Field(
        None, description="URL clients use to reach the hub; its origin is allowed by CORS."
    )
    cors_origins: list[str] = Field(
        default_factory=lambda: [
            "http://localhost:5173",
            "http://127.0.0.1:5173",
            "http://localhost:3000",
            "http://127.0.0.1:3000",
        ],
        description=(
            "Browser origins allowed for HTTP and Socket.IO besides the hub's own. "
            "SOCKET_IO_CORS_ORIGINS (comma-separated) overrides it. '*' is refused."
        ),
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest HTTP request body accepted (413 beyond)."
    )
    worker_class: Literal["asyncio", "uvloop"] = Field(
        "uvloop", description="Event loop under hypercorn; uvloop falls back to asyncio if absent."
    )
    console_dir: Path | None = Field(
        None,
        description="Built clinician console served at /console; unset: the repository's "
        "web/console/dist when it was built (npm run build --prefix web/console).",
    )
    shutdown_timeout_s: float = Field(
        10.0,
        gt=0,
        description="On SIGTERM the node reports not ready, stops accepting MLLP connections, "
        "answers the messages in hand, sends Socket.IO clients to reconnect elsewhere and "
        "exits; this bounds the whole, after which it exits anyway.",
    )
    gc_freeze: bool = Field(
        True,
        description="After start-up, move every object alive then (modules, FHIR model classes, "
        "schemas) out of the garbage collector's sight, so full collections scan only what "
        "requests create.",
    )
    gc_thresholds: tuple[int, int, int] = Field(
        (10_000, 20, 100),
        description="gc.set_threshold values. Python's (700, 10, 10) collects so often under "
        "load that collections were the hub's largest latency tail (docs/benchmarks.md).",
    )

    @field_validator("gc_thresholds")
    @classmethod
    def _positive(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) < 1:
            raise ValueError("every threshold must be at least 1 (0 would turn collection off)")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("'*' would let any web page read clinical events; list origins")
        for origin in value:
            if not origin.startswith(("http://", "https://")):
                raise ValueError(f"origin {origin!r} must start with http:// or https://")
        return value


class JournalConfig(_Section):
    backend: Literal["sqlite", "postgresql"] = Field(
        "sqlite",
        description="Where events, inbound messages, the audit trail and the census are kept: "
        "an embedded SQLite file (one process), or PostgreSQL (needs the postgres extra).",
    )
    path: Path = Field(Path("var/journal.sqlite3"), description="SQLite journal file.")
    dsn: str | None = Field(
        None,
        description="PostgreSQL connection string (postgresql://user@host:5432/db); set it "
        "with HUB_JOURNAL__DSN, since it may hold a password.",
        repr=False,
    )
    migrate_on_open: bool = Field(
        True,
        description="PostgreSQL: bring the schema up to date at start (safe from several "
        "nodes at once); false makes a node refuse an old schema, for deployments that run "
        "`hub db upgrade` as a separate step.",
    )
    retention_days: float = Field(
        7.0, gt=0, description="How long events stay replayable; older ones are pruned."
    )
    group_commit_max: int = Field(
        512, ge=1, description="Most events written in one transaction (one fsync)."
    )
    prune_interval_s: float = Field(300.0, gt=0, description="How often retention is applied.")
    inputs_retention_days: float = Field(
        7.0,
        gt=0,
        description="How long inbound messages (raw bytes, answers, errors) are kept for "
        "inspection and duplicate detection; messages still pending are never pruned.",
    )
    audit_retention_days: float = Field(
        365.0, gt=0, description="How long the audit trail of room joins and reads is kept."
    )

    @model_validator(mode="after")
    def _dsn_for_postgresql(self) -> JournalConfig:
        if self.backend == "postgresql" and not self.dsn:
            raise ValueError("backend postgresql needs dsn (set HUB_JOURNAL__DSN)")
        return self


class ClusterConfig(_Section):
    bus: Literal["postgres", "redis"] = Field(
        "postgres",
        description="How nodes sharing a PostgreSQL journal hear of each other's commits: "
        "PostgreSQL LISTEN/NOTIFY, or Redis pub/sub carrying the events themselves (less load "
        "on the database). Either way the journal stays the one history: a node that misses a "
        "notification reads the events back from it, so a broker outage only delays delivery. "
        "Ignored with the SQLite journal.",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis for bus = redis (set it with HUB_CLUSTER__REDIS_URL when it holds a "
        "password).",
        repr=False,
    )
    node_id: str | None = Field(
        None,
        description="This node's name in leases and logs; defaults to hostname:pid.",
    )
    lease_s: float = Field(
        30.0,
        gt=0,
        description="How long a node's claim on an accepted message it is still working on "
        "(FHIR id-only reads) lasts without renewal; after that another node takes it over.",
    )
    catch_up_interval_s: float = Field(
        1.0,
        gt=0,
        description="How often a node reads the journal for commits it was not told about "
        "(a lost notification, a broker outage): the worst-case extra delay.",
    )


Severity = Literal["critical", "warning", "info"]


class AlertsConfig(_Section):
    escalate_types: list[Severity] = Field(
        default_factory=lambda: list[Severity](["critical"]),
        description="Patient alert severities that escalate when nobody acknowledges them.",
    )
    escalation_after_s: list[float] = Field(
        default_factory=lambda: [300.0, 900.0],
        description="Seconds after an alert was received at which each escalation step fires "
        "if it is still unacknowledged (increasing); empty turns escalation off.",
    )
    escalation_to: list[str] = Field(
        default_factory=lambda: ["charge_nurse", "nursing_supervisor"],
        description="Who each step is for, one per escalation_after_s entry; sent with the "
        "alert_escalated event to the patient's hospital room.",
    )
    check_interval_s: float = Field(
        2.0, gt=0, description="How often unacknowledged alerts are checked against the chain."
    )

    @model_validator(mode="after")
    def _chain(self) -> AlertsConfig:
        if len(self.escalation_after_s) != len(self.escalation_to):
            raise ValueError("escalation_after_s and escalation_to need one entry per step")
        steps = self.escalation_after_s
        if any(t <= 0 for t in steps) or steps != sorted(set(steps)):
            raise ValueError("escalation_after_s must be positive and strictly increasing")
        return self


class AuthConfig(_Section):
    secret: str | None = Field(
        None,
        description=(
            "HS256 signing secret. Set it with HUB_AUTH__SECRET; when unset a development "
            "secret is generated under var/ on first start."
        ),
        repr=False,
    )
    secret_file: Path = Field(
        Path("var/dev-secret"), description="Where the generated development secret is kept."
    )
    algorithms: list[Literal["HS256", "RS256", "ES256"]] = Field(
        default_factory=lambda: ["HS256"],  # type: ignore[arg-type]
        description="Accepted JWT algorithms.",
    )
    jwks_url: str | None = Field(
        None, description="JWKS URL of an OIDC provider; enables RS256/ES256 verification."
    )
    jwks_cache_s: float = Field(300.0, gt=0, description="How long fetched JWKS keys are kept.")
    issuer: str | None = Field(None, description="Required 'iss' claim, if set.")
    audience: str | None = Field(None, description="Required 'aud' claim, if set.")
    leeway_s: float = Field(30.0, ge=0, description="Clock skew tolerated on exp/nbf.")
    roles_claim: str = Field("role", description="Claim holding the user's role.")
    hospitals_claim: str = Field("hospitals", description="Claim listing the user's hospitals.")
    patients_claim: str = Field("patients", description="Claim listing patients granted directly.")
    clinical_roles: list[str] = Field(
        default_factory=lambda: ["doctor", "nurse", "clinician", "triage"],
        description="Roles allowed to join triage_queue and act clinically.",
    )
    dev_token_max_ttl_s: float = Field(
        7 * 86400.0, gt=0, description="Longest lifetime `hub token` will mint."
    )

    @field_validator("secret")
    @classmethod
    def _secret_strength(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < 32:
            raise ValueError("must be at least 32 bytes for HS256")
        return value


class RealtimeConfig(_Section):
    transports: list[Literal["websocket", "polling"]] = Field(
        default_factory=lambda: ["polling", "websocket"],  # type: ignore[arg-type]
        description="Engine.IO transports; websocket alone needs no sticky load balancer.",
    )
    websocket_compression: bool = Field(
        False,
        description=(
            "Negotiate permessage-deflate. Off by default: measured, it costs ~100 KB per "
            "connection and ~40% of throughput for clinical events (docs/benchmarks.md)."
        ),
    )
    ping_interval_s: float = Field(25.0, gt=0, description="Engine.IO ping interval.")
    ping_timeout_s: float = Field(20.0, gt=0, description="Engine.IO ping timeout.")
    max_queue_per_client: int = Field(
        2000, ge=10, description="Outgoing messages a client may lag behind before disconnect."
    )
    max_rooms_per_client: int = Field(500, ge=1, description="Rooms one connection may hold.")
    join_rate_per_s: float = Field(20.0, gt=0, description="Sustained join/leave rate allowed.")
    join_burst: int = Field(100, ge=1, description="Join/leave burst allowed per connection.")
    max_message_bytes: int = Field(65_536, ge=1024, description="Largest inbound client message.")
    replay_batch: int = Field(1000, ge=10, description="Events read per batch during resume.")
    replay_limit: int = Field(
        100_000, ge=100, description="Most events one join may replay; beyond it, ask for less."
    )


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["json", "text"] = Field("json", description="Structured JSON or plain text.")


class PluginsConfig(_Section):
    disabled: list[str] = Field(
        default_factory=list, description="Entry-point names of plugins not to load."
    )
    settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-plugin settings tables ([plugins.settings.NAME]), validated by each.",
    )
    isolate: Literal["third-party", "all", "none"] = Field(
        "third-party",
        description="Plugins whose normalize and event_journaled run in a thread of their own "
        "with a time limit, so one that hangs cannot stop the hub: those not shipped with the "
        "hub, all, or none (each call off the event loop costs ~50 us).",
    )
    hook_timeout_s: float = Field(
        5.0, gt=0, description="An isolated plugin answering later than this is marked hung."
    )


class HubConfig(_Section):
    name: str = Field("clinical-hub", description="Name reported by GET / and in metrics.")
    server: ServerConfig = Field(default_factory=ServerConfig)
    journal: JournalConfig = Field(default_factory=JournalConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    realtime: RealtimeConfig = Field(default_factory=RealtimeConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)


def _parse_env_value(raw: str) -> Any:
    text = raw.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key[len(ENV_PREFIX) :]:
            # single-level HUB_* names (HUB_CONFIG) are options, not config keys
            if key == f"{ENV_PREFIX}NAME":
                overrides["name"] = raw
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _parse_env_value(raw)
    cors = environ.get("SOCKET_IO_CORS_ORIGINS")
    if cors:
        server = overrides.setdefault("server", {})
        server["cors_origins"] = [o.strip() for o in cors.split(",") if o.strip()]
    return overrides


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _coerce_lists(data: dict[str, Any], model: type[BaseModel]) -> None:
    """Comma-separated env values become lists where the model wants a list."""
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        annotation = str(field.annotation)
        value = data[name]
        if isinstance(value, str) and annotation.startswith("list["):
            data[name] = [v.strip() for v in value.split(",") if v.strip()]
        elif (
            isinstance(value, dict)
            and isinstance(field.annotation, type)
            and issubclass(field.annotation, BaseModel)
        ):
            _coerce_lists(value, field.annotation)


def format_validation_error(error: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(root)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def load_config(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> HubConfig:
    """Read the TOML file (if any), apply environment overrides and validate.

    A missing default file is fine (all keys have defaults); a missing explicit file is an error.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None or bool(env.get("HUB_CONFIG"))
    config_path = Path(path or env.get("HUB_CONFIG") or DEFAULT_CONFIG_PATH)
    data: dict[str, Any] = {}
    origin = "defaults"
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid configuration ({config_path}): {exc}") from exc
        origin = str(config_path)
    elif explicit:
        raise ConfigError(f"configuration file not found: {config_path}")
    data = _merge(data, _env_overrides(env))
    _coerce_lists(data, HubConfig)
    try:
        return HubConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin + " + environment")) from exc


def describe(model: type[BaseModel] = HubConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, description) for every key, for docs and `hub config-reference`."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(describe(annotation, f"{prefix}{name}."))
            continue
        default = field.get_default(call_default_factory=True)
        shown = "(unset)" if default is None else json.dumps(default, default=str)
        rows.append((prefix + name, shown, field.description or ""))
    return rows
