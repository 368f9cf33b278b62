"""Registers the feed sources and pollers as hub inputs (entry point ``feeds``).

Settings: ``[plugins.settings.feeds]`` with ``[[...sources]]`` and ``[[...polls]]`` tables
(see ``adapters/feeds/config.py`` and docs/feeds.md); with none, one push source named
``default`` at ``/feeds/{beds|staff}/default`` that accepts the hub's service tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.feeds.config import FeedSettings
from adapters.feeds.poller import Poller
from adapters.feeds.receiver import FeedSource
from hub import hookimpl

if TYPE_CHECKING:
    from hub.inputs import Input
    from hub.runtime import HubContext

SETTINGS = FeedSettings()


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS
    SETTINGS = FeedSettings.model_validate(hub.plugin_settings("feeds"))


@hookimpl
def register_inputs(hub: HubContext, register: Callable[[Input], None]) -> None:
    for source in SETTINGS.sources:
        register(FeedSource(source))
    for poll in SETTINGS.polls:
        register(Poller(poll))
