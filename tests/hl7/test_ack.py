"""ACKs as senders expect them (integration-engines §9.3, clinical-reference §1.9)."""

from __future__ import annotations

from pathlib import Path

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7.ack import AckError, build_ack, encode_ack
from adapters.hl7.message import parse

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_original_mode_aa_matches_the_reference_example() -> None:
    msg = parse(fixture("adt_a02_v251.hl7"))
    ack = parse(build_ack(msg, "AA", control_id="HUB000001", now=0).encode())
    # clinical-reference §8: MSH|^~\&|HUB|HOSP|PAS|HOSP|...||ACK^A02^ACK|HUB000001|P|2.5.1
    assert [ack.value("MSH", n) for n in (3, 4, 5, 6)] == ["HUB", "HOSP", "PAS", "HOSP"]
    assert ack.raw_field(ack.msh, 9) == "ACK^A02^ACK"
    assert (ack.control_id, ack.processing_id, ack.version) == ("HUB000001", "P", "2.5.1")
    assert ack.value("MSA", 1) == "AA" and ack.value("MSA", 2) == "MSG00002"
    assert ack.segment("ERR") is None
    # a standards parser reads it as an ACK
    ref = parse_message(
        build_ack(msg, "AA"), find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT
    )
    assert ref.msa.msa_2.to_er7() == "MSG00002"


def test_each_ack_has_its_own_control_id() -> None:
    msg = parse(fixture("adt_a02_v251.hl7"))
    ids = {parse(build_ack(msg, "AA").encode()).control_id for _ in range(1000)}
    # MSH-10 is an ST of at most 20 characters in HL7 v2.3-2.6 (chapter 2, MSH segment)
    assert all(i is not None and len(i) <= 20 for i in ids)
    assert len(ids) == 1000 and "MSG00002" not in ids


def test_ae_with_err_v25_fields() -> None:
    msg = parse(fixture("adt_a02_v251.hl7"))
    text = build_ack(
        msg,
        "AE",
        errors=(AckError("101", "PID-3 | patient id missing", "PID^1^3"),),
        text="PID-3 missing",
    )
    ack = parse(text.encode())
    err = ack.segment("ERR")
    assert ack.value("MSA", 1) == "AE"
    assert ack.raw_field(err, 2) == "PID^1^3"  # ERR-2 error location
    assert ack.value_of(err, 3, 1) == "101" and ack.value_of(err, 3, 3) == "HL70357"
    assert ack.value_of(err, 4) == "E"  # ERR-4 severity, table 0516
    assert ack.value_of(err, 8) == "PID-3 | patient id missing"  # escaped on the wire
    assert "\\F\\" in text


def test_ar_in_v23_uses_err_1_and_two_component_type() -> None:
    msg = parse(fixture("adt_a01_v23.hl7"))
    ack = parse(
        build_ack(
            msg, "AR", errors=(AckError("203", "version 2.3 not accepted", "MSH^1^12"),)
        ).encode()
    )
    assert ack.raw_field(ack.msh, 9) == "ACK^A01"
    err = ack.segment("ERR")
    assert [ack.value_of(err, 1, c) for c in (1, 2, 3)] == ["MSH", "1", "12"]
    assert ack.value_of(err, 1, 4, 1) == "203"
    assert ack.value("MSA", 2) == "CNTRL-3456"


def test_v28_omits_msa_3_and_echoes_charset() -> None:
    msg = parse(fixture("adt_a20_v28.hl7"))
    ack = parse(build_ack(msg, "CA", text="stored").encode())
    assert ack.value("MSA", 1) == "CA" and ack.value("MSA", 3) is None
    assert ack.value("MSH", 18) == "UNICODE UTF-8" and ack.version == "2.8"


def test_ack_is_encoded_in_the_senders_charset() -> None:
    msg = parse(fixture("adt_a08_latin1.hl7"))
    wire = encode_ack(build_ack(msg, "AE", text="nom réservé"), msg)
    assert "nom réservé".encode("latin-1") in wire
    assert b"8859/1" in wire and b"H\xd4PITAL" in wire


def test_nak_for_a_message_that_could_not_be_read() -> None:
    ack = parse(
        build_ack(None, "AE", errors=(AckError("100", "no MSH segment", "MSH^1"),)).encode()
    )
    assert ack.value("MSA", 1) == "AE" and ack.value("MSA", 2) is None
    assert ack.value_of(ack.segment("ERR"), 3, 1) == "100"
