"""Settings of the feeds adapter: ``[plugins.settings.feeds]`` (see docs/feeds.md)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HUB_STATUSES = ("occupied", "available", "cleaning", "closed", "isolated", "contaminated")
KINDS: tuple[Literal["beds", "staff"], ...] = ("beds", "staff")
_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_HOSPITAL = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


class _Common(BaseModel):
    """What push sources and pollers share: how records are read and who hears of problems."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("default", pattern=_NAME, description="URL segment and label.")
    hospital: str | None = Field(
        None, pattern=_HOSPITAL, description="Hospital of records that name none."
    )
    status_map: dict[str, str] = Field(
        default_factory=dict,
        description="The source's own bed status words -> a hub status (occupied, available, "
        "cleaning, closed, isolated, contaminated); tried before table 0116 codes.",
    )
    staff_type_map: dict[str, str] = Field(
        default_factory=dict,
        description="The source's staff type codes -> doctor | nurse | other.",
    )
    api_key_env: str | None = Field(
        None, description="Environment variable holding this source's API key."
    )
    api_key_header: str = Field("X-API-Key", description="Header carrying the API key.")
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest body accepted (server.max_body_bytes caps it)."
    )
    max_silence_s: float | None = Field(
        None, gt=0, description="Raise a 'silent' system alert after this long without data."
    )
    alert_after_failures: int = Field(
        3, ge=1, description="Consecutive failures before one 'failing' system alert."
    )
    alert_hospitals: list[str] = Field(
        default_factory=lambda: ["system"],
        description="Hospitals whose rooms get this input's system alerts.",
    )

    @field_validator("status_map")
    @classmethod
    def _statuses(cls, value: dict[str, str]) -> dict[str, str]:
        for word, status in value.items():
            if status not in HUB_STATUSES:
                raise ValueError(
                    f"status_map[{word!r}] = {status!r}; must be one of {', '.join(HUB_STATUSES)}"
                )
        return value

    @field_validator("staff_type_map")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        for code, kind in value.items():
            if kind not in ("doctor", "nurse", "other"):
                raise ValueError(f"staff_type_map[{code!r}] = {kind!r}; use doctor|nurse|other")
        return value

    @model_validator(mode="after")
    def _env_set(self) -> _Common:
        for env in self._envs():
            if env and not os.environ.get(env):
                raise ValueError(f"environment variable {env} is not set")
        return self

    def _envs(self) -> list[str | None]:
        return [self.api_key_env]


class SourceConfig(_Common):
    """A system pushing to ``/feeds/{kind}/{name}`` (webhook updates and snapshots)."""

    accept_hub_tokens: bool = Field(
        False, description="Accept the hub's own JWTs with the service (or admin) role."
    )
    kinds: list[Literal["beds", "staff"]] = Field(
        default_factory=lambda: list(KINDS), description="Feeds this source may push."
    )

    @model_validator(mode="after")
    def _credentials(self) -> SourceConfig:
        if not (self.accept_hub_tokens or self.api_key_env):
            raise ValueError("a feed source needs accept_hub_tokens or api_key_env")
        return self


class PollConfig(_Common):
    """A URL the hub reads on an interval; each answer is a snapshot."""

    url: str = Field(pattern=r"^https?://", description="What to GET.")
    kind: Literal["beds", "staff"] = Field(description="What the URL serves.")
    format: Literal["auto", "json", "csv"] = Field(
        "auto", description="Body format; auto goes by the answer's Content-Type."
    )
    interval_s: float = Field(60.0, gt=0, description="Time between polls while healthy.")
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one poll.")
    max_backoff_s: float = Field(
        300.0, gt=0, description="Longest wait between polls while failing (doubles up to it)."
    )
    token_env: str | None = Field(
        None, description="Environment variable holding a bearer token for the URL."
    )

    def _envs(self) -> list[str | None]:
        return [self.api_key_env, self.token_env]


class FeedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig] = Field(
        default_factory=lambda: [SourceConfig(name="default", accept_hub_tokens=True)],
        description="Push sources; by default one named 'default' accepting the hub's service "
        "tokens.",
    )
    polls: list[PollConfig] = Field(default_factory=list, description="URLs polled.")

    @model_validator(mode="after")
    def _unique(self) -> FeedSettings:
        for what, names in (
            ("source", [s.name for s in self.sources]),
            ("poll", [p.name for p in self.polls]),
        ):
            if len(names) != len(set(names)):
                raise ValueError(f"feed {what} names must be unique")
        return self
