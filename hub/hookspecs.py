"""The plugin contract: every hook a plugin may implement.

Hooks are synchronous and cheap (pluggy has no async support). A hook that needs I/O registers
an async component instead (see ``register_inputs``) and the hub owns its lifecycle. A plugin
implements only the arguments it needs, so adding an argument never breaks an existing plugin.
Each hook is called for every plugin separately: one plugin raising is logged with its name and
counted in ``hub_plugin_errors_total`` and does not stop the others.

Plugins are found through the ``clinical_hub.plugins`` entry-point group (first-party plugins
included); see docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from hub.auth import Principal
    from hub.events import Event, EventDraft
    from hub.inputs import InboundMessage, Input
    from hub.policy import RoomDecision
    from hub.rooms import Room
    from hub.runtime import HubContext

PROJECT = "clinical_hub"
ENTRY_POINT_GROUP = "clinical_hub.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def configure(hub: HubContext) -> None:
    """Read settings and prepare state, once at startup, before any input starts.

    ``hub.plugin_settings(name)`` returns the plugin's ``[plugins.settings.NAME]`` table;
    validate it here. A ``pydantic.ValidationError`` or ``hub.config.ConfigError`` raised here
    stops the hub at startup with the offending keys named (operators must see a bad setting);
    any other exception is logged and counted like in every other hook.
    """


@hookspec
def register_inputs(hub: HubContext, register: Callable[[Input], None]) -> None:
    """Register the inputs (adapters) this plugin provides.

    Called once at startup, before the hub serves. Call ``register(component)`` for each input;
    the hub starts each with ``await component.start(hub)`` after the journal is open, reports
    ``component.health()`` in ``/ready`` and stops it with ``await component.stop()``.
    ``hub.config`` holds the validated configuration and ``hub.plugin_settings(name)`` the
    plugin's own table. Return value is ignored.
    """


@hookspec
def normalize(message: InboundMessage) -> Iterable[EventDraft] | None:
    """Turn one inbound message into zero or more events.

    Called for every message an input hands to ``hub.ingest``, for every plugin. Return the
    drafts this plugin recognises (``None`` or an empty list when the message is not for it).
    All drafts of one message are journaled atomically. Raise ``hub.inputs.RejectMessage``
    to reject the message with a specific reason the input reports to its sender.
    """


@hookspec
def event_journaled(event: Event) -> None:
    """Observe an event after it is durably journaled and before it is emitted.

    Called for every journaled event, in ``seq`` order, for every plugin. Keep it cheap: hand
    real work to your own task. Duplicates (a retried id) are not journaled again and not
    observed again. Return value is ignored.
    """


@hookspec
def authorize_room(principal: Principal, room: Room, hub: HubContext) -> RoomDecision | bool | None:
    """Decide whether ``principal`` may join or read ``room``.

    Called for every ``join_room`` and every ``GET /api/events``. Return ``True`` or
    ``RoomDecision(True)`` to allow, ``False`` or ``RoomDecision(False, reason)`` to deny,
    ``None`` for no opinion. Any deny wins over any allow; with no allow the room is denied.
    ``hub.census`` answers where a patient is. The default policy is the ``room_policy`` plugin.
    """
