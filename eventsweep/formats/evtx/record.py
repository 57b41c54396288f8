"""How an Event becomes the values of one .evtx record (the mapping the README documents).

Every record is an instance of one template per *shape* (its data names, with or without a
message): ``Event/System`` (Provider Name, EventID [Qualifiers], Level, Task, Keywords,
TimeCreated SystemTime, EventRecordID, Channel, Computer), ``Event/EventData`` with one
``Data Name="…"`` per data field, and, when the message is not what a reader would rebuild
from the data, ``Event/RenderingInfo/Message`` (where Windows keeps forwarded events' text).

Text that XML cannot hold is mapped, never written broken: C0 control characters other than
tab, newline and carriage return become their Unicode control pictures (U+0000 → U+2400 …
U+001F → U+241F); lone surrogates, U+FFFE and U+FFFF become U+FFFD.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import orjson

from eventsweep.formats.evtx.binxml import (
    BOOL,
    FILETIME,
    HEXINT64,
    INT64,
    NULL,
    STRING,
    UINT8,
    UINT16,
    UINT64,
    Element,
    Sub,
    Template,
    Text,
)
from eventsweep.formats.evtx.layout import (
    AUDIT_FAILURE,
    AUDIT_SUCCESS,
    CLASSIC,
    LEVEL_WORDS,
    render,
)
from eventsweep.model import Event

NAMESPACE = "http://schemas.microsoft.com/win/2004/08/events/event"
LEVEL_NUMBERS = {word: number for number, word in LEVEL_WORDS.items()}
AUDIT_KEYWORDS = {
    "audit_success": CLASSIC | AUDIT_SUCCESS,
    "audit_failure": CLASSIC | AUDIT_FAILURE,
}
MAX_NAME = 255  # characters of a Data name; longer ones are cut (see map_names)
CUT_MARK = "…"

# Substitution indexes: fixed-size values first.
LEVEL, EVENT_ID, QUALIFIERS, TASK, KEYWORDS, TIME, RECORD_ID = range(7)
PROVIDER, CHANNEL, COMPUTER, MESSAGE, FIRST_DATA = range(7, 12)

Value = tuple[int, bytes]
# A record shape: its data names, whether it has a message, whether its EventID has qualifiers
Shape = tuple[tuple[str, ...], bool, bool]
_NULL: Value = (NULL, b"")
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_RESERVED_NAMES = frozenset({"#attributes", "#text"})
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")


def clean(text: str) -> str:
    """The text with the characters XML cannot hold mapped (see the module docstring)."""
    if _INVALID.search(text) is None:
        return text
    return _INVALID.sub(_picture, text)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    return chr(0x2400 + code) if code < 0x20 else "\ufffd"


def utf16(text: str) -> bytes:
    return clean(text).encode("utf-16-le")


def map_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """Data names as written: cleaned, never empty or reserved, at most MAX_NAME, unique.

    ``""`` becomes ``_``; the JSON renderers' own keys ``#attributes``/``#text`` get a ``_``
    prefix; a longer name keeps its first MAX_NAME - 1 characters and ends with ``…``; a name
    taken by an earlier one (after mapping) gets ``_2``, ``_3``… appended.
    """
    taken: set[str] = set()
    mapped = []
    for name in names:
        candidate = _map_name(name)
        unique, number = candidate, 1
        while unique in taken:
            number += 1
            unique = f"{candidate}_{number}"
        taken.add(unique)
        mapped.append(unique)
    return tuple(mapped)


def _map_name(name: str) -> str:
    name = clean(name)
    if not name:
        return "_"
    if name in _RESERVED_NAMES:
        return "_" + name
    if len(name) > MAX_NAME:
        return name[: MAX_NAME - 1] + CUT_MARK
    return name


def typed(value: Any) -> tuple[int, bytes, Any]:
    """A data value as (value type, bytes, the value a reader gets back)."""
    if isinstance(value, str):
        text = clean(value)
        return STRING, text.encode("utf-16-le"), text
    if value is None:
        return NULL, b"", ""
    if isinstance(value, bool):
        return BOOL, struct.pack("<I", value), value
    if isinstance(value, int):
        return _integer(value)
    text = clean(_as_text(value))
    return STRING, text.encode("utf-16-le"), text


def _integer(value: int) -> tuple[int, bytes, Any]:
    if -(1 << 63) <= value < (1 << 63):
        return INT64, _I64.pack(value), value
    if 0 <= value < (1 << 64):
        return UINT64, _U64.pack(value), value
    return STRING, str(value).encode("utf-16-le"), str(value)


def _as_text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def task_value(category: int | None) -> Value:
    """Task: the category as UInt16 (None as 0); a value that does not fit keeps its size."""
    value = 0 if category is None else category
    if 0 <= value <= 0xFFFF:
        return UINT16, value.to_bytes(2, "little")
    return typed(value)[:2]


def event_id_values(event_id: int | None) -> tuple[Value, Value]:
    """EventID and Qualifiers: the low and high 16 bits of a 32-bit id, as Windows splits it."""
    if event_id is None:
        return (UINT16, b"\x00\x00"), _NULL
    if 0 <= event_id <= 0xFFFF:
        return (UINT16, event_id.to_bytes(2, "little")), _NULL
    if 0 <= event_id <= 0xFFFFFFFF:
        high = (event_id >> 16).to_bytes(2, "little")
        return (UINT16, (event_id & 0xFFFF).to_bytes(2, "little")), (UINT16, high)
    return typed(event_id)[:2], _NULL


def level_values(level: str) -> tuple[Value, Value]:
    """Level and Keywords: 1..5 for the levels, 0 + the audit keyword bit for audit results."""
    keywords = AUDIT_KEYWORDS.get(level, 0)
    number = 0 if keywords else LEVEL_NUMBERS.get(level, 4)
    return (UINT8, bytes((number,))), (HEXINT64, keywords.to_bytes(8, "little"))


def template_for(names: tuple[str, ...], message: bool, qualifiers: bool) -> Template:
    """The template of one shape: System, EventData with these names, RenderingInfo if message."""
    data = tuple(
        Element("Data", (("Name", Text(name)),), (Sub(FIRST_DATA + number, STRING),))
        for number, name in enumerate(names)
    )
    system = _SYSTEM_QUALIFIED if qualifiers else _SYSTEM
    children: tuple[Element, ...] = (system, Element("EventData", children=data))
    if message:
        children += (_RENDERING,)
    root = Element("Event", (("xmlns", Text(NAMESPACE)),), children)
    return Template.of((names, message, qualifiers), root)


def _simple(name: str, index: int, kind: int) -> Element:
    return Element(name, children=(Sub(index, kind),))


def _system(event_id: Element) -> Element:
    return Element(
        "System",
        children=(
            Element("Provider", (("Name", Sub(PROVIDER, STRING)),)),
            event_id,
            _simple("Level", LEVEL, UINT8),
            _simple("Task", TASK, UINT16),
            _simple("Keywords", KEYWORDS, HEXINT64),
            Element("TimeCreated", (("SystemTime", Sub(TIME, FILETIME)),)),
            _simple("EventRecordID", RECORD_ID, UINT64),
            _simple("Channel", CHANNEL, STRING),
            _simple("Computer", COMPUTER, STRING),
        ),
    )


_SYSTEM = _system(_simple("EventID", EVENT_ID, UINT16))
_SYSTEM_QUALIFIED = _system(
    Element("EventID", (("Qualifiers", Sub(QUALIFIERS, UINT16)),), (Sub(EVENT_ID, UINT16),))
)
_RENDERING = Element(
    "RenderingInfo",
    (("Culture", Text("en-US")),),
    (Element("Message", children=(Sub(MESSAGE, STRING),)),),
)


def needs_message(message: str, names: tuple[str, ...], readback: list[Any]) -> bool:
    """True unless a reader rebuilds exactly this message from the data (Name=Value pairs)."""
    if not names:
        return message != ""
    if not message.startswith(names[0]):
        return True
    return message != render(dict(zip(names, readback, strict=True)))


def data_values(raw: list[Any]) -> tuple[list[Value], list[Any]]:
    """Data values as written, and as a reader gets them back (fast path for clean text)."""
    texts = [value for value in raw if value.__class__ is str]
    clean_texts = _INVALID.search(" ".join(texts)) is None
    if clean_texts and len(texts) == len(raw):
        return [(STRING, value.encode("utf-16-le")) for value in raw], raw
    values: list[Value] = []
    back: list[Any] = []
    for value in raw:
        if clean_texts and value.__class__ is str:
            values.append((STRING, value.encode("utf-16-le")))
            back.append(value)
        else:
            kind, data, readback = typed(value)
            values.append((kind, data))
            back.append(readback)
    return values, back


def system_values(event: Event, record_id: int, time: int) -> list[Value]:
    """The values 0..MESSAGE-1 of a record, in index order (the message is added apart)."""
    level, keywords = level_values(event.level)
    event_id, qualifiers = event_id_values(event.event_id)
    return [
        level,
        event_id,
        qualifiers,
        task_value(event.category),
        keywords,
        (FILETIME, time.to_bytes(8, "little")),
        _record_id(record_id),
        (STRING, utf16(event.source)),
        (STRING, utf16(event.log)),
        (STRING, utf16(event.computer)),
    ]


def _record_id(value: int) -> Value:
    if 0 <= value < (1 << 64):
        return UINT64, value.to_bytes(8, "little")
    return typed(value)[:2]


_MARK = CUT_MARK.encode("utf-16-le")


def cut(values: list[Value], budget: int) -> bool:
    """Shorten the longest text values (in place, ending with …) until all fit in budget bytes.

    False when even text values cut to the mark do not fit.
    """
    while (excess := sum(len(data) for _, data in values) - budget) > 0:
        longest = max(range(len(values)), key=lambda i: _text_size(values[i]))
        kind, data = values[longest]
        if _text_size(values[longest]) <= len(_MARK):
            return False
        keep = max(len(data) - excess - len(_MARK), 0) & ~1
        if keep and 0xD800 <= int.from_bytes(data[keep - 2 : keep], "little") <= 0xDBFF:
            keep -= 2
        values[longest] = (kind, data[:keep] + _MARK)
    return True


def _text_size(value: Value) -> int:
    return len(value[1]) if value[0] == STRING else -1
