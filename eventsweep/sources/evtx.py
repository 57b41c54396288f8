"""The .evtx source: files, directories and globs of Windows event log files on disk.

A directory stands for every ``.evtx`` file below it and a glob for the files it matches; each
file is a target of its own with its own outcome. A window query reads only the chunks it needs
(:mod:`eventsweep.sources.evtx_layout`); the chunks are parsed in worker processes in groups,
newest first, a few groups ahead of the consumer.
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from eventsweep.concurrency import cores, process_slots, run_in_process, run_in_thread
from eventsweep.errors import OpenError
from eventsweep.model import Bookmark, EncodedEvent, Event, Query, TargetStatus, now_iso
from eventsweep.sources import Source, evtx_resume
from eventsweep.sources.evtx_layout import Chunk, NotEvtx, chunks, select
from eventsweep.sources.evtx_worker import Parsed, parse_chunks

GROUP = 8  # chunks a worker parses at once (512 KiB, ~500-1,000 records)
IN_THREAD = 2 * GROUP  # a selection this small is parsed in a thread: no process start-up
_GLOB = frozenset("*?[")
_LATE = (
    "{} record(s) read were written over an hour before or after their creation time: a window"
    " can miss records like them elsewhere in the file (--exact parses every chunk)"
)
_active = [0]  # .evtx targets being read now: a lone small read skips the process pool


@dataclass(frozen=True, slots=True)
class EvtxOptions:
    """The .evtx source's own settings."""

    exact: bool = False  # parse every chunk, whatever the window (see the README)


@dataclass(frozen=True, slots=True)
class EvtxSource:
    """One .evtx file. ``target`` is the path as the user gave it, or as found below it."""

    target: str
    path: str
    exact: bool = False

    async def events(
        self, query: Query, status: TargetStatus
    ) -> AsyncGenerator[Event | list[Event], None]:
        _active[0] += 1
        try:
            alone = _active[0] == 1
            resume = status.resume_after(evtx_resume.LOG)
            read = await run_in_thread(
                _plan_read, self.path, query, self.target, alone, self.exact, resume
            )
            groups, damaged, parsed, start = read
            if damaged:
                status.warn(f"{damaged} damaged chunk slot(s) skipped", damaged)
            query = start.query(query)
            results = _parse(self, groups, query, start.after) if parsed is None else _one(parsed)
            late = 0
            async for result in results:
                _warn_skipped(status, result.errors)
                late += result.late
                yield [EncodedEvent(time, line) for time, line in result.events]
            if late and not self.exact:
                status.warn(_LATE.format(late), 0, partial=False)
            evtx_resume.report(status, start)
        finally:
            _active[0] -= 1


@dataclass(frozen=True, slots=True)
class MissingSource:
    """A target that names no file: it ends as an error, the others go on."""

    target: str
    reason: str

    async def events(self, query: Query, status: TargetStatus) -> AsyncGenerator[Event, None]:
        raise OpenError(self.reason)
        yield  # pragma: no cover - makes this an async generator


SCHEME = "evtx:"  # optional before a path; any case, as every scheme


def plan(text: str, options: EvtxOptions | None) -> Sequence[Source]:
    """A file, a directory (every .evtx below it) or a glob, as sources, sorted by path."""
    path = text[len(SCHEME) :] if text[: len(SCHEME)].lower() == SCHEME else text
    exact = (options or EvtxOptions()).exact
    if os.path.isdir(path):
        found = _each(_below(path), exact)
        return found or [MissingSource(text, f"no .evtx file in directory {path}")]
    if os.path.exists(path):
        return [EvtxSource(text, path, exact)]
    if _GLOB & set(path):
        found = _each(_expand(path), exact)
        return found or [MissingSource(text, f"no .evtx file matches {path}")]
    return [MissingSource(text, f"no such file or directory: {path}")]


def _each(files: list[str], exact: bool) -> list[Source]:
    return [EvtxSource(file, file, exact) for file in files]


def _below(directory: str) -> list[str]:
    found = [
        os.path.join(root, name)
        for root, _, names in os.walk(directory)
        for name in names
        if name.lower().endswith(".evtx")
    ]
    return sorted(found)


def _expand(pattern: str) -> list[str]:
    files: list[str] = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        files.extend(_below(match) if os.path.isdir(match) else [match])
    return files


def _scan(path: str) -> tuple[list[Chunk], int]:
    """:func:`chunks`, with its failures as the target's open error."""
    if not os.path.isfile(path):
        raise OpenError("not a regular file")
    try:
        return chunks(path)
    except NotEvtx as exc:
        raise OpenError(str(exc)) from exc
    except OSError as exc:
        raise OpenError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _plan_read(
    path: str,
    query: Query,
    target: str,
    alone: bool,
    exact: bool,
    resume: Bookmark | None = None,
) -> tuple[list[list[Chunk]], int, Parsed | None, evtx_resume.Start]:
    """The groups of chunks to parse, newest first, and how many chunk slots are damaged.

    A lone target whose window needs few chunks is parsed right here, in the same thread:
    starting worker processes would cost more than the parse.
    """
    found, damaged = _scan(path)
    start = evtx_resume.start(path, found, resume)  # --new: after the bookmark, if it holds
    if start.chunks is not None:
        selected, query = start.chunks, start.query(query)
    else:
        selected = found if exact else list(select(path, query.since, query.until, found))
    if alone and len(selected) <= IN_THREAD:
        parsed = parse_chunks(path, selected, query, target, now_iso(), start.after)
        return [], damaged, parsed, start
    groups = [selected[at : at + GROUP] for at in range(0, len(selected), GROUP)]
    return groups, damaged, None, start


async def _one(parsed: Parsed) -> AsyncGenerator[Parsed, None]:
    yield parsed


def _warn_skipped(status: TargetStatus, skipped: int) -> None:
    if skipped:
        status.warn(f"{skipped} record(s) or chunk(s) skipped by the parser", skipped)


async def _parse(
    source: EvtxSource, groups: list[list[Chunk]], query: Query, after: int | None = None
) -> AsyncGenerator[Parsed, None]:
    """Parse the groups in worker processes, a few ahead, yielding results in order.

    Every submitted group holds one of the shared process slots until its result has been
    handed on, so the whole sweep keeps at most two results per core in memory.
    """
    slots, ahead = process_slots(), max(2, cores())
    pending: list[asyncio.Future[Parsed]] = []
    queue = iter(groups)
    try:
        while True:
            while len(pending) < ahead and not (pending and slots.locked()):
                group = next(queue, None)
                if group is None:
                    break
                await slots.acquire()
                pending.append(asyncio.ensure_future(_submit(source, group, query, after)))
            if not pending:
                return
            yield await pending[0]
            pending.pop(0)
            slots.release()
    finally:
        for future in pending:
            future.cancel()
            slots.release()


async def _submit(
    source: EvtxSource, group: list[Chunk], query: Query, after: int | None = None
) -> Parsed:
    return await run_in_process(
        parse_chunks, source.path, group, query, source.target, now_iso(), after
    )
