"""FHIR resources other than Observations to hub events (clinical-reference §2.2-§2.7, §5.2, §6).

One plugin, one module per mapping:

- ``risk``: RiskAssessment -> ``risk_updated``
- ``beds``: Location (``bd``) -> ``bed_status_changed``
- ``triage``: Encounter (``EMER``) -> ``triage_updated``
- ``flags``: Flag -> ``patient_alert`` (or ``hospital_alert`` for facility flags)
- ``staff``: PractitionerRole and Slot -> ``staff_availability_changed``

Every event of a versioned resource has the id ``fhir:{Type}/{id}/_history/{vid}:{event type}``,
so a resent version is journaled once. A resource that cannot be mapped is skipped with a log
line naming its reference and counted (``SKIPPED``, and ``hub_fhir_resources_skipped_total``);
it never fails the delivery. See docs/fhir-resources.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub import hookimpl
from hub.events import EventDraft, Identifier, utc_now
from hub.inputs import RejectMessage
from plugins.fhir_resources import beds, flags, risk, staff, triage
from plugins.fhir_resources.common import SKIPPED, Context, index_delivery

if TYPE_CHECKING:
    from adapters.fhir.receiver import FhirDelivery, FhirEntry
    from hub.inputs import InboundMessage
    from hub.runtime import HubContext

__all__ = ["SKIPPED", "FhirResourceSettings", "configure", "normalize"]

log = logging.getLogger("plugins.fhir_resources")

StaffType = Literal["doctor", "nurse", "other"]


class RiskBands(BaseModel):
    """Score bands used when a RiskAssessment gives a probability but no qualitativeRisk."""

    model_config = ConfigDict(extra="forbid")

    low_below: float = Field(0.25, gt=0, le=1, description="Below this: low.")
    medium_below: float = Field(0.5, gt=0, le=1, description="Below this: medium.")
    high_below: float = Field(0.75, gt=0, le=1, description="Below this: high; else critical.")

    @model_validator(mode="after")
    def _ordered(self) -> RiskBands:
        if not self.low_below < self.medium_below < self.high_below:
            raise ValueError("risk bands must rise: low_below < medium_below < high_below")
        return self


class ScheduleStaff(BaseModel):
    """Who a Schedule belongs to, for Slots whose Schedule the hub does not receive."""

    model_config = ConfigDict(extra="forbid")

    staff_id: Identifier
    staff_type: StaffType = "other"
    hospital_id: Identifier | None = Field(None, description="Else default_hospital.")


class FhirResourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hospital_by_organization: dict[str, Identifier] = Field(
        default_factory=dict,
        description="Organization id (or identifier value) -> hub hospital id, for "
        "Location.managingOrganization, Encounter.serviceProvider, PractitionerRole."
        "organization and Flag subjects.",
    )
    default_hospital: Identifier | None = Field(
        None, description="Hospital when no organization maps; None skips beds and staff."
    )
    probability_percent_sources: list[str] = Field(
        default_factory=list,
        description="FHIR source names (``default`` or ``fhir:default``) whose "
        "RiskAssessment probabilityDecimal is always a percentage, 0..1 included.",
    )
    risk_bands: RiskBands = Field(default_factory=RiskBands)
    priority_by_act_code: dict[str, int] = Field(
        default_factory=lambda: {"S": 1},
        description="Encounter.priority (v3-ActPriority code) -> triage priority 1-5.",
    )
    staff_type_by_code: dict[str, StaffType] = Field(
        default_factory=dict,
        description="PractitionerRole.code (any system) -> staff type, before the "
        "practitioner-role doctor/nurse codes.",
    )
    staff_by_schedule: dict[str, ScheduleStaff] = Field(
        default_factory=dict, description="Schedule id -> its staff member, for Slots."
    )
    timezone: str = Field(
        "UTC", description="IANA zone of PractitionerRole available days and clock times."
    )

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("priority_by_act_code")
    @classmethod
    def _priorities(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [code for code, level in value.items() if not 1 <= level <= 5]
        if bad:
            raise ValueError(f"priorities must be 1-5 (ESI levels): {', '.join(bad)}")
        return value

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances by key


Mapper = Callable[["FhirEntry", Context], list[EventDraft]]
MAPPERS: dict[str, Mapper] = {
    "RiskAssessment": risk.map_risk,
    "Location": beds.map_bed,
    "Encounter": triage.map_triage,
    "Flag": flags.map_flag,
    "PractitionerRole": staff.map_practitioner_role,
    "Slot": staff.map_slot,
}

SETTINGS = FhirResourceSettings()
HUB: HubContext | None = None
_SKIP_METRIC: Any = None


def clock() -> datetime:
    """Now; a function so tests can pin the time availability is judged at."""
    return utc_now()


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS, HUB, _SKIP_METRIC
    SETTINGS = FhirResourceSettings.model_validate(hub.plugin_settings("fhir_resources"))
    HUB = hub
    _SKIP_METRIC = _metric(hub)


def _metric(hub: Any) -> Any:
    registry = getattr(getattr(hub, "metrics", None), "registry", None)
    if registry is None:
        return None
    from prometheus_client import Counter

    try:
        return Counter(
            "hub_fhir_resources_skipped_total",
            "FHIR resources the fhir_resources plugin could not map, by type and reason",
            ["resource_type", "reason"],
            registry=registry,
        )
    except ValueError:  # configured twice against the same registry
        return None


@hookimpl
def normalize(message: InboundMessage) -> list[EventDraft] | None:
    if message.kind != "fhir":
        return None
    delivery: FhirDelivery = message.body
    wanted = [e for e in delivery.entries if e.resource is not None and e.resource_type in MAPPERS]
    if not wanted:
        return None
    resources, patients = index_delivery(delivery)
    ctx = Context(
        settings=SETTINGS,
        source=message.source,
        source_name=delivery.source,
        now=clock(),
        hub=HUB,
        resources=resources,
        patients=patients,
        skip_metric=_SKIP_METRIC,
    )
    drafts: list[EventDraft] = []
    for entry in wanted:
        assert entry.resource_type is not None
        try:
            drafts += MAPPERS[entry.resource_type](entry, ctx)
        except RejectMessage:
            raise
        except Exception as exc:
            # one odd resource must not cost the delivery its other events; the exception
            # text can quote resource content, so only its class is logged
            ctx.skip(entry, f"malformed ({type(exc).__name__})")
    return drafts or None
