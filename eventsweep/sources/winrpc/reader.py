"""Newest first with early stop, as the classic ReadEventLog recipe, over a :class:`Session`.

After ElfrOpenELW, Samba's cursor is at the oldest record (Windows accepts the same sequence):
the first read is BACKWARDS|SEEK at the newest record (oldest + count - 1), the following ones
BACKWARDS|SEQUENTIAL. The log ends on STATUS_END_OF_FILE or on success with nothing read.

Reading stops at the first record *written* more than :data:`STOP_SLACK` seconds before the
window starts: TimeWritten grows with the log while TimeGenerated may run slightly out of
order, and ``query.matches`` filters on TimeGenerated in the end. The server sends the whole
buffer it is asked for, so reads start small (a narrow window costs one small read) and double
up to :data:`MAX_BUFFER`. Several logs of one target are merged newest first.

Blocking: runs in a worker thread.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from eventsweep.errors import ReadError
from eventsweep.model import Bookmark, Event, Query, now_iso
from eventsweep.sources.winrpc import resume
from eventsweep.sources.winrpc.records import Batch, Decoder, RecordFilter
from eventsweep.sources.winrpc.session import OpenLog
from eventsweep.sources.winrpc.wire import (
    BACKWARDS,
    MAX_READ,
    SEEK,
    SEQUENTIAL,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_SUCCESS,
    ReadReply,
)

FIRST_BUFFER = 16 * 1024
MAX_BUFFER = 256 * 1024
STOP_SLACK = 600
CHUNK = 2048


class LogSession(Protocol):
    """What reading needs of a session (:class:`~.session.Session`, or a test's script)."""

    def open_log(self, name: str) -> OpenLog: ...

    def read(self, log: OpenLog, flags: int, offset: int, size: int) -> ReadReply: ...


@dataclass(slots=True)
class Chunk:
    """What one hop from the worker thread carries: events newest first, and damage notes."""

    events: list[Event] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    marks: list[Bookmark] = field(default_factory=list)  # each log's newest record (--new)
    notes: list[str] = field(default_factory=list)  # a bookmark that could not be used


def decoders(target: str, logs: tuple[str, ...], query: Query) -> list[Decoder]:
    """One decoder per log, sharing the query's header filter and stop bound."""
    wanted = RecordFilter.of(query)
    stop = int(wanted.since) - STOP_SLACK if wanted.since is not None else None
    return [Decoder(target, log, query, wanted, stop) for log in logs]


def batches(
    session: LogSession, decoder: Decoder, bookmark: Bookmark | None = None
) -> Iterator[Batch]:
    """The read buffers of one log, newest first, decoded; stops early (see module doc), or
    at the bookmark (``--new``, see :mod:`.resume`: an unusable one is a batch's note)."""
    log = session.open_log(decoder.log)
    decoder, note = resume.resumed(session, log, decoder, bookmark)
    if note is not None:
        yield Batch(notes=[note])
    if log.count == 0:
        return
    flags, offset, size = BACKWARDS | SEEK, log.oldest + log.count - 1, FIRST_BUFFER
    while True:
        reply = session.read(log, flags, offset, size)
        if reply.status == STATUS_BUFFER_TOO_SMALL:
            size = _bigger(reply.needed, size, log.name)
            continue
        if reply.at_end:
            return
        if reply.status != STATUS_SUCCESS:
            raise ReadError(f"reading log {log.name!r}: status 0x{reply.status:08x}")
        batch = decoder.decode(reply.buffer, now_iso())
        if flags != BACKWARDS | SEEK:
            batch.newest = None  # only the first read starts at the newest record
        yield batch
        if batch.stop or batch.records == 0:
            return
        flags, size = BACKWARDS | SEQUENTIAL, min(size * 2, MAX_BUFFER)


def chunks(
    session: LogSession, wanted: list[Decoder], marks: Mapping[str, Bookmark] | None = None
) -> Iterator[Chunk]:
    """Everything the decoders want, newest first, in chunks (merged across logs); ``marks``:
    the bookmarks to resume after, by log name lower-case."""
    marks = marks or {}
    if len(wanted) == 1:
        for batch in batches(session, wanted[0], marks.get(wanted[0].log.lower())):
            yield Chunk(batch.events, batch.damaged, _marks(wanted[0], batch), batch.notes)
        return
    notes: list[str] = []
    found = Chunk()  # every log's bookmark and resume notes, handed on with the last chunk
    streams = [_events(session, decoder, notes, found, marks) for decoder in wanted]
    chunk = Chunk()
    for event in heapq.merge(*streams, key=_time, reverse=True):
        chunk.events.append(event)
        if len(chunk.events) >= CHUNK:
            chunk.damaged, notes[:] = list(notes), []
            yield chunk
            chunk = Chunk()
    chunk.damaged = list(notes)
    chunk.marks, chunk.notes = found.marks, found.notes
    yield chunk


def _events(
    session: LogSession,
    decoder: Decoder,
    notes: list[str],
    found: Chunk,
    marks: Mapping[str, Bookmark],
) -> Iterator[Event]:
    for batch in batches(session, decoder, marks.get(decoder.log.lower())):
        notes.extend(batch.damaged)
        found.notes.extend(batch.notes)
        found.marks.extend(_marks(decoder, batch))
        yield from batch.events


def _marks(decoder: Decoder, batch: Batch) -> list[Bookmark]:
    """The log's newest record: the first record of its first read (the only batch with
    ``newest`` set)."""
    if batch.newest is None:
        return []
    number, generated, written = batch.newest
    return [resume.mark(decoder.log, number, generated, written)]


def _time(event: Event) -> str:
    return event.time


def _bigger(needed: int, size: int, log: str) -> int:
    if needed <= size or needed > MAX_READ:
        raise ReadError(f"reading log {log!r}: a record of {needed} bytes cannot be read")
    return needed
