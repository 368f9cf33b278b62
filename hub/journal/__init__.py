"""Durable event storage: the journal contract and its backends."""

from hub.journal.base import Appended, AuditRecord, Journal, ReplayPage
from hub.journal.sqlite import SQLiteJournal

__all__ = ["Appended", "AuditRecord", "Journal", "ReplayPage", "SQLiteJournal"]
