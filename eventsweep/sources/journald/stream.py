"""The read both journal sources run (``ssh://`` over SSH, ``journal:`` here): look up source
names if filtered, start journalctl, stream its stdout line by line into events, check how it
ended. Memory stays flat in the result size. The process itself comes from the transport (a
:data:`Starter`): an SSH channel or a local subprocess.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from eventsweep.errors import first_line
from eventsweep.model import EncodedEvent, Event, Query, TargetStatus, now_iso
from eventsweep.sources.journald import resume
from eventsweep.sources.journald.command import (
    Journalctl,
    build_argv,
    check_exit,
    fields_argv,
    wanted_values,
)
from eventsweep.sources.journald.mapping import SOURCE_FIELDS, parse

CHUNK = 1 << 16
STDERR_KEPT = 1 << 14


class Process(Protocol):
    """A running journalctl, local or remote, as :func:`journal_events` needs it."""

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of stdout; ``b""`` at its end."""
        ...

    async def finish(self) -> tuple[int | None, str]:
        """Wait for the exit: the exit status (None if killed) and the start of stderr."""
        ...


Starter = Callable[[list[str]], AbstractAsyncContextManager[Process]]
"""Starts an argv on the host; leaving the context stops and reaps it."""


async def journal_events(
    start: Starter,
    journalctl: Journalctl,
    target: str,
    computer: str,
    query: Query,
    status: TargetStatus,
) -> AsyncGenerator[list[Event], None]:
    """The whole read of one host: look up source names if filtered, run, stream, check (the
    events a list at a time); with a bookmark, only what came after it (:mod:`.resume`)."""
    mark = resume.resuming(status)
    if mark is not None:
        resumed = resume.after(start, journalctl, target, computer, query, status, mark)
        async for events in resumed:
            yield events
        if resume.resuming(status) is not None:
            return  # read after the bookmark; else it was gone: the window is read
    found = await found_sources(start, journalctl, query)
    argv = build_argv(query, journalctl, found)
    if argv is None:
        return
    newest = resume.Newest()
    async with start(argv) as process:
        async for lines in line_batches(process):
            newest.see(lines)
            batch = encoded(lines, target, computer, query, status)
            if batch:
                yield batch  # the events that pass the query, as they arrive, a list per read
        code, stderr = await process.finish()
    check_exit(code, stderr, journalctl)
    note(status, stderr)
    newest.report(status)


async def found_sources(
    start: Starter, journalctl: Journalctl, query: Query
) -> list[tuple[str, str]]:
    """The exact (field, value) pairs on the host naming a wanted source (one ``-F`` run per
    source field, at once); none when the query has no source filter."""
    if not query.sources:
        return []

    async def lookup(field: str) -> list[tuple[str, str]]:
        async with start(fields_argv(journalctl, field)) as process:
            return wanted_values(query, field, await read_values(process, journalctl))

    results = await asyncio.gather(*map(lookup, SOURCE_FIELDS), return_exceptions=True)
    found: list[tuple[str, str]] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        found.extend(result)
    return found


async def line_batches(process: Process) -> AsyncIterator[list[bytes]]:
    """stdout's complete lines, a chunk's worth at a time."""
    rest = b""
    while chunk := await process.read(CHUNK):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield lines
    if rest:
        yield [rest]


def encoded(
    lines: list[bytes], target: str, computer: str, query: Query, status: TargetStatus
) -> list[Event]:
    """The events of a batch of lines that pass ``query``, each an
    :class:`~eventsweep.model.EncodedEvent` of the dict the record maps to: its JSON Lines
    text is written when an output (or the spool) first reads it, and a hunt reads the
    fields from the dict, without an Event in between (the hot loop of an ssh:// sweep)."""
    collected_at = now_iso()
    accepts = query.accepts
    batch: list[Event] = []
    append = batch.append
    for line in lines:
        if not line or line.isspace():
            continue
        fields = parse(line, target, computer, collected_at)
        if fields is None:
            status.warn(f"unreadable journal record: {line[:80]!r}")
        elif accepts(fields):
            append(EncodedEvent(fields["time"], None, fields))
    return batch


async def read_values(process: Process, journalctl: Journalctl) -> list[str]:
    """The lines of a ``journalctl -F`` run (every value a field takes)."""
    values: list[str] = []
    async for lines in line_batches(process):
        values.extend(line.decode("utf-8", "replace") for line in lines if line)
    code, stderr = await process.finish()
    check_exit(code, stderr, journalctl)
    return values


def note(status: TargetStatus, stderr: str) -> None:
    """Keep what a successful journalctl said on stderr (hints, skipped files) as a note."""
    line = first_line(stderr)
    if line:
        status.warn(f"journalctl: {line}", 0, partial=False)


async def drain_into(buffer: bytearray, stderr: Any) -> None:
    """Read a process's stderr to its end, keeping its first STDERR_KEPT bytes in ``buffer``
    (the rest is read and dropped, so the process never blocks on a full pipe)."""
    while chunk := await stderr.read(STDERR_KEPT):
        room = STDERR_KEPT - len(buffer)
        if room > 0:
            buffer.extend(chunk[:room])
