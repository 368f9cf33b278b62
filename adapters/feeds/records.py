"""Parsing feed bodies (JSON or CSV) into typed records; no clinical meaning is applied here.

Records keep what the sender said (a status code stays a code); the ``feed_events`` plugin maps
and judges them. A body that cannot be read raises ``FeedError`` naming the row and column, so
the sender can fix the one cell that is wrong.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

Kind = Literal["beds", "staff"]
Form = Literal["update", "snapshot", "poll"]

BED_COLUMNS = ("bed_id", "unit", "room", "bed", "hospital", "status", "patient_id", "updated_at")
STAFF_COLUMNS = ("staff_id", "staff_type", "available", "unit", "hospital", "updated_at")
# Spellings senders use for the same column; the documented name comes first.
_ALIASES = {"patient": "patient_id", "hospital_id": "hospital", "ward": "unit"}
_TRUE = frozenset({"true", "1", "yes", "y", "on", "on_duty", "available"})
_FALSE = frozenset({"false", "0", "no", "n", "off", "off_duty", "unavailable"})


class FeedError(Exception):
    """A body the adapter cannot read; ``detail`` is safe to tell the sender."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.row, self.column = (
            status,
            code,
            detail,
            row,
            column,
        )

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "detail": self.detail}
        if self.row is not None:
            out["row"] = self.row
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass(frozen=True, slots=True)
class BedRecord:
    row: int  # CSV line number (header = 1) or JSON list index, for error messages
    bed_id: str | None
    unit: str | None
    room: str | None
    bed: str | None
    hospital: str | None
    status: str
    patient_id: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class StaffRecord:
    row: int
    staff_id: str
    staff_type: str | None
    available: bool
    unit: str | None
    hospital: str | None
    updated_at: datetime | None


Record = BedRecord | StaffRecord


@dataclass(slots=True)
class FeedBatch:
    """``InboundMessage.body`` for kind ``feed``: one request's (or poll's) records.

    ``tally`` and ``rejection`` are filled by the normalizing plugin so the adapter can tell
    the sender what happened (events, stale, unchanged) without a second pass.
    """

    kind: Kind
    source: str
    form: Form
    records: list[Any]
    hospital: str | None = None
    status_map: dict[str, str] = field(default_factory=dict)
    staff_type_map: dict[str, str] = field(default_factory=dict)
    tally: dict[str, int] = field(default_factory=dict)
    rejection: dict[str, Any] | None = None


def _text(value: Any, row: int, column: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FeedError(422, "invalid_value", f"row {row}, {column}: expected text", row, column)
    text = str(value).strip()
    return text or None


def _time(value: Any, row: int) -> datetime | None:
    text = _text(value, row, "updated_at")
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise FeedError(
            422,
            "invalid_value",
            f"row {row}, updated_at: {text!r} is not an ISO 8601 date-time",
            row,
            "updated_at",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _bool(value: Any, row: int) -> bool:
    if isinstance(value, bool):
        return value
    text = (_text(value, row, "available") or "").lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FeedError(
        422,
        "invalid_value",
        f"row {row}, available: {value!r} is not true/false (also 1/0, yes/no, on/off)",
        row,
        "available",
    )


def _required(value: str | None, row: int, column: str, why: str = "") -> str:
    if value is None:
        raise FeedError(422, "missing_value", f"row {row}, {column}: empty{why}", row, column)
    return value


def record(kind: Kind, fields: dict[str, Any], row: int) -> Record:
    """One record from a mapping of column (or JSON key) to value."""
    get = {(_ALIASES.get(k, k) if isinstance(k, str) else k): v for k, v in fields.items()}
    if kind == "beds":
        bed_id = _text(get.get("bed_id"), row, "bed_id")
        bed = _text(get.get("bed"), row, "bed")
        if bed_id is None and bed is None:
            raise FeedError(
                422, "missing_value", f"row {row}, bed_id: empty (and no bed)", row, "bed_id"
            )
        return BedRecord(
            row=row,
            bed_id=bed_id,
            unit=_text(get.get("unit"), row, "unit"),
            room=_text(get.get("room"), row, "room"),
            bed=bed,
            hospital=_text(get.get("hospital"), row, "hospital"),
            status=_required(_text(get.get("status"), row, "status"), row, "status"),
            patient_id=_text(get.get("patient_id"), row, "patient_id"),
            updated_at=_time(get.get("updated_at"), row),
        )
    if get.get("available") is None or get.get("available") == "":
        raise FeedError(422, "missing_value", f"row {row}, available: empty", row, "available")
    return StaffRecord(
        row=row,
        staff_id=_required(_text(get.get("staff_id"), row, "staff_id"), row, "staff_id"),
        staff_type=_text(get.get("staff_type"), row, "staff_type"),
        available=_bool(get.get("available"), row),
        unit=_text(get.get("unit"), row, "unit"),
        hospital=_text(get.get("hospital"), row, "hospital"),
        updated_at=_time(get.get("updated_at"), row),
    )


def parse_json(kind: Kind, body: bytes) -> tuple[list[Record], str | None]:
    """Records and the body's own default hospital from one record, a list of records, or an
    object ``{"hospital": ..., "beds"|"staff"|"records": [...]}``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    hospital = None
    if isinstance(data, dict) and isinstance(data.get(kind, data.get("records")), list):
        hospital = _text(data.get("hospital") or data.get("hospital_id"), 0, "hospital")
        data = data.get(kind, data.get("records"))
    items = data if isinstance(data, list) else [data]
    out: list[Record] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise FeedError(422, "invalid_record", f"row {index}: expected a JSON object", index)
        out.append(record(kind, item, index))
    return out, hospital


def parse_csv(kind: Kind, body: bytes) -> list[Record]:
    """Records from CSV with a header row; column order is free, BOM and CRLF are tolerated."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(400, "invalid_csv", f"CSV must be UTF-8: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise FeedError(422, "invalid_csv", "empty CSV: expected a header row", 1) from None
    columns = [_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    needed = ("status",) if kind == "beds" else ("staff_id", "available")
    for name in needed:
        if name not in columns:
            raise FeedError(422, "missing_column", f"row 1 (header): no {name} column", 1, name)
    if kind == "beds" and "bed_id" not in columns and "bed" not in columns:
        raise FeedError(
            422, "missing_column", "row 1 (header): no bed_id (or bed) column", 1, "bed_id"
        )
    out: list[Record] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines, e.g. a trailing CRLF
            if len(values) > len(columns):
                raise FeedError(
                    422,
                    "invalid_csv",
                    f"row {line}: {len(values)} cells but {len(columns)} columns",
                    line,
                )
            out.append(record(kind, dict(zip(columns, values, strict=False)), line))
    except csv.Error as exc:
        raise FeedError(
            422, "invalid_csv", f"row {reader.line_num}: {exc}", reader.line_num
        ) from None
    return out
