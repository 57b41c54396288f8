"""``--new`` for journald (ssh:// and journal:): bookmarks are journal cursors.

A host's bookmark is the newest entry journalctl returned: its cursor (``__CURSOR``: the
journal's seqnum id, the entry's seqnum, boot id, times), its sequence number and time. The
next read runs ``journalctl --cursor=C`` on the host (built by
:func:`~eventsweep.sources.command.build_argv`): oldest first from the bookmarked entry
itself, so that its presence is checked with no extra round trip. The first line must be that
entry: then the lines after it are what arrived since (journalctl's ``--after-cursor`` would skip
the check: a cursor the journal no longer holds, after a rotation, a vacuum or a new seqnum id,
silently starts at the nearest entry). They are filtered by the whole query here (no
``--since``, priority or source matches are pushed: journalctl positions a cursor read on the
first *matching* entry, which would hide the check) and handed on newest first, as every
source does (held in memory meanwhile: what arrived since the last sweep).

When the first line is not the bookmarked entry, a note says so and the host is read as if it
had no bookmark (the ``--since`` window).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import orjson

from eventsweep.model import Bookmark, Event, Query, TargetStatus, iso_from_epoch_us

if TYPE_CHECKING:
    from eventsweep.sources.journald.command import Journalctl
    from eventsweep.sources.journald.stream import Starter

LOG = "journal"


def bookmark_of(line: bytes) -> Bookmark | None:
    """The bookmark a journalctl JSON line stands for (None if it holds no cursor)."""
    from eventsweep.sources.journald.mapping import record_id

    try:
        record: Any = orjson.loads(line)
        cursor = record["__CURSOR"]
        time = iso_from_epoch_us(int(record["__REALTIME_TIMESTAMP"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not isinstance(cursor, str):
        return None
    number = record_id(record)
    return Bookmark(log=LOG, record_id=number, cursor=cursor, time=time, epoch=epoch(cursor))


def epoch(cursor: str) -> str:
    """The journal's seqnum id in a cursor (``s=…``): what its sequence numbers count in."""
    for part in cursor.split(";"):
        if part.startswith("s="):
            return part
    return ""


class Newest:
    """Notes the first entry of a newest-first read: the bookmark reported at its end."""

    __slots__ = ("mark", "seen")

    def __init__(self) -> None:
        self.mark: Bookmark | None = None
        self.seen = False

    def see(self, lines: list[bytes]) -> None:
        if self.seen:
            return
        for line in lines:
            if line.strip():
                self.seen = True
                self.mark = bookmark_of(line)
                return

    def report(self, status: TargetStatus) -> None:
        if self.mark is not None:
            status.bookmark(self.mark)


async def after(
    start: Starter,
    journalctl: Journalctl,
    target: str,
    computer: str,
    query: Query,
    status: TargetStatus,
    mark: Bookmark,
) -> AsyncGenerator[list[Event], None]:
    """What came after the bookmark, newest first; nothing, and a note, when the bookmarked
    entry is gone (the caller then reads the window: see :func:`gone`)."""
    from eventsweep.sources.journald import command, stream

    assert mark.cursor is not None
    query = dataclasses.replace(query, since=None)  # everything after the bookmark
    argv = command.build_argv(query, journalctl, cursor=mark.cursor)
    if argv is None:
        return
    held: list[Event] = []
    last: bytes | None = None
    checked = False
    async with start(argv) as process:
        async for lines in stream.line_batches(process):
            lines = [line for line in lines if line.strip()]
            if not lines:
                continue
            if not checked:
                checked = True
                found = bookmark_of(lines[0])
                if found is None or found.cursor != mark.cursor:
                    status.resume.pop(LOG, None)
                    status.warn(gone(mark), 0, partial=False)
                    return
                lines = lines[1:]
            if lines:
                last = lines[-1]
                held.extend(stream.encoded(lines, target, computer, query, status))
        code, stderr = await process.finish()
    command.check_exit(code, stderr, journalctl)
    stream.note(status, stderr)
    if not checked:  # not even the bookmarked entry: it is gone
        status.resume.pop(LOG, None)
        status.warn(gone(mark), 0, partial=False)
        return
    status.bookmark(bookmark_of(last) or mark if last is not None else mark)
    held.reverse()
    if held:
        yield held


def gone(mark: Bookmark) -> str:
    return (
        "journal rotated, vacuumed or replaced: the bookmarked entry"
        f" ({mark.epoch or 'no seqnum id'}, seqnum {mark.record_id}) is gone;"
        " read from --since instead"
    )


def resuming(status: TargetStatus) -> Bookmark | None:
    """The bookmark to resume after, if the caller gave one with a cursor."""
    mark = status.resume_after(LOG)
    return mark if mark is not None and mark.cursor else None
