"""Registers the configured FHIR sources as hub inputs with HTTP routes (entry point ``fhir``).

Settings: ``[[plugins.settings.fhir.sources]]`` tables (see ``SourceConfig``); with none, one
source named ``default`` at ``/fhir/default`` that accepts the hub's own service tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.fhir.receiver import FhirSettings, FhirSource
from hub import hookimpl

if TYPE_CHECKING:
    from hub.inputs import Input
    from hub.runtime import HubContext

SETTINGS = FhirSettings()


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS
    SETTINGS = FhirSettings.model_validate(hub.plugin_settings("fhir"))


@hookimpl
def register_inputs(hub: HubContext, register: Callable[[Input], None]) -> None:
    for source in SETTINGS.sources:
        register(FhirSource(source))
