"""Durable event storage: the journal contract and its backends."""

from hub.journal.base import Appended, AuditRecord, InputRecord, Journal, ReplayPage, StoredInput
from hub.journal.sqlite import SQLiteJournal

__all__ = [
    "Appended",
    "AuditRecord",
    "InputRecord",
    "Journal",
    "ReplayPage",
    "SQLiteJournal",
    "StoredInput",
]
