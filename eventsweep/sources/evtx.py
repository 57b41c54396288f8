"""The .evtx source: files, directories and globs of Windows event log files on disk.

A directory stands for every ``.evtx`` file below it and a glob for the files it matches; each
file is a target of its own with its own outcome. Links are followed, each real file once
(:attr:`EvtxSource.identity`) and each real directory once, so a link loop ends. A window query
reads only the chunks it needs (:mod:`eventsweep.formats.evtx.index`); the chunks are parsed in
worker processes in groups, newest first, a few groups per core ahead of the consumer, so one
big file keeps every core busy.
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from eventsweep.batch import Batch
from eventsweep.concurrency import cores, process_slots, run_in_process, run_in_thread
from eventsweep.errors import OpenError
from eventsweep.formats.evtx.index import ChunkSlot, NotEvtx, choose, scan, since
from eventsweep.model import Bookmark, EncodedEvent, Event, Query, TargetStatus, now_iso
from eventsweep.sources import Source, evtx_resume
from eventsweep.sources.evtx_worker import Group, parse_group

if TYPE_CHECKING:
    from eventsweep.detect.workers import RuleRef

GROUP = 8  # most chunks a worker parses at once (512 KiB, ~500-2,000 records)
# A lone target's selection up to this many chunks (a window, mostly) is parsed in threads: a
# cold process pool costs ~0.15 s to start and as much to stop, and a chunk ~1.2 ms of CPU to
# parse, so two workers only win past ~500 chunks. Measured on the shared 2-core machine at load
# ~7, the 1 GB demo file's last hour (374 chunks, the slack included) took 0.63× the pool's wall
# time in threads, an hour three days back (279) 0.74×, its last 2 h (435) 0.95×, 4 h (559)
# 0.87×, 8 h (808) 1.13×.
IN_THREAD = 512
# Events handed on at once when other targets are read too: the engine keeps the last list of
# each target it reads until that target's next one, and many targets wait at once (64 × 128
# events: ~7 MB).
HANDED = 128
_GLOB = frozenset("*?[")
_LATE = (
    "{} record(s) read were written over an hour before or after their creation time: a window"
    " can miss records like them elsewhere in the file (--exact parses every chunk)"
)
_DAMAGED = "{} record(s) with a damaged value skipped"
_RETIMED = "{} record(s) with a damaged TimeCreated: their write time is used"
_active = [0]  # .evtx targets being read now: a lone small read skips the process pool

Identity = tuple[int, int]  # a real file: (st_dev, st_ino)
_Read = TypeVar("_Read")


@dataclass(frozen=True, slots=True)
class EvtxOptions:
    """The .evtx source's own settings."""

    exact: bool = False  # parse every chunk, whatever the window (see the README)
    # a hunt's rule set, matched in the workers that parse (None: the events go to the parent
    # as they are); ``every`` False: only the events some rule matched come back
    rules: RuleRef | None = None
    every: bool = True


@dataclass(frozen=True, slots=True)
class EvtxSource:
    """One .evtx file. ``target`` is the path as the user gave it, or as found below it;
    ``path`` the real path (links resolved); ``identity`` the real file, which a sweep reads
    once however many paths lead to it."""

    target: str
    path: str
    exact: bool = False
    identity: Identity | None = field(default=None, compare=False)
    rules: RuleRef | None = field(default=None, compare=False)  # see EvtxOptions
    every: bool = True

    async def events(
        self, query: Query, status: TargetStatus
    ) -> AsyncGenerator[Event | list[Event] | Batch, None]:
        _active[0] += 1
        try:
            alone = _active[0] == 1
            resume = status.resume_after(evtx_resume.LOG)  # --new: after the bookmark
            read = await run_in_thread(_plan_read, self.path, query, self.exact, resume)
            groups, damaged, begun = read
            if damaged:
                status.warn(f"{damaged} damaged chunk slot(s) skipped", damaged)
            query = begun.query(query)
            in_thread = alone and sum(map(len, groups)) <= IN_THREAD
            hunt = _Hunt(self.rules, self.every) if self.rules and query.limit is None else NO_HUNT
            results = (_in_thread if in_thread else _parse)(self, groups, query, begun.after, hunt)
            late = 0
            async for result in results:
                _warn(status, result)
                status.passed += result.passed
                late += result.late
                if result.detections is None:  # the block as the worker made it, handed on
                    block = Batch.encoded(result.times, result.lines)
                    del result
                    yield block
                    del block
                    continue
                events = _events(result)
                del result  # held no longer than its events: many targets wait at once
                step = len(events) if alone else HANDED
                for at in range(0, len(events), step or 1):
                    yield events[at : at + step]
                del events
            if late and not self.exact:
                status.warn(_LATE.format(late), 0, partial=False)
            evtx_resume.report(status, begun)
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
    options = options or EvtxOptions()
    if os.path.isdir(path):
        found = _each(_below(path, set()), options)
        return found or [MissingSource(text, f"no .evtx file in directory {path}")]
    if os.path.exists(path):
        return [_source(text, path, options)]
    if _GLOB & set(path):
        found = _each(_expand(path), options)
        return found or [MissingSource(text, f"no .evtx file matches {path}")]
    return [MissingSource(text, f"no such file or directory: {path}")]


def _source(target: str, path: str, options: EvtxOptions) -> EvtxSource:
    exact, rules, every = options.exact, options.rules, options.every
    try:
        info = os.stat(path)
    except OSError:  # opening it will say what is wrong
        return EvtxSource(target, path, exact, None, rules, every)
    identity = (info.st_dev, info.st_ino)
    return EvtxSource(target, os.path.realpath(path), exact, identity, rules, every)


def _each(files: list[str], options: EvtxOptions) -> list[Source]:
    """One source per real file, the first path found to it kept."""
    sources: list[Source] = []
    seen: set[Identity | None] = set()
    for file in files:
        source = _source(file, file, options)
        if source.identity is None or source.identity not in seen:
            seen.add(source.identity)
            sources.append(source)
    return sources


def _below(directory: str, visited: set[Identity]) -> list[str]:
    """Every .evtx file below a directory, sorted; links followed, each real directory once
    (``visited``: the real directories already walked, shared by the caller's walks)."""
    found: list[str] = []
    for folder in _tree(directory, visited, hidden=True):
        found.extend(
            os.path.join(folder, entry.name)
            for entry in _entries(folder)
            if entry.name.lower().endswith(".evtx") and not _is_dir(entry)
        )
    return sorted(found)


def _tree(root: str, visited: set[Identity], hidden: bool) -> Iterator[str]:
    """A directory and every directory below it, links followed, each real directory once
    (hidden ones left out unless ``hidden``, as glob's ``**`` does)."""
    if not os.path.isdir(root) or not _first_visit(root, visited):
        return
    stack = [root]
    while stack:
        folder = stack.pop()
        yield folder
        for entry in _entries(folder):
            path = os.path.join(folder, entry.name)
            if (hidden or entry.name[0] != ".") and _is_dir(entry) and _first_visit(path, visited):
                stack.append(path)


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []  # unreadable: as os.walk, left out


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _first_visit(directory: str, visited: set[Identity]) -> bool:
    try:
        info = os.stat(directory)
    except OSError:
        return False
    key = (info.st_dev, info.st_ino)
    if key in visited:
        return False
    visited.add(key)
    return True


def _expand(pattern: str) -> list[str]:
    """The files a glob matches, and the .evtx files below the directories it matches."""
    files: list[str] = []
    visited: set[Identity] = set()
    for match in sorted(set(_matches(pattern))):
        files.extend(_below(match, visited) if os.path.isdir(match) else [match])
    return files


def _matches(pattern: str) -> Iterator[str]:
    """What a glob matches, ``**`` standing for any directories below. ``**`` is walked here,
    each real directory once, rather than by :mod:`glob`, which follows a link loop until the
    path grows too long (one file matched some forty times; forever with two loops)."""
    parts = pattern.split(os.sep)
    if "**" not in parts:
        yield from glob.iglob(pattern)
        return
    at = parts.index("**")
    head, rest = os.sep.join(parts[:at]), os.sep.join(parts[at + 1 :])
    if at and not head:
        head = os.sep  # "/**/…"
    roots = glob.glob(head) if glob.has_magic(head) else [head or os.curdir]
    visited: set[Identity] = set()
    for root in roots:
        for found in _tree(root, visited, hidden=False):
            folder = found if head else os.path.relpath(found)  # "a/b", as glob says it
            if not rest:
                yield folder
            elif folder == os.curdir and not head:
                yield from _matches(rest)
            else:
                yield from _matches(os.path.join(glob.escape(folder), rest))


def _plan_read(
    path: str, query: Query, exact: bool, resume: Bookmark | None = None
) -> tuple[list[list[ChunkSlot]], int, evtx_resume.Start]:
    """The groups of chunks to parse, newest first, how many chunk slots are damaged, and where
    the read starts (``--new``). Groups are at most GROUP chunks, and small enough that every
    core gets a few."""
    selected, damaged, start = evtx_resume.plan(
        path,
        query,
        resume,
        lambda: _choose(path, query, exact),
        lambda: _choose(path, query, True),
        lambda record_id: _indexed(path, lambda: since(path, record_id)),
    )
    size = max(1, min(GROUP, -(-len(selected) // (4 * cores()))))
    groups = [selected[at : at + size] for at in range(0, len(selected), size)]
    return groups, damaged, start


def _choose(path: str, query: Query, exact: bool) -> tuple[list[ChunkSlot], int]:
    """:func:`~eventsweep.formats.evtx.index.choose`, with its failures as the target's open
    error."""
    return _indexed(path, lambda: scan(path) if exact else choose(path, query.since, query.until))


def _indexed(path: str, read: Callable[[], _Read]) -> _Read:
    """What ``read()`` finds in the chunk index of ``path``, its failures as the target's open
    error."""
    if not os.path.isfile(path):
        raise OpenError("not a regular file")
    try:
        return read()
    except NotEvtx as exc:
        raise OpenError(str(exc)) from exc
    except OSError as exc:
        raise OpenError(f"cannot read {path}: {exc.strerror or exc}") from exc


class _Hunt(NamedTuple):
    """What a hunt asks of each group: its rule set, and whether every event comes back."""

    rules: RuleRef | None
    every: bool


NO_HUNT = _Hunt(None, True)


async def _in_thread(
    source: EvtxSource,
    groups: list[list[ChunkSlot]],
    query: Query,
    after: int | None = None,
    hunt: _Hunt = NO_HUNT,
) -> AsyncGenerator[Group, None]:
    """Parse the groups one after the other in a thread (see IN_THREAD)."""
    for group in groups:
        yield await run_in_thread(
            parse_group, source.path, group, query, source.target, now_iso(), after, *hunt
        )


def _events(result: Group) -> list[Event]:
    lines = result.lines.splitlines(keepends=True)
    if result.detections is not None:
        from eventsweep.detect.workers import MatchedEvent

        return list(map(MatchedEvent, result.times, lines, result.detections))
    return list(map(EncodedEvent, result.times, lines))


def _warn(status: TargetStatus, result: Group) -> None:
    """What went wrong in a group, before its events are handed on (a consumer with enough
    events may stop right after)."""
    if result.errors:
        status.warn(f"{result.errors} record(s) or chunk(s) skipped by the parser", result.errors)
    if result.damaged:
        status.warn(_DAMAGED.format(result.damaged), result.damaged)
    if result.retimed:
        status.warn(_RETIMED.format(result.retimed), result.retimed)


async def _parse(
    source: EvtxSource,
    groups: list[list[ChunkSlot]],
    query: Query,
    after: int | None = None,
    hunt: _Hunt = NO_HUNT,
) -> AsyncGenerator[Group, None]:
    """Parse the groups in worker processes, a few ahead, yielding results in order.

    Every submitted group holds one of the shared process slots until its result has been
    handed on, so the whole sweep keeps at most two results per core in memory.
    """
    slots, ahead = process_slots(), 2 * cores()
    pending: list[asyncio.Future[Group]] = []
    queue = iter(groups)
    try:
        while True:
            while len(pending) < ahead and not (pending and slots.locked()):
                group = next(queue, None)
                if group is None:
                    break
                await slots.acquire()
                pending.append(asyncio.ensure_future(_submit(source, group, query, after, hunt)))
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
    source: EvtxSource,
    group: list[ChunkSlot],
    query: Query,
    after: int | None = None,
    hunt: _Hunt = NO_HUNT,
) -> Group:
    return await run_in_process(
        parse_group, source.path, group, query, source.target, now_iso(), after, *hunt
    )
