"""The HL7 tokenizer against two independent references on the same fixtures.

Structure (which text sits at SEG-field.component.subcomponent, repetition n) is compared with
hl7apy's full parse; escape decoding with python-hl7's ``unescape``. Fields and escapes follow
../shared/design/clinical-reference.md §1.1-1.2 and integration-engines.md §9.4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7.message import Hl7Error, parse

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.hl7"))

# (segment, field, component, subcomponent, repetition) the hub reads for routing and
# normalization (clinical-reference §1.2-1.8)
PATHS = [
    ("MSH", 3, 1, 1, 1),
    ("MSH", 4, 1, 1, 1),
    ("MSH", 7, 1, 1, 1),
    ("MSH", 9, 1, 1, 1),
    ("MSH", 9, 2, 1, 1),
    ("MSH", 9, 3, 1, 1),
    ("MSH", 10, 1, 1, 1),
    ("MSH", 11, 1, 1, 1),
    ("MSH", 12, 1, 1, 1),
    ("MSH", 15, 1, 1, 1),
    ("MSH", 16, 1, 1, 1),
    ("MSH", 18, 1, 1, 1),
    ("EVN", 2, 1, 1, 1),
    ("EVN", 5, 1, 1, 1),
    ("EVN", 6, 1, 1, 1),
    ("PID", 3, 1, 1, 1),
    ("PID", 3, 4, 1, 1),
    ("PID", 3, 5, 1, 1),
    ("PID", 3, 1, 1, 2),
    ("PID", 3, 4, 1, 2),
    ("PID", 3, 5, 1, 2),
    ("PID", 5, 1, 1, 1),
    ("PID", 5, 2, 1, 1),
    ("PID", 7, 1, 1, 1),
    ("PID", 8, 1, 1, 1),
    ("PV1", 2, 1, 1, 1),
    ("PV1", 3, 1, 1, 1),
    ("PV1", 3, 2, 1, 1),
    ("PV1", 3, 3, 1, 1),
    ("PV1", 3, 4, 1, 1),
    ("PV1", 3, 4, 2, 1),
    ("PV1", 3, 4, 3, 1),
    ("PV1", 6, 1, 1, 1),
    ("PV1", 19, 1, 1, 1),
    ("PV1", 19, 4, 1, 1),
    ("PV1", 44, 1, 1, 1),
    ("NPU", 1, 1, 1, 1),
    ("NPU", 1, 2, 1, 1),
    ("NPU", 1, 3, 1, 1),
    ("NPU", 1, 4, 1, 1),
    ("NPU", 2, 1, 1, 1),
    ("STF", 2, 1, 1, 1),
    ("STF", 2, 4, 1, 1),
    ("STF", 4, 1, 1, 1),
    ("STF", 7, 1, 1, 1),
]


def _child(node: Any, n: int) -> Any:
    """hl7apy names composite parts TYPE_n; a primitive part is one child named by its type."""
    kids = list(node.children or [])
    numbered = [c for c in kids if c.name and c.name.rsplit("_", 1)[-1].isdigit()]
    if not numbered:
        return (kids[0] if kids else node) if n == 1 else None
    found = [c for c in numbered if c.name.rsplit("_", 1)[-1] == str(n)]
    return found[0] if found else None


def reference_value(msg: Any, path: tuple[str, int, int, int, int]) -> str | None:
    """What hl7apy holds at a path, as sent (hl7apy does not decode escapes)."""
    name, field, comp, sub, rep = path
    segments = [c for c in msg.children if c.name == name]
    if not segments:
        return None
    reps = [c for c in segments[0].children if c.name == f"{name}_{field}"]
    if rep > len(reps):
        return None
    node = reps[rep - 1]
    for index in (comp, sub):
        node = _child(node, index)
        if node is None:
            return None
    return node.to_er7() or None


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_extracted_values_equal_hl7apy(fixture: Path) -> None:
    raw = fixture.read_bytes()
    ours = parse(raw)
    text = raw.decode(ours.codec)
    reference = parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT)
    compared = 0
    for path in PATHS:
        name, field, comp, sub, rep = path
        if ours.segment(name) is None:
            continue
        expected = reference_value(reference, path)
        got = ours.raw_value(ours.segment(name), field, comp, sub, rep)
        if got is not None and "\\X" in got:
            # hl7apy keeps \Xhh\ as literal text and re-escapes its backslashes on output
            expected = (expected or "").replace("\\E\\", "\\")
        assert got == expected, f"{fixture.stem} {name}-{field}.{comp}.{sub} rep {rep}"
        compared += 1
    assert compared >= 12


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_unescaped_values_equal_python_hl7(fixture: Path) -> None:
    raw = fixture.read_bytes()
    ours = parse(raw)
    reference = hl7.parse(raw.decode(ours.codec))
    for path in PATHS:
        name, field, comp, sub, rep = path
        if name == "MSH" or ours.segment(name) is None:
            continue
        escaped = ours.raw_value(ours.segment(name), field, comp, sub, rep)
        if escaped is None or "\\" not in escaped or "\\X" in escaped:
            continue  # python-hl7 leaves \\Xhh\\ as it is; checked separately below
        assert ours.value(name, field, comp, sub, rep) == reference.unescape(escaped)


def test_escapes_and_charsets() -> None:
    a04 = parse((Path(__file__).parent / "fixtures" / "adt_a04_v27.hl7").read_bytes())
    assert a04.codec == "utf-8"
    assert a04.value("PID", 5, 1) == "M\\ller"
    assert a04.value("PID", 5, 2) == "José"  # \\XC3A9\\ in UTF-8
    assert a04.value("EVN", 5) == "nurse7&ed"
    assert a04.value("NTE", 3) == "Line one\nLine two bold and | pipe"
    latin = parse((Path(__file__).parent / "fixtures" / "adt_a08_latin1.hl7").read_bytes())
    assert latin.codec == "iso8859-1"
    assert latin.value("PID", 5, 1) == "Lefèvre" and latin.value("MSH", 4) == "HÔPITAL"


def test_versions_and_header() -> None:
    v23 = parse((Path(__file__).parent / "fixtures" / "adt_a01_v23.hl7").read_bytes())
    assert (v23.message_code, v23.trigger, v23.structure, v23.version) == (
        "ADT",
        "A01",
        None,
        "2.3",
    )
    assert not v23.enhanced_mode
    v28 = parse((Path(__file__).parent / "fixtures" / "adt_a20_v28.hl7").read_bytes())
    assert v28.structure == "ADT_A20" and v28.enhanced_mode
    assert (v28.accept_ack_type, v28.application_ack_type) == ("AL", "NE")


@pytest.mark.parametrize("segment_end", ["\r", "\n", "\r\n"])
def test_segment_endings_are_all_accepted(segment_end: str) -> None:
    text = segment_end.join(["MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.5.1", "PID|||P1"])
    assert parse(text.encode()).value("PID", 3) == "P1"


def test_custom_separators() -> None:
    msg = parse(b"MSH*:+!%*APP*FAC*R*F*2026**ADT:A08*C9*P*2.4\rPID***ID1:::AUTH+ID2\r")
    assert msg.value("PID", 3, 1) == "ID1" and msg.value("PID", 3, 4) == "AUTH"
    assert msg.value("PID", 3, 1, repetition=2) == "ID2"


@pytest.mark.parametrize(
    ("raw", "code", "location"),
    [
        (b"PID|||1\r", "100", "MSH^1"),
        (b"MSH|^~\\&|A|B\r", "101", "MSH^1^9"),
        (b"MSH|^~\\&|A|B|C|D|2026||ADT^A01||P|2.5\r", "101", "MSH^1^10"),
        (b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|X|P\r", "101", "MSH^1^12"),
        (b"MSH|^^^^|A\r", "102", "MSH^1^2"),
        (b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|X|P|2.5||||||KLINGON\r", "103", "MSH^1^18"),
        (b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|X|P|2.5\rpid|||1\r", "100", "pid^2"),
        (b"MSH|^~\\&|A|B|C|D|2026||ADT^A01|X|P|2.5\rPID|||M\xfcller\r", "102", "MSH^1^18"),
    ],
)
def test_unacceptable_messages_say_why(raw: bytes, code: str, location: str) -> None:
    with pytest.raises(Hl7Error) as err:
        parse(raw)
    assert (err.value.code, err.value.location) == (code, location)
