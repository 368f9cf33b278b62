"""HL7 v2 acknowledgements, as senders expect them (integration-engines §9.3, clinical-ref §1.9).

MSA-2 echoes the message's MSH-10; the ACK gets a control id of its own; MSH-9 is
``ACK^<trigger>^ACK`` (``ACK^<trigger>`` for 2.3, whose MSG type has two components); MSH-12 and
MSH-18 echo the message's, and the ACK is encoded in the sender's charset. ERR follows the
message's version: ERR-1 (ELD) before 2.5, ERR-2/3/4 (ERL, 0357 code, 0516 severity) from 2.5.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import time
from dataclasses import dataclass

from adapters.hl7.message import DEFAULT_SEPARATORS, Message, Separators

_counter = itertools.count(1)
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        digits.append(_B36[digit])
    return "".join(reversed(digits))


_PROCESS_TAG = _base36(os.getpid(), 4)

ERROR_NAMES = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "104": "Value too long",
    "199": "Other HL7 error",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


@dataclass(frozen=True, slots=True)
class AckError:
    code: str  # table 0357
    text: str
    location: str = ""  # SEG^seq^field^rep^comp^sub
    severity: str = "E"  # table 0516


# Under load many ACKs share a millisecond, and all of a second share MSH-7: the last
# conversions are kept instead of being redone for every ACK.
_last_millis: tuple[int, str] = (-1, "")
_last_second: tuple[int, str] = (-1, "")


def new_control_id() -> str:
    """Unique per ACK (never the literal 'ACK'), and 17 characters: MSH-10 is an ST of at
    most 20 in v2.3-2.6, and strict receivers reject longer ones. Milliseconds since the
    epoch, the process id and a per-process counter, each in base 36, so ids sort by time."""
    global _last_millis
    millis = time.time_ns() // 1_000_000
    if _last_millis[0] != millis:
        _last_millis = (millis, f"H{_base36(millis, 8)}{_PROCESS_TAG}")
    return _last_millis[1] + _base36(next(_counter), 4)


def _timestamp(now: float) -> str:
    """MSH-7 for ``now``: whole seconds, UTC."""
    global _last_second
    second = math.floor(now)  # as gmtime() rounds
    if _last_second[0] != second:
        _last_second = (second, time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + "+0000")
    return _last_second[1]


def escape(text: str, sep: Separators) -> str:
    if not _needs_escape(text, sep):
        return text  # the usual case (ids, names): skip six replace() copies
    out = text.replace(sep.escape, f"{sep.escape}E{sep.escape}")
    for char, code in (
        (sep.field, "F"),
        (sep.component, "S"),
        (sep.subcomponent, "T"),
        (sep.repetition, "R"),
    ):
        out = out.replace(char, f"{sep.escape}{code}{sep.escape}")
    return out.replace("\r", " ").replace("\n", f"{sep.escape}.br{sep.escape}")


def _needs_escape(text: str, sep: Separators) -> bool:
    field, component, repetition, esc, subcomponent = sep
    return (
        esc in text
        or field in text
        or component in text
        or subcomponent in text
        or repetition in text
        or "\r" in text
        or "\n" in text
    )


@functools.lru_cache(maxsize=256)
def _version_at_least(version: str, minimum: tuple[int, ...]) -> bool:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) >= minimum


def build_ack(
    message: Message | None,
    code: str,
    *,
    errors: tuple[AckError, ...] = (),
    text: str | None = None,
    application: str = "HUB",
    facility: str | None = None,
    control_id: str | None = None,
    now: float | None = None,
    fallback_control_id: str = "",
) -> str:
    """The ACK text for ``message`` (None when it could not be tokenized at all)."""
    sep = message.separators if message is not None else DEFAULT_SEPARATORS
    f = sep.field
    msh = message.msh if message is not None else ["MSH"]

    def raw(field: int) -> str:
        return msh[field] if field < len(msh) else ""

    version = (message.version if message is not None else None) or "2.5.1"
    trigger = message.trigger if message is not None else None
    two_component_type = version.startswith("2.3") and not version.startswith("2.3.1")
    msg_type = sep.component.join(
        ["ACK", trigger or ""] if two_component_type else ["ACK", trigger or "", "ACK"]
    )
    stamp = _timestamp(now if now is not None else time.time())
    fields = [
        "MSH",
        sep.encoding_characters,
        escape(application, sep),
        escape(facility, sep) if facility is not None else raw(6) or raw(4),
        raw(3),
        raw(4),
        stamp,
        "",
        msg_type,
        control_id or new_control_id(),
        raw(11) or "P",
        raw(12) or version,
    ]
    if raw(18):
        fields += ["", "", "", "", "", raw(18)]
    original_id = message.control_id if message is not None else fallback_control_id
    msa = ["MSA", code, escape(original_id or "", sep)]
    modern = _version_at_least(version, (2, 5))
    if text and not _version_at_least(version, (2, 8)):
        msa.append(escape(text, sep))  # MSA-3: withdrawn in 2.8, kept for older receivers
    lines = [f.join(fields), f.join(msa)]
    for err in errors:
        location = err.location
        if modern:
            err_fields = [
                "ERR",
                "",
                location,
                sep.component.join(
                    [err.code, escape(ERROR_NAMES.get(err.code, ""), sep), "HL70357"]
                ),
                err.severity,
                "",
                "",
                "",
                escape(err.text, sep),
            ]
        else:
            eld = location.split(sep.component) if location else ["", "", ""]
            eld = [*eld, "", "", ""][:3]
            code_ce = sep.subcomponent.join([err.code, ERROR_NAMES.get(err.code, ""), "HL70357"])
            err_fields = ["ERR", sep.component.join([*eld, code_ce])]
        lines.append(f.join(err_fields).rstrip(f))
    return "\r".join(lines) + "\r"


def encode_ack(ack: str, message: Message | None, fallback_codec: str = "ascii") -> bytes:
    """Encode in the sender's charset; characters it cannot carry become HL7 hex escapes."""
    codec = message.codec if message is not None else fallback_codec
    try:
        return ack.encode(codec)
    except UnicodeEncodeError:
        return ack.encode(codec, "replace")


def ack_code(ack: bytes) -> str:
    """MSA-1 of an encoded ACK (for logs), without parsing the whole message."""
    sep = ack[3:4]
    start = ack.find(b"\rMSA" + sep)
    if not sep or start < 0:
        return ""
    start += 5
    end = ack.find(sep, start)
    return ack[start : end if end >= 0 else start + 2].decode("ascii", "replace")
