"""A kept ``journalctl --follow`` (``eventsweep follow``): one session per target, new entries
held as they arrive until the next round takes them.

A :class:`Feed` runs in a task of its own: it opens a session (an SSH connection, or nothing
for the local journal), runs the command :func:`~.command.follow_argv` builds and keeps every
complete line it prints. The first run starts after the bookmark's cursor, else at the
``--since`` window. When the stream ends (the connection dropped, the host or journalctl went
away), the feed reports the failure, waits (``retry(failures)`` seconds) and starts again from
the last entry it received, by cursor: the first line must be that entry (it is dropped), so no
entry is lost and none comes twice. A cursor the journal no longer holds (vacuumed, replaced)
is said in a note and the window is read instead, as ``--new`` does.

A round of ``follow`` reads :meth:`Feed.arrived`, a source like any other for the one sweep
call: what arrived since the last round, as events that pass the query, the last entry's
cursor as its bookmark (so the store keeps it with the events), the notes, and the failure
while the stream is down. ``notify`` is called whenever there is something to take.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from eventsweep.errors import ReadError, TargetError, first_line
from eventsweep.model import Bookmark, Event, Query, TargetStatus
from eventsweep.sources.journald import resume
from eventsweep.sources.journald.command import Journalctl, check_exit, follow_argv
from eventsweep.sources.journald.stream import CHUNK, Process, Starter, encoded

Opener = Callable[[], AbstractAsyncContextManager[Starter]]
"""Opens one session to the host (connects); its Starter runs commands over it."""

STEADY = 1.0  # seconds a stream must run (or one line arrive) before it counts as back up


@dataclass(frozen=True, slots=True)
class Taken:
    """What a round takes from a feed: lines in the order written, notes, the failure if the
    stream is down (``failures`` in a row, the next try in ``retry_in`` seconds)."""

    lines: list[bytes]
    notes: list[str]
    down: TargetError | None
    failures: int
    retry_in: float


class _Gone(Exception):
    """The bookmarked entry is not the first line: the journal no longer holds it."""


class Journald(Protocol):
    """A journal source, as a feed needs it (``ssh://``, ``journal:``)."""

    @property
    def target(self) -> str: ...

    @property
    def computer(self) -> str: ...

    @property
    def journalctl(self) -> Journalctl: ...


class Feed:
    """One target's kept ``journalctl --follow``; :meth:`run` is its task, :meth:`arrived` the
    source a round reads."""

    def __init__(
        self,
        source: Journald,
        open_session: Opener,
        query: Query,
        after: Bookmark | None,
        retry: Callable[[int], float],
        notify: Callable[[], None],
    ) -> None:
        self.source = source
        self.open_session = open_session
        self.journalctl = source.journalctl
        self.query = query
        self.mark = after if after is not None and after.cursor else None  # resume after it
        self.retry = retry
        self.notify = notify
        self.sessions = 0  # sessions opened (connections, for ssh://)
        self.failures = 0
        self.retry_in = 0.0
        self.down: TargetError | None = None
        self._lines: list[bytes] = []
        self._notes: list[str] = []
        self._reported = True  # the current failure was taken by a round

    def has_news(self) -> bool:
        return bool(self._lines or self._notes or not self._reported)

    def take(self) -> Taken:
        """What arrived since the last take; the failure only once the lines are taken."""
        lines, notes = self._lines, self._notes
        self._lines, self._notes = [], []
        down = self.down if not lines else None
        if down is not None:
            self._reported = True
        return Taken(lines, notes, down, self.failures, self.retry_in)

    def arrived(self) -> Arrived:
        """This round's source: what the feed holds now, taken when the round reads it."""
        return Arrived(self.source.target, self)

    async def run(self) -> None:
        """Follow until cancelled: every ended stream is a failure, retried after a wait."""
        while True:
            try:
                await self._session()
                raise ReadError("journalctl --follow ended")
            except _Gone:
                continue  # at once, from the window (the note says so)
            except TargetError as exc:
                self._failed(exc)
            except (OSError, EOFError) as exc:
                self._failed(ReadError(f"connection lost: {first_line(str(exc)) or repr(exc)}"))
            await asyncio.sleep(self.retry_in)

    def _failed(self, error: TargetError) -> None:
        self.failures += 1
        self.retry_in = self.retry(self.failures)
        self.down, self._reported = error, False
        self.notify()

    def _up(self) -> None:
        """The stream works again: a note, once, after failures."""
        if self.down is None:
            return
        self._notes.append(
            f"reconnected after {self.failures} failure(s) in a row:"
            " following again after the last entry received"
        )
        self.down, self._reported, self.failures = None, True, 0
        self.notify()

    async def _session(self) -> None:
        cursor = self.mark.cursor if self.mark is not None else None
        argv = follow_argv(self.query, self.journalctl, cursor)
        if argv is None:  # no entry can match: nothing to run, ever
            await asyncio.Event().wait()
            return
        async with self.open_session() as start:
            self.sessions += 1
            async with start(argv) as process:
                steady = asyncio.get_running_loop().call_later(STEADY, self._up)
                try:
                    await self._stream(process, self.mark)
                finally:
                    steady.cancel()
                code, stderr = await process.finish()
        check_exit(code, stderr, self.journalctl)

    async def _stream(self, process: Process, expected: Bookmark | None) -> None:
        async for lines in complete_lines(process):
            if expected is not None:
                found = resume.bookmark_of(lines[0])
                if found is None or found.cursor != expected.cursor:
                    self._gone(expected)
                expected, lines = None, lines[1:]
            if lines:
                self._up()
                self._keep(lines)

    def _keep(self, lines: list[bytes]) -> None:
        self.mark = resume.bookmark_of(lines[-1]) or self.mark
        self._lines.extend(lines)
        self.notify()

    def _gone(self, mark: Bookmark) -> None:
        self._notes.append(resume.gone(mark))
        self.mark = None
        self.notify()
        raise _Gone


@dataclass(frozen=True, slots=True)
class Arrived:
    """A followed target in one round (a :class:`~eventsweep.sources.Source`): the entries its
    feed received since the last round, as events that pass the query (newest first, as every
    source yields them), the last entry's cursor as the bookmark; the failure while down."""

    target: str
    feed: Feed

    async def events(self, query: Query, status: TargetStatus) -> AsyncGenerator[list[Event], None]:
        taken = self.feed.take()
        for text in taken.notes:
            status.warn(text, 0, partial=False)
        if taken.lines:
            computer = self.feed.source.computer
            events = encoded(taken.lines, self.target, computer, query, status)
            mark = resume.bookmark_of(taken.lines[-1])
            if mark is not None:
                status.bookmark(mark)
            events.reverse()
            if events:
                yield events
        if taken.down is not None:
            raise taken.down


async def complete_lines(process: Process) -> AsyncIterator[list[bytes]]:
    """stdout's complete, non-blank lines, as they arrive; a line cut short by the end of the
    stream (a dropped connection) is left out: it comes again, whole, after the cursor."""
    rest = b""
    while chunk := await process.read(CHUNK):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        kept = [line for line in lines if line.strip()]
        if kept:
            yield kept
