"""Feed parsing and the feed_events plugin's judgement, in process (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import plugins.feeds as feed_events
from adapters.feeds.records import BedRecord, FeedBatch, FeedError, parse_csv, parse_json
from hub.inputs import InboundMessage, NormalizeFailed
from hub.testing import Pipeline


def test_csv_tolerates_bom_crlf_column_order_and_aliases() -> None:
    body = "\ufeffward,Status,bed\r\nICU,O,1\r\n\r\nICU,u,2\r\n".encode()
    one, two = parse_csv("beds", body)
    assert isinstance(one, BedRecord) and (one.unit, one.bed, one.status, one.row) == (
        "ICU",
        "1",
        "O",
        2,
    )
    assert isinstance(two, BedRecord) and (two.status, two.row) == ("u", 4)


@pytest.mark.parametrize(
    ("body", "row", "column"),
    [
        (b"staff_id,available\nS1,maybe\n", 2, "available"),
        (b"staff_id\nS1\n", 1, "available"),
        (b"staff_id,available\n,true\n", 2, "staff_id"),
        (b"", 1, None),
    ],
)
def test_csv_errors_name_row_and_column(body: bytes, row: int, column: str | None) -> None:
    with pytest.raises(FeedError) as caught:
        parse_csv("staff", body)
    assert (caught.value.status, caught.value.row, caught.value.column) == (422, row, column)


def test_json_shapes() -> None:
    [one], hospital = parse_json("beds", b'{"bed_id": "A", "status": "U"}')
    assert hospital is None and isinstance(one, BedRecord)
    records, hospital = parse_json(
        "beds", b'{"hospital": "H1", "beds": [{"bed": 1, "status": "C"}]}'
    )
    assert hospital == "H1" and records[0].bed == "1"  # type: ignore[union-attr]
    with pytest.raises(FeedError) as caught:
        parse_json("beds", b'[{"bed_id": "A", "status": "U", "updated_at": "soon"}]')
    assert (caught.value.row, caught.value.column) == (0, "updated_at")


def test_status_lookup_order() -> None:
    lookup = feed_events.status_lookup({"Dirty": "cleaning", "O": "closed"})
    assert lookup("dirty") == "cleaning"  # the source's map, case-insensitively
    assert lookup("O") == "closed"  # the source's map before table 0116
    assert lookup("k") == "contaminated" and lookup("Isolated") == "isolated"
    assert lookup("X") is None and lookup("vacant") is None


def _batch(*records: BedRecord) -> FeedBatch:
    return FeedBatch(kind="beds", source="t", form="update", records=list(records), hospital="H1")


def _bed(bed_id: str, status: str, hour: int | None = None) -> BedRecord:
    when = datetime(2026, 3, 10, hour, tzinfo=UTC) if hour is not None else None
    return BedRecord(0, bed_id, "U1", None, None, None, status, None, when)


async def test_newest_wins_even_before_the_census_is_written() -> None:
    async with Pipeline({"feed_events": feed_events}) as hub:
        newer = InboundMessage(kind="feed", source="feed:a", body=_batch(_bed("B1", "O", 12)))
        older = InboundMessage(kind="feed", source="feed:b", body=_batch(_bed("B1", "U", 11)))
        # both judged before either is journaled: the older one must still lose
        assert len((await hub.hub.normalize(newer)).drafts) == 1
        assert (await hub.hub.normalize(older)).drafts == []
        assert older.body.tally == {"events": 0, "unchanged": 0, "stale": 1, "conflicts": 1}


async def test_a_batch_is_judged_in_order_and_unknown_statuses_reject_it() -> None:
    async with Pipeline({"feed_events": feed_events}) as hub:
        batch = _batch(_bed("B2", "U", 9), _bed("B2", "U", 10), _bed("B2", "H", 8))
        events = await hub.feed(InboundMessage(kind="feed", source="feed:a", body=batch))
        assert [e.data["bed_info"]["status"] for e in events] == ["available"]
        assert batch.tally["unchanged"] == 1 and batch.tally["stale"] == 1
        bad = _batch(_bed("B3", "U"), _bed("B4", "nonsense"))
        with pytest.raises(NormalizeFailed) as caught:
            await hub.feed(InboundMessage(kind="feed", source="feed:a", body=bad))
        assert caught.value.code == "unknown_status" and bad.rejection == {
            "row": 0,
            "column": "status",
        }
