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
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from eventsweep.concurrency import cores, run_in_process, run_in_thread
from eventsweep.errors import OpenError
from eventsweep.model import Event, Query, TargetStatus, now_iso
from eventsweep.sources import Settings, Source
from eventsweep.sources.evtx_layout import Chunk, NotEvtx, chunks, read_header, select
from eventsweep.sources.evtx_worker import EventTuple, parse_chunks

GROUP = 16  # chunks a worker parses at once (~1 MiB, ~1-2k records)
_GLOB = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class EvtxSource:
    """One .evtx file. ``target`` is the path as the user gave it, or as found below it."""

    target: str
    path: str

    async def events(self, query: Query, status: TargetStatus) -> AsyncGenerator[Event, None]:
        await run_in_thread(_check, self.path)
        damaged = await run_in_thread(_damaged, self.path)
        if damaged:
            status.warn(f"{damaged} damaged chunk slot(s) skipped", damaged)
        groups = await run_in_thread(_groups, self.path, query)
        async for batch in _parse(self, groups, query, status):
            for fields in batch:
                yield Event(*fields)


@dataclass(frozen=True, slots=True)
class MissingSource:
    """A target that names no file: it ends as an error, the others go on."""

    target: str
    reason: str

    async def events(self, query: Query, status: TargetStatus) -> AsyncGenerator[Event, None]:
        raise OpenError(self.reason)
        yield  # pragma: no cover - makes this an async generator


def plan(text: str, settings: Settings) -> Sequence[Source]:
    """A file, a directory (every .evtx below it) or a glob, as sources, sorted by path."""
    path = text.removeprefix("evtx:")
    if os.path.isdir(path):
        return _each(_below(path)) or [MissingSource(text, f"no .evtx file in directory {path}")]
    if os.path.exists(path):
        return [EvtxSource(text, path)]
    if _GLOB & set(path):
        files = _expand(path)
        return _each(files) or [MissingSource(text, f"no .evtx file matches {path}")]
    return [MissingSource(text, f"no such file or directory: {path}")]


def _each(files: list[str]) -> list[Source]:
    return [EvtxSource(file, file) for file in files]


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


def _check(path: str) -> None:
    if not os.path.isfile(path):
        raise OpenError("not a regular file")
    try:
        read_header(path)
    except NotEvtx as exc:
        raise OpenError(str(exc)) from exc
    except OSError as exc:
        raise OpenError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _damaged(path: str) -> int:
    return chunks(path)[1]


def _groups(path: str, query: Query) -> list[list[Chunk]]:
    selected: Iterator[Chunk] = select(path, query.since, query.until)
    groups = []
    while batch := list(islice(selected, GROUP)):
        groups.append(batch)
    return groups


async def _parse(
    source: EvtxSource, groups: list[list[Chunk]], query: Query, status: TargetStatus
) -> AsyncGenerator[list[EventTuple], None]:
    """Parse the groups in worker processes, a few ahead, yielding results in order."""
    ahead = max(2, cores())
    pending: list[asyncio.Future[tuple[list[EventTuple], int, int]]] = []
    queue = iter(groups)
    try:
        while True:
            while len(pending) < ahead and (group := next(queue, None)) is not None:
                pending.append(
                    asyncio.ensure_future(
                        run_in_process(
                            parse_chunks, source.path, group, query, source.target, now_iso()
                        )
                    )
                )
            if not pending:
                return
            found, skipped, _ = await pending.pop(0)
            if skipped:
                status.warn(
                    f"{skipped} damaged record(s) or chunk(s) skipped by the parser", skipped
                )
            yield found
    finally:
        for future in pending:
            future.cancel()
