"""``--new`` for .evtx files: the bookmark of a file, and where a read resumes after it.

A file's bookmark is its newest record as the record headers show it (the 24-byte headers the
chunk index walks; no XML decoding): its record id, and its write time, which stands for the
file's identity (``epoch``): a later read resumes after record R only if record R is still
there with the same write time. Then only the chunks holding records above R are parsed (and
of the first of them, only the records above R are kept); the window's start is not applied,
so everything written since the bookmark is read, whatever its age.

Otherwise the log was cleared, replaced or wrapped past the bookmark (ids went backwards, the
record is gone or another record has its id): that is said in a note on the outcome, and the
file is read as if it had no bookmark (the ``--since`` window), never silently skipped.

Record ids here are the record headers' (equal to EventRecordID in files Windows writes).

Finding record R: in a file written in order (header clean and in step with the file, as the
chunk index bisects windows) the chunk holding it is found by bisection, a dozen chunk reads for
1 GB; anywhere that order breaks, or R is not found there unchanged, every chunk slot is looked
at, as a wrapped log needs (and the note then says why).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from eventsweep.formats.evtx.index import ChunkSlot as Chunk
from eventsweep.formats.evtx.layout import (
    CHUNK_HEADER_SIZE,
    CHUNK_SIZE,
    HEADER_SIZE,
    RECORD_HEAD,
    RECORD_MAGIC,
)
from eventsweep.model import Bookmark, Query, TargetStatus, iso_from_epoch_us

LOG = "file"  # the one log of a file target, as bookmarks name it
_FILETIME_EPOCH_US = 11_644_473_600_000_000  # 1601-01-01 → 1970-01-01 in microseconds


@dataclass(frozen=True, slots=True)
class Start:
    """Where a read of one file starts: after a record id (with the chunks holding newer
    records), or, when ``chunks`` is None, the window as usual; and what to report."""

    after: int | None = None
    chunks: list[Chunk] | None = None
    mark: Bookmark | None = None  # the file's newest record now
    note: str | None = None  # why a bookmark could not be used

    def query(self, query: Query) -> Query:
        """The query a resumed read applies: everything after the bookmark (no start)."""
        return dataclasses.replace(query, since=None) if self.chunks is not None else query


def records(data: bytes) -> Iterator[tuple[int, int]]:
    """(record id, FILETIME written) of a chunk's records, walked by their sizes."""
    end = min(len(data), CHUNK_SIZE)
    offset = CHUNK_HEADER_SIZE
    while offset <= end - RECORD_HEAD.size:
        magic, size, record_id, written = RECORD_HEAD.unpack_from(data, offset)
        if magic != RECORD_MAGIC or size < RECORD_HEAD.size or offset + size > end:
            return
        yield record_id, written
        offset += size


def start(path: str, found: list[Chunk], resume: Bookmark | None) -> Start:
    """Where to start reading ``path`` whose chunks (newest first) are ``found``."""
    with open(path, "rb") as file:
        fd = file.fileno()
        mark = _newest(fd, found)
        if resume is None or resume.record_id is None:
            return Start(mark=mark)
        problem = _changed(fd, found, resume)
        if problem is not None:
            return Start(mark=mark, note=f"{problem}; read from --since instead")
    after = resume.record_id
    chunks: list[Chunk] = []
    for chunk in found:
        chunks.append(chunk)
        if chunk.first_id <= after:
            break
    if mark is not None and mark.record_id is not None and mark.record_id <= after:
        chunks = []  # nothing new
    return Start(after=after, chunks=chunks, mark=mark)


def _read_chunk(fd: int, chunk: Chunk) -> bytes:
    return os.pread(fd, CHUNK_SIZE, HEADER_SIZE + chunk.slot * CHUNK_SIZE)


def _newest(fd: int, found: list[Chunk]) -> Bookmark | None:
    for chunk in found:  # the newest chunk with a readable record
        walked = list(records(_read_chunk(fd, chunk)))
        if walked:
            record_id, written = max(walked)
            return Bookmark(
                log=LOG, record_id=record_id, time=_iso(written), epoch=f"written:{written}"
            )
    return None


def _changed(fd: int, found: list[Chunk], mark: Bookmark) -> str | None:
    """Why the bookmarked record cannot be resumed after (None: it is there, unchanged)."""
    wanted = mark.record_id
    assert wanted is not None
    holder = next((chunk for chunk in found if chunk.first_id <= wanted), None)
    if holder is None:
        oldest = min((chunk.first_id for chunk in found), default=None)
        if oldest is not None and oldest > wanted:
            return f"log wrapped past the bookmark: record {wanted} was overwritten"
        return f"log cleared or replaced: it no longer holds record {wanted}"
    written = dict(records(_read_chunk(fd, holder))).get(wanted)
    if written is None:
        newest = max((chunk.first_id for chunk in found), default=0)
        if newest < wanted:
            return f"log cleared or replaced: record ids went back (below {wanted})"
        return f"log cleared or replaced: it no longer holds record {wanted}"
    if mark.epoch and mark.epoch != f"written:{written}":
        return f"log cleared or replaced: record {wanted} is another record than the bookmark's"
    return None


def _iso(filetime: int) -> str:
    return iso_from_epoch_us(max(filetime // 10 - _FILETIME_EPOCH_US, 0))


def report(status: TargetStatus, start: Start) -> None:
    """Tell the engine the file's newest record, and why its old bookmark was not used."""
    if start.note is not None:
        status.warn(start.note, 0, partial=False)
    if start.mark is not None:
        status.bookmark(start.mark)


Chosen = tuple[list[Chunk], int]  # chunks newest first, damaged slots
_ABOVE_ALL = 1 << 64  # a record id above every file's: the chunks "since" it are the newest one


def plan(
    path: str,
    query: Query,
    resume: Bookmark | None,
    window: Callable[[], Chosen],
    every: Callable[[], Chosen],
    since: Callable[[int], list[Chunk] | None],
) -> tuple[list[Chunk], int, Start]:
    """The chunks a read parses and where it starts. ``window()`` gives the chunks the query's
    window needs, ``every()`` every chunk of the file (both: newest first, damaged slots),
    ``since(R)`` the chunks from the one holding record R to the newest when the file is known
    to be written in order (None otherwise: :func:`~eventsweep.formats.evtx.index.since`).

    With a bookmark, the chunks since it are read when the bookmarked record is found there,
    unchanged; otherwise every chunk is looked at (the bookmarked record must be found, the log
    may have wrapped). Without one, the window's own selection is read, and the file's newest
    chunk is its first when the window has no end; else the chunk ``since`` starts with (the
    last in a file written in order), or, failing that, the newest of every chunk."""
    if resume is not None and resume.record_id is not None:
        return _resumed(path, resume, window, every, since(resume.record_id))
    selected, damaged = window()
    newest = selected if query.until is None else since(_ABOVE_ALL) or every()[0]
    return selected, damaged, start(path, newest[:1], None)


def _resumed(
    path: str,
    resume: Bookmark,
    window: Callable[[], Chosen],
    every: Callable[[], Chosen],
    bisected: list[Chunk] | None,
) -> tuple[list[Chunk], int, Start]:
    """:func:`plan` with a bookmark: from the bisected chunks where they hold the bookmarked
    record unchanged (a bisected file has no damaged slot where it was read), else from every
    chunk, as the scan finds them (which also says why the bookmark is not used)."""
    if bisected is not None:
        begun = start(path, bisected, resume)
        if begun.chunks is not None:
            return begun.chunks, 0, begun
    found, damaged = every()
    begun = start(path, found, resume)
    if begun.chunks is not None:
        return begun.chunks, damaged, begun
    selected, damaged = window()
    return selected, damaged, begun
