"""A fast HL7 v2 tokenizer: the message's own separators, its charset, escapes decoded on read.

A full hl7apy parse costs 15-25 ms per ADT message; the hub needs a few dozen fields, so it
splits segments and fields once (cheap ``str.split``) and decodes components, repetitions,
sub-components and escapes only for the values asked for. ``tests/hl7`` checks every extracted
value against hl7apy on the same fixtures.

Field numbering follows the standard for every segment, MSH included: ``MSH-1`` is the field
separator itself and ``MSH-2`` the encoding characters (the raw split is shifted by one for MSH).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import NamedTuple

# HL7 table 0211 -> Python codec (clinical-reference §9.4 / integration-engines §9.4).
CHARSETS = {
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "ISO IR14": "shift_jis",
    "ISO IR87": "iso2022_jp",
    "ISO IR159": "iso2022_jp_2",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc_kr",
    "CNS 11643-1992": "big5",
    "BIG-5": "big5",
    "UNICODE": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
}


class Hl7Error(Exception):
    """A message the hub cannot accept, with its HL7 table 0357 code and location."""

    def __init__(
        self, text: str, code: str = "207", location: str = "", severity: str = "E"
    ) -> None:
        super().__init__(text)
        self.text = text
        self.code = code  # table 0357
        self.location = location  # ERL: SEG^seq^field^rep^comp^sub
        self.severity = severity  # table 0516


class Separators(NamedTuple):
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent


DEFAULT_SEPARATORS = Separators()
_SEGMENT_SPLIT = re.compile(r"\r\n|\r|\n")
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_VALID_IDS: set[str] = set()  # ids seen valid; at most 26 * 36 * 36 of them


def _valid_segment_id(name: str) -> bool:
    if _SEGMENT_ID.match(name) is None:
        return False
    _VALID_IDS.add(name)
    return True


def _nth(text: str, sep: str, n: int) -> str | None:
    """The n-th (1-based) piece of ``text`` split on ``sep``, None when there are fewer.

    Equal to ``text.split(sep)[n - 1]``; the first piece, the one nearly always asked for, is
    cut out without building the list.
    """
    if n == 1:
        end = text.find(sep)
        return text if end < 0 else text[:end]
    parts = text.split(sep)
    return parts[n - 1] if n <= len(parts) else None


def codec_for(charset_field: str | None, default: str) -> str:
    """The Python codec for an MSH-18 value (first repetition); unknown values raise Hl7Error."""
    if not charset_field:
        return default
    name = charset_field.strip().upper()
    codec = CHARSETS.get(name)
    if codec is None:
        raise Hl7Error(f"unsupported character set {charset_field!r} in MSH-18", "103", "MSH^1^18")
    return codec


def _sniff_charset(raw: bytes, default: str) -> str:
    """Read MSH-18 from the raw bytes: MSH-1, MSH-2 and MSH-18 are ASCII by definition."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    start = raw.find(b"MSH")
    if start == -1 or len(raw) < start + 4:
        return default
    sep = raw[start + 3 : start + 4]
    end = len(raw)
    for terminator in (b"\r", b"\n"):
        pos = raw.find(terminator, start)
        if pos != -1:
            end = min(end, pos)
    fields = raw[start:end].split(sep)
    # fields[0] = "MSH", fields[1] = encoding characters = MSH-2, so MSH-n is fields[n - 1]
    if len(fields) < 18:
        return default
    value = fields[17].decode("ascii", "replace")
    rep = fields[1][1:2].decode("ascii", "replace") if len(fields[1]) > 1 else "~"
    return codec_for(value.split(rep)[0] if rep else value, default)


@dataclass(slots=True)
class Message:
    separators: Separators
    codec: str
    segments: list[list[str]]  # fields still escaped; index n is field n (MSH included)
    _header_cache: dict[int, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # --- access -----------------------------------------------------------------------------

    def segment(self, name: str, occurrence: int = 0) -> list[str] | None:
        if name == "MSH" and occurrence == 0:
            return self.segments[0]  # parse() guarantees it comes first
        seen = 0
        for seg in self.segments:
            if seg[0] == name:
                if seen == occurrence:
                    return seg
                seen += 1
        return None

    def all(self, name: str) -> list[list[str]]:
        return [seg for seg in self.segments if seg[0] == name]

    def raw_field(self, seg: list[str] | None, field: int) -> str:
        if seg is None or field >= len(seg):
            return ""
        return seg[field]

    def value(
        self,
        name: str,
        field: int,
        component: int = 1,
        subcomponent: int = 1,
        repetition: int = 1,
        occurrence: int = 0,
    ) -> str | None:
        """One decoded value (1-based positions, as in PID-3.4.2); None when absent or empty."""
        return self.value_of(
            self.segment(name, occurrence), field, component, subcomponent, repetition
        )

    def value_of(
        self,
        seg: list[str] | None,
        field: int,
        component: int = 1,
        subcomponent: int = 1,
        repetition: int = 1,
    ) -> str | None:
        raw = self.raw_value(seg, field, component, subcomponent, repetition)
        if raw is None or (field <= 2 and seg is not None and seg[0] == "MSH"):
            return raw  # MSH-1 and MSH-2 are the separators themselves, never escaped
        return self.unescape(raw) if self.separators[3] in raw else raw

    def raw_value(
        self,
        seg: list[str] | None,
        field: int,
        component: int = 1,
        subcomponent: int = 1,
        repetition: int = 1,
    ) -> str | None:
        """The value as sent, escapes not decoded; None when absent or empty."""
        if seg is None or field >= len(seg):
            return None
        text = seg[field]
        if not text:
            return None
        if field <= 2 and seg[0] == "MSH":
            return text
        sep = self.separators
        rep = _nth(text, sep[2], repetition)
        if rep is None:
            return None
        comp = _nth(rep, sep[1], component)
        if comp is None:
            return None
        return _nth(comp, sep[4], subcomponent) or None

    def repetitions(self, seg: list[str] | None, field: int) -> list[str]:
        """The raw repetitions of a field, for callers that pick one by its content (PID-3)."""
        text = self.raw_field(seg, field)
        return text.split(self.separators.repetition) if text else []

    def component_of(
        self, repetition_text: str, component: int, subcomponent: int = 1
    ) -> str | None:
        comps = repetition_text.split(self.separators.component)
        if component > len(comps):
            return None
        subs = comps[component - 1].split(self.separators.subcomponent)
        if subcomponent > len(subs) or not subs[subcomponent - 1]:
            return None
        raw = subs[subcomponent - 1]
        return self.unescape(raw) if self.separators.escape in raw else raw

    def unescape(self, text: str) -> str:
        esc = self.separators.escape
        parts = text.split(esc)
        if len(parts) < 3:
            return text
        out = [parts[0]]
        i = 1
        while i < len(parts):
            if i + 1 >= len(parts):  # unterminated escape: keep the text as sent
                out.append(esc + parts[i])
                break
            out.append(self._escape_value(parts[i]))
            out.append(parts[i + 1])
            i += 2
        return "".join(out)

    def _escape_value(self, code: str) -> str:
        sep = self.separators
        simple = {
            "F": sep.field,
            "S": sep.component,
            "T": sep.subcomponent,
            "R": sep.repetition,
            "E": sep.escape,
        }
        if code in simple:
            return simple[code]
        if code in ("H", "N"):  # highlighting on/off: no meaning in plain text
            return ""
        if code == ".br":
            return "\n"
        if code.startswith("X") and len(code) > 1:
            try:
                return bytes.fromhex(code[1:]).decode(self.codec, "replace")
            except ValueError:
                return sep.escape + code + sep.escape
        if code[:1] in ("C", "M", "Z") or code.startswith(
            (".sp", ".in", ".ti", ".sk", ".ce", ".fi", ".nf")
        ):
            return ""  # charset switches and formatting commands carry no text of their own
        return sep.escape + code + sep.escape

    # --- header -------------------------------------------------------------------------------

    def _header(self, field: int, component: int) -> str | None:
        # The listener, the plugins and the ACK each read the same few MSH fields; decode
        # each once. A Message is not modified after parse(), so the values cannot go stale.
        key = field * 64 + component
        cache = self._header_cache
        if key in cache:
            return cache[key]
        value = self.value_of(self.segments[0], field, component)
        cache[key] = value
        return value

    @property
    def msh(self) -> list[str]:
        return self.segments[0]

    @property
    def control_id(self) -> str | None:
        return self._header(10, 1)

    @property
    def message_code(self) -> str | None:
        return self._header(9, 1)

    @property
    def trigger(self) -> str | None:
        return self._header(9, 2)

    @property
    def structure(self) -> str | None:
        return self._header(9, 3)

    @property
    def version(self) -> str | None:
        return self._header(12, 1)

    @property
    def processing_id(self) -> str | None:
        return self._header(11, 1)

    @property
    def sending_application(self) -> str | None:
        return self._header(3, 1)

    @property
    def sending_facility(self) -> str | None:
        return self._header(4, 1)

    @property
    def accept_ack_type(self) -> str | None:
        return self._header(15, 1)

    @property
    def application_ack_type(self) -> str | None:
        return self._header(16, 1)

    @property
    def charset_field(self) -> str | None:
        return self._header(18, 1)

    @property
    def enhanced_mode(self) -> bool:
        """Original mode when both MSH-15 and MSH-16 are empty; enhanced otherwise."""
        return bool(self.accept_ack_type or self.application_ack_type)


def parse(raw: bytes, default_charset: str = "ascii") -> Message:
    """Tokenize one HL7 v2 message; raises Hl7Error (with its 0357 code) when it cannot."""
    codec = _sniff_charset(raw, default_charset)
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise Hl7Error(
            f"message is not valid {codec}: byte {exc.start}", "102", "MSH^1^18"
        ) from exc
    text = text.lstrip("\ufeff\x00 \r\n\t")
    if not text.startswith("MSH"):
        raise Hl7Error("message does not start with an MSH segment", "100", "MSH^1")
    if len(text) < 8:
        raise Hl7Error("MSH segment is truncated", "101", "MSH^1^2")
    field_sep = text[3]
    encoding = text[4:].split(field_sep, 1)[0]
    if len(encoding) not in (4, 5) or field_sep in encoding or field_sep.isalnum():
        raise Hl7Error(f"invalid separators in MSH-1/MSH-2: {text[3:9]!r}", "102", "MSH^1^2")
    separators = Separators(field_sep, encoding[0], encoding[1], encoding[2], encoding[3])
    if len(set(separators)) != 5:
        raise Hl7Error("MSH-2 repeats a separator", "102", "MSH^1^2")
    segments: list[list[str]] = []
    # Senders nearly always end segments with CR alone; str.split beats the regex there.
    lines = _SEGMENT_SPLIT.split(text) if "\n" in text else text.split("\r")
    for line in lines:
        if not line.strip("\x00 \t"):
            continue
        fields = line.split(field_sep)
        if fields[0] not in _VALID_IDS and not _valid_segment_id(fields[0]):
            raise Hl7Error(
                f"invalid segment id {fields[0][:8]!r}",
                "100",
                f"{fields[0][:3]}^{len(segments) + 1}",
            )
        if fields[0] == "MSH":
            fields.insert(1, field_sep)
        segments.append(fields)
    message = Message(separators, codec, segments)
    for number, name in ((9, "message type"), (10, "message control id"), (12, "version id")):
        if not message._header(number, 1):
            raise Hl7Error(f"MSH-{number} ({name}) is required", "101", f"MSH^1^{number}")
    return message
