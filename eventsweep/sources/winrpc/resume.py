"""``--new`` for win:// logs: read backwards from the newest record and stop at the bookmark.

A log's bookmark is its newest record when it was read: its record number, and its
TimeWritten (``epoch``), which tells that record from another with the same number. On the
next read, the log's bounds (oldest record number and count, given by the open) and one small
seek read of the bookmarked record tell whether it is still there, unchanged:

- yes: the read goes backwards from the newest record and stops at it, whatever the window's
  start (everything written since is read; ``--until`` and the filters still apply);
- no (the log was cleared: the numbers went back below it or it holds another record; or
  wrapped: the oldest record is past it): a note says so and the log is read as if it had no
  bookmark (the ``--since`` window).

Blocking: runs in the reader's worker thread.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from eventsweep.model import Bookmark
from eventsweep.sources.winrpc.records import HEADER, SIGNATURE, Decoder, iso_seconds
from eventsweep.sources.winrpc.session import OpenLog
from eventsweep.sources.winrpc.wire import (
    BACKWARDS,
    MAX_READ,
    SEEK,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_SUCCESS,
    ReadReply,
)

PROBE = 4096  # the first read of the bookmarked record (grown if the record is larger)


class Reads(Protocol):
    def read(self, log: OpenLog, flags: int, offset: int, size: int) -> ReadReply: ...


def epoch(written: int) -> str:
    return f"written:{written}"


def mark(log: str, number: int, generated: int, written: int) -> Bookmark:
    """The bookmark of a log whose newest record is ``number``."""
    return Bookmark(log=log, record_id=number, time=iso_seconds(generated), epoch=epoch(written))


def resumed(
    session: Reads, log: OpenLog, decoder: Decoder, bookmark: Bookmark | None
) -> tuple[Decoder, str | None]:
    """The decoder that reads only what came after the bookmark, or the decoder as it was and
    a note saying why the bookmark could not be used."""
    if bookmark is None or bookmark.record_id is None:
        return decoder, None
    problem = _changed(session, log, bookmark)
    if problem is not None:
        return decoder, f"{problem}; read from --since instead"
    query = dataclasses.replace(decoder.query, since=None)
    wanted = dataclasses.replace(decoder.wanted, since=None)
    after = dataclasses.replace(
        decoder, query=query, wanted=wanted, stop_before=None, after=bookmark.record_id
    )
    return after, None


def _changed(session: Reads, log: OpenLog, bookmark: Bookmark) -> str | None:
    wanted = bookmark.record_id
    assert wanted is not None
    newest = log.oldest + log.count - 1
    if log.count == 0 or newest < wanted:
        return f"log {log.name!r} cleared: its records end below the bookmark ({wanted})"
    if wanted < log.oldest:
        return f"log {log.name!r} wrapped past the bookmark: record {wanted} was overwritten"
    header = _header(session, log, wanted)
    if header is None or header[2] != wanted:
        return f"log {log.name!r} cleared or replaced: record {wanted} is gone"
    if bookmark.epoch and bookmark.epoch != epoch(header[4]):
        return f"log {log.name!r} cleared or replaced: record {wanted} is another record"
    return None


def _header(session: Reads, log: OpenLog, number: int) -> tuple[int, ...] | None:
    """The header of record ``number`` (one seek read), or None when the server has none."""
    size = PROBE
    while True:
        reply = session.read(log, BACKWARDS | SEEK, number, size)
        if reply.status == STATUS_BUFFER_TOO_SMALL and size < reply.needed <= MAX_READ:
            size = reply.needed
            continue
        if reply.status != STATUS_SUCCESS or len(reply.buffer) < HEADER.size:
            return None
        header = HEADER.unpack_from(reply.buffer, 0)
        return header if header[1] == SIGNATURE else None
