"""The Journal protocol's write methods for backends that queue writes to one writer.

Every write becomes an item ``(kind, payload, future)`` the backend's writer takes into its
next transaction (group commit), resolving the future once that transaction has committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hub.events import Event
from hub.journal.base import Appended, AuditRecord, InputRecord, StoredInput


class QueuedWrites:
    def _submit(self, kind: str, payload: Any) -> asyncio.Future[Any]:
        raise NotImplementedError

    async def append(self, events: list[Event]) -> list[Appended]:
        result: list[Appended] = await self._submit("events", events)
        return result

    async def audit(self, record: AuditRecord) -> None:
        await self._submit("audit", record)

    async def store_input(
        self,
        source: str,
        dedupe_key: str | None,
        raw: bytes,
        received_at: str,
        status: str = "pending",
        error: str | None = None,
    ) -> StoredInput:
        result: StoredInput = await self._submit(
            "input", (source, dedupe_key, raw, received_at, status, error)
        )
        return result

    async def finish_input(
        self, input_id: int, status: str, reply: bytes | None, error: str | None
    ) -> None:
        await self._submit("input_done", (input_id, status, reply, error))

    async def accept_input(
        self, record: InputRecord, events: list[tuple[str, Event]]
    ) -> tuple[StoredInput, list[Appended]]:
        result: tuple[StoredInput, list[Appended]] = await self._submit("accept", (record, events))
        return result
