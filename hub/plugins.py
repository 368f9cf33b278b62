"""Plugin discovery and fault-isolated hook calls.

Plugins come from the ``clinical_hub.plugins`` entry-point group, first-party ones included.
``HUB_PLUGINS`` (comma-separated entry-point names) restricts which load, and the config's
``plugins.disabled`` list excludes some. A plugin that fails to import is reported, not fatal.
Hooks are called one implementation at a time so that one plugin raising cannot stop another.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy
from pydantic import ValidationError

from hub import hookspecs
from hub.config import ConfigError

log = logging.getLogger("hub.plugins")

OWN_DIST = "clinical-integration-hub"
# hooks whose result nobody waits for: an isolated plugin's calls are queued to its thread
OBSERVER_HOOKS = frozenset({"event_journaled"})
MAX_PENDING = 10_000


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
        self._dists: dict[str, str] = {}
        self.on_error = on_error
        # Plugins whose normalize/event_journaled run in a thread of their own with a time
        # limit, so one that hangs cannot stop the event loop (see isolate()).
        self.isolated: set[str] = set()
        self.hung: set[str] = set()
        self.hook_timeout_s = 5.0
        self.on_hung: Callable[[str, str], None] | None = None
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._pending: dict[str, int] = {}
        self._pending_lock = threading.Lock()  # counted on the loop, uncounted in workers

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
            if ep.dist is not None:
                self._dists[ep.name] = ep.dist.name

    def apply_isolation(self, mode: str) -> None:
        """``third-party``: isolate plugins not shipped with the hub; ``all``; ``none``."""
        for name, _ in self.pm.list_name_plugin():
            dist = self._dists.get(name)
            if mode == "all" or (mode == "third-party" and dist is not None and dist != OWN_DIST):
                self.isolate(name)

    def isolate(self, name: str) -> None:
        """Run this plugin's normalize and event_journaled off the event loop, time-limited."""
        self.isolated.add(name)
        self._executors.setdefault(
            name, ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"plugin-{name}")
        )

    def shutdown(self) -> None:
        for executor in self._executors.values():
            # a hung plugin's thread cannot be joined; do not wait for it
            executor.shutdown(wait=False, cancel_futures=True)

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

    async def call_each_async(
        self, hook: str, passthrough: tuple[type[BaseException], ...], **kwargs: Any
    ) -> tuple[list[tuple[str, Any]], list[PluginFailed]]:
        """``call_each`` where isolated plugins run in their own thread with a time limit: one
        that does not answer in ``hook_timeout_s`` is counted as failed for this call and, as
        it is presumably stuck, skipped from then on (``hung``) until the hub restarts."""
        caller = getattr(self.pm.hook, hook)
        results: list[tuple[str, Any]] = []
        failed: list[PluginFailed] = []
        loop = asyncio.get_running_loop()
        for impl in reversed(caller.get_hookimpls()):
            name = impl.plugin_name
            if name in self.hung:
                failed.append(PluginFailed(name, "hung"))
                continue
            args = {arg: kwargs[arg] for arg in impl.argnames}
            try:
                if name in self.isolated:
                    call = functools.partial(impl.function, **args)
                    result = await asyncio.wait_for(
                        loop.run_in_executor(self._executors[name], call), self.hook_timeout_s
                    )
                else:
                    result = impl.function(**args)
            except passthrough:
                raise
            except TimeoutError:
                self._mark_hung(name, hook)
                failed.append(PluginFailed(name, f"no answer in {self.hook_timeout_s:g} s"))
                continue
            except Exception as exc:
                failed.append(self._failed(name, hook, exc))
                continue
            if result is not None:
                results.append((name, result))
        return results, failed

    def _mark_hung(self, name: str, hook: str) -> None:
        self.hung.add(name)
        log.error("plugin hung; skipped until restart", extra={"plugin": name, "hook": hook})
        if self.on_error is not None:
            self.on_error(name, hook)
        if self.on_hung is not None:
            self.on_hung(name, hook)

    def _failed(self, name: str, hook: str, exc: Exception) -> PluginFailed:
        log.error(
            "plugin hook raised",
            exc_info=exc,
            extra={"plugin": name, "hook": hook, "error": type(exc).__name__},
        )
        if self.on_error is not None:
            self.on_error(name, hook)
        return PluginFailed(name, type(exc).__name__)

    def _submit(
        self, name: str, hook: str, function: Callable[..., Any], args: dict[str, Any]
    ) -> None:
        """Fire-and-forget for an isolated plugin's observer hook; a backlog means it hangs."""
        with self._pending_lock:
            backlog = self._pending.get(name, 0)
            if backlog < MAX_PENDING:
                self._pending[name] = backlog + 1
        if backlog >= MAX_PENDING:
            self._mark_hung(name, hook)
            return

        def run() -> None:
            try:
                function(**args)
            except Exception as exc:
                self._failed(name, hook, exc)
            finally:
                with self._pending_lock:
                    self._pending[name] -= 1

        self._executors[name].submit(run)

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
            name = impl.plugin_name
            if name in self.hung:
                continue
            args = {arg: kwargs[arg] for arg in impl.argnames}
            if hook in OBSERVER_HOOKS and name in self.isolated:
                self._submit(name, hook, impl.function, args)
                continue
            try:
                result = impl.function(**args)
            except passthrough as exc:
                if name_errors:
                    raise _NamedError(name, exc) from exc
                raise
            except Exception as exc:
                failed.append(self._failed(name, hook, exc))
                continue
            if result is not None:
                results.append((name, result))
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
