"""Plugin discovery and fault-isolated hook calls.

Plugins come from the ``clinical_hub.plugins`` entry-point group, first-party ones included.
``HUB_PLUGINS`` (comma-separated entry-point names) restricts which load, and the config's
``plugins.disabled`` list excludes some. A plugin that fails to import is reported, not fatal.
Hooks are called one implementation at a time so that one plugin raising cannot stop another.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy
from pydantic import ValidationError

from hub import hookspecs
from hub.config import ConfigError

log = logging.getLogger("hub.plugins")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    module: str
    version: str | None
    hooks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PluginFailure:
    name: str
    error: str


class _NamedError(Exception):
    def __init__(self, plugin: str, error: BaseException) -> None:
        super().__init__(plugin)
        self.plugin, self.error = plugin, error


class PluginFailed(Exception):
    """A plugin that raised in a hook (see ``call_each``)."""

    def __init__(self, plugin: str, error: str) -> None:
        super().__init__(f"{plugin}: {error}")
        self.plugin = plugin
        self.error = error


class PluginHost:
    def __init__(self, on_error: Callable[[str, str], None] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self._versions: dict[str, str | None] = {}
        self.on_error = on_error

    def load_entry_points(
        self, disabled: Iterable[str] = (), only: Iterable[str] | None = None
    ) -> None:
        """Load installed plugins; ``only`` (else ``HUB_PLUGINS``) limits them by name."""
        if only is None:
            only_env = os.environ.get("HUB_PLUGINS")
            only = {p.strip() for p in only_env.split(",") if p.strip()} if only_env else None
        only = set(only) if only is not None else None
        skip = set(disabled)
        for ep in entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            if ep.name in skip or (only is not None and ep.name not in only):
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
            except Exception as exc:
                self.failures.append(PluginFailure(ep.name, f"{type(exc).__name__}: {exc}"))
                log.error("plugin failed to load", extra={"plugin": ep.name, "error": str(exc)})
                continue
            self._versions[ep.name] = ep.dist.version if ep.dist else None

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object directly (tests, embedding)."""
        self.pm.register(plugin, name=name)

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)

    def call(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of ``hook``; a raising plugin is logged and skipped.

        Exceptions whose type is in ``passthrough`` (see ``call_strict``) are not caught here.
        """
        return [result for _, result in self._call(hook, kwargs, ())[0]]

    def configure(self, **kwargs: Any) -> None:
        """Call every ``configure`` hook; invalid settings stop the hub before it serves.

        A ``pydantic.ValidationError`` or ``ConfigError`` from a plugin becomes a
        ``ConfigError`` naming the plugin's keys (``plugins.settings.NAME.key: problem``), the
        same as the hub's own configuration; any other exception is isolated as usual.
        """
        try:
            self._call("configure", kwargs, (ValidationError, ConfigError), name_errors=True)
        except _NamedError as named:
            exc, plugin = named.error, named.plugin
            origin = f"plugins.settings.{plugin}"
            if isinstance(exc, ValidationError):
                lines = [f"invalid settings for plugin {plugin}:"]
                for item in exc.errors():
                    key = ".".join(str(p) for p in (origin, *item["loc"]))
                    text = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
                    lines.append(f"  {key}: {text}")
                raise ConfigError("\n".join(lines)) from exc
            raise ConfigError(f"invalid settings for plugin {plugin} ({origin}): {exc}") from exc

    def call_strict(
        self, hook: str, passthrough: tuple[type[BaseException], ...], **kwargs: Any
    ) -> list[Any]:
        """Like ``call``, but exceptions of the ``passthrough`` types reach the caller."""
        return [result for _, result in self._call(hook, kwargs, passthrough)[0]]

    def call_each(
        self, hook: str, passthrough: tuple[type[BaseException], ...], **kwargs: Any
    ) -> tuple[list[tuple[str, Any]], list[PluginFailed]]:
        """Like ``call_strict``, with each result's plugin name and the plugins that raised."""
        return self._call(hook, kwargs, passthrough)

    def _call(
        self,
        hook: str,
        kwargs: dict[str, Any],
        passthrough: tuple[type[BaseException], ...],
        name_errors: bool = False,
    ) -> tuple[list[tuple[str, Any]], list[PluginFailed]]:
        caller = getattr(self.pm.hook, hook)
        results: list[tuple[str, Any]] = []
        failed: list[PluginFailed] = []
        # pluggy calls implementations last-registered first; keep that order.
        for impl in reversed(caller.get_hookimpls()):
            args = {name: kwargs[name] for name in impl.argnames}
            try:
                result = impl.function(**args)
            except passthrough as exc:
                if name_errors:
                    raise _NamedError(impl.plugin_name, exc) from exc
                raise
            except Exception as exc:
                log.exception(
                    "plugin hook raised",
                    extra={"plugin": impl.plugin_name, "hook": hook, "error": type(exc).__name__},
                )
                if self.on_error is not None:
                    self.on_error(impl.plugin_name, hook)
                failed.append(PluginFailed(impl.plugin_name, type(exc).__name__))
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results, failed

    def list(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or []))
            module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
            infos.append(PluginInfo(name, module, self._versions.get(name), hooks))
        return sorted(infos, key=lambda i: i.name)
