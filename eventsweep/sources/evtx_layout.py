"""Which chunks of an .evtx file a time window needs, read from headers alone (no XML decoding).

EVTX layout (libyal's format notes): a 4096-byte file header, then 64 KiB chunks, each
self-contained (its own string and template tables). Every record starts with a 24-byte header:
magic ``**\\0\\0``, size, record id, FILETIME written. Walking those headers gives each chunk's
real id and time range cheaply. The file header's chunk count and the chunk headers' record
ranges go stale in dirty or wrapped logs, so neither is trusted: every 64 KiB slot is looked at
and every chunk's records are walked by their sizes.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from eventsweep.model import parse_iso

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512  # then the records
RECORD_MAGIC = 0x2A2A
RECORD_HEAD = struct.Struct("<IIQQ")  # magic, size, record id, FILETIME written
_FIRST_RECORD_END = CHUNK_HEADER_SIZE + RECORD_HEAD.size  # a chunk's header and first record's
# FILETIME of 1990-01-01: write times before that are unset or bogus and tell nothing.
_SANE_FILETIME = 122_756_256_000_000_000
SLACK_SECONDS = 3600

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


class NotEvtx(Exception):
    """The file is not an EVTX event log."""


class Chunk(NamedTuple):
    """One chunk: its slot in the file and its first record id."""

    slot: int
    first_id: int


@dataclass(frozen=True, slots=True)
class Span:
    """A chunk's records as walked: count and write-time range (FILETIME; 0 when unknown)."""

    records: int
    oldest: int
    newest: int


def filetime(iso_text: str) -> int:
    """FILETIME (100 ns since 1601) of a fixed-width ISO UTC time."""
    return int(parse_iso(iso_text).timestamp() * 10_000_000) + 116_444_736_000_000_000


def check_header(header: bytes) -> None:
    """Raise NotEvtx unless ``header`` (a file's first 4096 bytes) starts an event log."""
    if header[:8] != FILE_MAGIC:
        raise NotEvtx("not an EVTX event log (no ElfFile signature)")
    if len(header) < HEADER_SIZE:
        raise NotEvtx(f"not a complete EVTX file ({len(header)} bytes, the header alone is 4096)")


def chunks(path: str) -> tuple[list[Chunk], int]:
    """Every chunk slot holding a chunk, newest first by record id; and the damaged slots.
    Raises NotEvtx for a file that is not an event log."""
    found: list[Chunk] = []
    damaged = 0
    with _opened(path) as fd:
        check_header(os.pread(fd, HEADER_SIZE, 0))
        size = os.fstat(fd).st_size
        for start in range(HEADER_SIZE, size, CHUNK_SIZE):
            head = os.pread(fd, _FIRST_RECORD_END, start)
            if head[:8] == CHUNK_MAGIC and len(head) == _FIRST_RECORD_END:
                first_id = RECORD_HEAD.unpack_from(head, CHUNK_HEADER_SIZE)[2]
                index = (start - HEADER_SIZE) // CHUNK_SIZE
                found.append(Chunk(index, first_id))
            elif head.strip(b"\x00") or os.pread(fd, CHUNK_SIZE, start).strip(b"\x00"):
                damaged += 1  # a slot with data but no chunk signature: a damaged chunk
    found.sort(key=lambda chunk: chunk.first_id, reverse=True)
    return found, damaged


@contextlib.contextmanager
def _opened(path: str) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


def span(data: bytes) -> Span:
    """Walk a chunk's record headers by their sizes; stop at the first that is not a record."""
    end = min(len(data), CHUNK_SIZE)
    offset, records, oldest, newest = CHUNK_HEADER_SIZE, 0, 0, 0
    limit = end - RECORD_HEAD.size
    while offset <= limit:
        magic, size, _record_id, written = RECORD_HEAD.unpack_from(data, offset)
        if magic != RECORD_MAGIC or size < RECORD_HEAD.size or offset + size > end:
            break
        records += 1
        if written > _SANE_FILETIME:
            oldest = written if not oldest else min(oldest, written)
            newest = max(newest, written)
        offset += size
    return Span(records, oldest, newest)


def select(
    path: str, since: str | None, until: str | None, found: list[Chunk] | None = None
) -> Iterator[Chunk]:
    """The chunks a window needs, newest first.

    Without a window every chunk is needed and no record is walked. With one, chunks are
    walked newest first; a chunk whose write times all lie outside the window widened by
    SLACK_SECONDS is left out, one with unknown times is kept, and the walk stops after two
    consecutive chunks wholly older than the window (clocks go backwards; the caller filters
    on TimeCreated last).
    """
    if found is None:
        found = chunks(path)[0]
    if since is None and until is None:
        yield from found
        return
    slack = SLACK_SECONDS * 10_000_000
    low = filetime(since) - slack if since else 0
    high = filetime(until) + slack if until else 1 << 64
    older = 0
    with _opened(path) as fd:
        for chunk in found:
            walked = span(os.pread(fd, CHUNK_SIZE, HEADER_SIZE + chunk.slot * CHUNK_SIZE))
            if walked.records and walked.oldest and walked.newest < low:
                older += 1
                if older >= 2:
                    return
                continue
            older = 0
            if walked.records and (not walked.oldest or walked.oldest <= high):
                yield chunk
