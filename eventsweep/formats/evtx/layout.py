"""EVTX layout: the file header, 64 KiB chunks, record headers, FILETIME.

From libyal's EVTX format notes (no code carried over). A 4096-byte file header, then 64 KiB
chunks, each self-contained (its own string and template tables; records never span chunks).
Every record starts with a 24-byte header: magic ``**\\0\\0``, size, record id, FILETIME
written; its last four bytes repeat the size.
"""

from __future__ import annotations

import struct
from datetime import UTC, date
from functools import lru_cache
from typing import Any

import orjson

from eventsweep.model import parse_iso

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512  # then the records
RECORD_MAGIC = 0x2A2A
RECORD_HEAD = struct.Struct("<IIQQ")  # magic, size, record id, FILETIME written
# magic, oldest chunk, current chunk, next record id, header size, minor, major, header block
# size, chunk count, (76 bytes), flags; then the CRC32 of the first 120 bytes
FILE_HEADER = struct.Struct("<8sQQQIHHHH76xI")
# magic, first/last record number, first/last record id, header size, last record offset,
# free space offset, data CRC32
CHUNK_HEADER = struct.Struct("<8sQQQQIIII")
FLAG_DIRTY = 1

# FILETIME: 100 ns since 1601-01-01 UTC.
_FILETIME_1601 = date(1601, 1, 1).toordinal()
# The `evtx` package rejects FILETIMEs past 9999-12-30 22:00 UTC: later times are clamped.
MAX_FILETIME = (date(9999, 12, 30).toordinal() - _FILETIME_1601) * 864_000_000_000
# FILETIME of 1990-01-01: write times before that are unset or bogus and tell nothing.
SANE_FILETIME = 122_756_256_000_000_000


def filetime(text: str) -> int:
    """FILETIME of an event time (ISO UTC, fixed width or with any offset), clamped to
    1601-01-01…9999-12-30; 0 for text that is no time."""
    if len(text) == 27 and text[10] == "T" and text[19] == "." and text[26] == "Z":
        try:
            days = _days(text[:10]) - _FILETIME_1601
            seconds = int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
            value = (days * 86400 + seconds) * 10_000_000 + int(text[20:26]) * 10
        except ValueError:
            value = _parsed_filetime(text)
    else:
        value = _parsed_filetime(text)
    return min(max(value, 0), MAX_FILETIME)


@lru_cache(maxsize=4096)
def _days(day: str) -> int:
    return date.fromisoformat(day).toordinal()


def _parsed_filetime(text: str) -> int:
    try:
        moment = parse_iso(text)
    except ValueError:
        return 0
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    days = moment.toordinal() - _FILETIME_1601
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return (days * 86400 + seconds) * 10_000_000 + moment.microsecond * 10


# What the reader and the writer agree on besides the layout: System/Level numbers as level
# words, the Keywords bits of the audit levels, and the message of a record without message
# text (its data as Name=Value pairs).
LEVEL_WORDS = {1: "critical", 2: "error", 3: "warning", 4: "info", 5: "verbose"}
AUDIT_SUCCESS = 0x0020000000000000
AUDIT_FAILURE = 0x0010000000000000
CLASSIC = 0x8000000000000000  # the Keywords bit of events logged through the classic API


def render(data: dict[str, Any]) -> str:
    """The message of a record without message text: its data as ``Name=Value`` pairs."""
    return "; ".join(
        [
            f"{name}={value}" if type(value) is str or type(value) is int else _pair(name, value)
            for name, value in data.items()
        ]
    )


def _pair(name: str, value: Any) -> str:
    return f"{name}={_value(value)}"


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return orjson.dumps(value).decode()
