"""Registers the configured MLLP listeners as hub inputs (entry point ``hl7_mllp``).

Settings: ``[[plugins.settings.hl7_mllp.listeners]]`` tables (see ``MllpSettings``); with none,
one listener named ``default`` on 127.0.0.1:2575.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.hl7.listener import MllpListener, MllpSettings
from hub import hookimpl

if TYPE_CHECKING:
    from hub.inputs import Input
    from hub.runtime import HubContext


SETTINGS = MllpSettings()


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS
    SETTINGS = MllpSettings.model_validate(hub.plugin_settings("hl7_mllp"))


@hookimpl
def register_inputs(hub: HubContext, register: Callable[[Input], None]) -> None:
    for listener in SETTINGS.listeners:
        register(MllpListener(listener))
