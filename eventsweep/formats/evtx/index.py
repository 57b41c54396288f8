"""Which chunks an .evtx file holds, and which a time window needs, from headers alone.

Walking a chunk's 24-byte record headers by their sizes gives its real record ids and write-time
range cheaply (no XML decoding). The file header's chunk count and the chunk headers' record
ranges go stale in dirty or wrapped logs, so neither is trusted by :func:`scan`: every 64 KiB slot
is looked at and every chunk's records are walked.

A window on a big file need not look at every slot: when the file looks written in order (header
clean and in step with the file's size, oldest chunk first), :func:`select` bisects the slots by
record id and write time, a few dozen chunk reads for any size, and checks every chunk it reads
against that order; a file that breaks it anywhere seen falls back to the scan. A resumed read
(``--new``) of such a file finds the chunk holding the bookmarked record the same way
(:func:`since`), and reads only the chunks from it to the newest.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from eventsweep.formats.evtx.layout import (
    CHUNK_HEADER_SIZE,
    CHUNK_MAGIC,
    CHUNK_SIZE,
    FILE_HEADER,
    FILE_MAGIC,
    FLAG_DIRTY,
    HEADER_SIZE,
    RECORD_HEAD,
    RECORD_MAGIC,
    SANE_FILETIME,
    filetime,
)

_FIRST_RECORD_END = CHUNK_HEADER_SIZE + RECORD_HEAD.size  # a chunk's header and first record's
SLACK_SECONDS = 3600
_SLACK = SLACK_SECONDS * 10_000_000
_BISECT_FROM = 64  # slots: below this, the scan is as cheap as a bisection


class NotEvtx(Exception):
    """The file is not an EVTX event log."""


class ChunkSlot(NamedTuple):
    """Where a chunk sits in its file: its slot (0 for the chunk right behind the file header)
    and its first record id."""

    slot: int
    first_id: int


@dataclass(frozen=True, slots=True)
class Span:
    """A chunk's records as walked: count, write-time range (FILETIME; 0 when unknown), first
    and last record ids."""

    records: int
    oldest: int
    newest: int
    first_id: int = 0
    last_id: int = 0


def check_header(header: bytes) -> None:
    """Raise NotEvtx unless ``header`` (a file's first 4096 bytes) starts an event log."""
    if header[:8] != FILE_MAGIC:
        raise NotEvtx("not an EVTX event log (no ElfFile signature)")
    if len(header) < HEADER_SIZE:
        raise NotEvtx(f"not a complete EVTX file ({len(header)} bytes, the header alone is 4096)")


def scan(path: str) -> tuple[list[ChunkSlot], int]:
    """Every slot holding a chunk, newest first by record id; and the damaged slots.
    Raises NotEvtx for a file that is not an event log."""
    found: list[ChunkSlot] = []
    damaged = 0
    with _opened(path) as fd:
        check_header(os.pread(fd, HEADER_SIZE, 0))
        size = os.fstat(fd).st_size
        for start in range(HEADER_SIZE, size, CHUNK_SIZE):
            head = os.pread(fd, _FIRST_RECORD_END, start)
            if head[:8] == CHUNK_MAGIC and len(head) == _FIRST_RECORD_END:
                first_id = RECORD_HEAD.unpack_from(head, CHUNK_HEADER_SIZE)[2]
                found.append(ChunkSlot((start - HEADER_SIZE) // CHUNK_SIZE, first_id))
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
    offset, records, oldest, newest, first_id, last_id = CHUNK_HEADER_SIZE, 0, 0, 0, 0, 0
    limit = end - RECORD_HEAD.size
    while offset <= limit:
        magic, size, record_id, written = RECORD_HEAD.unpack_from(data, offset)
        if magic != RECORD_MAGIC or size < RECORD_HEAD.size or offset + size > end:
            break
        if not records:
            first_id = record_id
        last_id = record_id
        records += 1
        if written > SANE_FILETIME:
            oldest = written if not oldest else min(oldest, written)
            newest = max(newest, written)
        offset += size
    return Span(records, oldest, newest, first_id, last_id)


def select(
    path: str, since: str | None, until: str | None, found: list[ChunkSlot] | None = None
) -> Iterator[ChunkSlot]:
    """The chunks a window needs, newest first (``found``: the scan's result, if made).

    Without a window every chunk is needed and no record is walked. With one, chunks are
    walked newest first; a chunk whose write times all lie outside the window widened by
    SLACK_SECONDS is left out, one with unknown times is kept, and the walk stops after two
    consecutive chunks wholly older than the window (clocks go backwards; the caller filters
    on TimeCreated last). A file written in order is bisected to the window's newest end
    instead of walked from its newest chunk (see the module docstring).
    """
    if found is None:
        yield from choose(path, since, until)[0]
    elif since is None and until is None:
        yield from found
    else:
        with _opened(path) as fd:
            yield from _walk(fd, Window.of(since, until), found)


def choose(path: str, since: str | None, until: str | None) -> tuple[list[ChunkSlot], int]:
    """:func:`select`'s chunks as a list, and the damaged slots seen (those of the scan; a
    bisected file has none where it was read). Raises NotEvtx for a file that is not a log."""
    if since is None and until is None:
        return scan(path)
    window = Window.of(since, until)
    with _opened(path) as fd:
        ordered = _Ordered.open(fd)
        picked = None if ordered is None else ordered.select(window)
        if picked is not None:
            return picked, 0
        found, damaged = scan(path)
        return list(_walk(fd, window, found)), damaged


def since(path: str, record_id: int) -> list[ChunkSlot] | None:
    """The chunks from the one holding ``record_id`` to the newest, newest first, found by
    bisection in a file written in order: what the scan's chunks down to the first at or below
    ``record_id`` are. None where the order is not known or is broken, or no chunk starts at or
    below ``record_id`` (scan then). Raises NotEvtx for a file that is not a log."""
    with _opened(path) as fd:
        ordered = _Ordered.open(fd)
        return None if ordered is None else ordered.since(record_id)


@dataclass(frozen=True, slots=True)
class Window:
    """A window as FILETIMEs, widened by the slack."""

    low: int
    high: int

    @classmethod
    def of(cls, since: str | None, until: str | None) -> Window:
        low = filetime(since) - _SLACK if since else 0
        return cls(low, filetime(until) + _SLACK if until else 1 << 64)

    def wants(self, walked: Span) -> bool:
        return bool(walked.records) and (not walked.oldest or walked.oldest <= self.high)

    def below(self, walked: Span) -> bool:
        """Whether the chunk is wholly older than the window."""
        return bool(walked.records and walked.oldest and walked.newest < self.low)


def _walk(fd: int, window: Window, found: Iterable[ChunkSlot]) -> Iterator[ChunkSlot]:
    older = 0
    for chunk in found:
        walked = _read_span(fd, chunk.slot)
        if window.below(walked):
            older += 1
            if older >= 2:
                return
            continue
        older = 0
        if window.wants(walked):
            yield chunk


def _read_span(fd: int, slot: int) -> Span:
    data = os.pread(fd, CHUNK_SIZE, HEADER_SIZE + slot * CHUNK_SIZE)
    return span(data) if data[:8] == CHUNK_MAGIC else Span(0, 0, 0)


class _Ordered:
    """A file whose header says it was written in order: slot ``i`` holds the ``i``-th chunk.

    Every chunk read is checked against that order (a chunk signature, records, known write
    times, record ids rising with the slot, write times rising within the slack), and the last
    slot's last record must be the one before the header's next record id (a wrapped log whose
    header says otherwise holds older records there); a file that breaks it gives ``None``, and
    the caller scans instead.
    """

    def __init__(self, fd: int, count: int, next_id: int) -> None:
        self.fd = fd
        self.count = count
        self.next_id = next_id
        self.seen: dict[int, Span] = {}

    @classmethod
    def open(cls, fd: int) -> _Ordered | None:
        header = os.pread(fd, HEADER_SIZE, 0)
        check_header(header)
        fields = FILE_HEADER.unpack_from(header)
        oldest, current, next_id = fields[1], fields[2], fields[3]
        count, flags = fields[8], fields[9]
        slots, rest = divmod(os.fstat(fd).st_size - HEADER_SIZE, CHUNK_SIZE)
        in_step = not rest and count == slots and oldest == 0 and current == count - 1
        if not in_step or flags & FLAG_DIRTY or slots < _BISECT_FROM:
            return None
        return cls(fd, slots, next_id)

    def probe(self, slot: int) -> Span | None:
        walked = self.seen.get(slot)
        if walked is None:
            walked = self.seen[slot] = _read_span(self.fd, slot)
        return walked if walked.records and walked.oldest else None

    def select(self, window: Window) -> list[ChunkSlot] | None:
        """The slots the walk would pick, found by bisection; None if the order is broken."""
        top = self._last_at_or_before(window.high)
        if top is None:
            return None
        picked: list[ChunkSlot] = []
        older = 0
        for slot in range(min(top + 1, self.count - 1), -1, -1):
            walked = self.probe(slot)
            if walked is None:
                return None
            if window.below(walked):
                older += 1
                if older >= 2:
                    break
                continue
            older = 0
            if window.wants(walked):
                picked.append(ChunkSlot(slot, walked.first_id))
        return picked if self._in_order() else None

    def since(self, record_id: int) -> list[ChunkSlot] | None:
        """The slots from the holder of ``record_id`` up, newest first; None if the order is
        broken or ``record_id`` lies below the first chunk."""
        holder = self._last_where(lambda walked: walked.first_id <= record_id)
        if holder is None or holder < 0:
            return None
        picked: list[ChunkSlot] = []
        for slot in range(self.count - 1, holder - 1, -1):
            walked = self.probe(slot)
            if walked is None:
                return None
            picked.append(ChunkSlot(slot, walked.first_id))
        return picked if self._in_order() else None

    def _last_at_or_before(self, high: int) -> int | None:
        """The last slot whose oldest write time is at most ``high`` (-1 if none)."""
        return self._last_where(lambda walked: walked.oldest <= high)

    def _last_where(self, holds: Callable[[Span], bool]) -> int | None:
        """The last slot whose chunk ``holds`` (-1 if none), for a test that holds up to some
        slot and not after it; None if a chunk read has no records or no known write times."""
        low, up = -1, self.count - 1  # invariant: slot low qualifies (or is -1); above up none
        if (last := self.probe(up)) is None:
            return None
        if holds(last):
            return up
        up -= 1
        while low < up:
            middle = (low + up + 1) // 2
            walked = self.probe(middle)
            if walked is None:
                return None
            if holds(walked):
                low = middle
            else:
                up = middle - 1
        return low

    def _in_order(self) -> bool:
        last = self.seen.get(self.count - 1)
        if last is None or last.last_id != self.next_id - 1:
            return False
        previous: Span | None = None
        for slot in sorted(self.seen):
            walked = self.seen[slot]
            if not walked.records or not walked.oldest:
                return False
            if previous is not None and (
                walked.first_id <= previous.first_id or walked.newest + _SLACK < previous.oldest
            ):
                return False
            previous = walked
        return True


def assemble(path: str, chunks: Iterable[ChunkSlot]) -> io.BytesIO:
    """The file header followed by the given chunks: a file of its own that parses like them
    (a chunk is self-contained)."""
    buffer = io.BytesIO()
    with open(path, "rb") as file:
        buffer.write(file.read(HEADER_SIZE))
        for chunk in chunks:
            file.seek(HEADER_SIZE + chunk.slot * CHUNK_SIZE)
            buffer.write(file.read(CHUNK_SIZE).ljust(CHUNK_SIZE, b"\x00"))
    buffer.seek(0)
    return buffer
