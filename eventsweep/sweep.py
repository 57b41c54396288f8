"""The fan-out: one query against many sources at once, one outcome per target.

Each source runs in its own task under a semaphore (``concurrency``) and a deadline
(``timeout``) that bounds the whole target once it starts. Events go into a per-target
:class:`~eventsweep.spool.Spool`; the consumer reads them grouped by target (targets in the
order given) or merged into one timeline, newest first, by a k-way merge over the spools.
A target never raises out of its task: every failure becomes its :class:`Outcome`.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from eventsweep.concurrency import reserve_threads
from eventsweep.errors import TargetError
from eventsweep.model import Event, Outcome, Query, TargetStatus
from eventsweep.sources import Source
from eventsweep.spool import Budget, Chunk, Spool

log = logging.getLogger(__name__)

GROUPS = ("target", "time")
REORDER = 512  # events held per target to put a nearly sorted stream in exact time order


@dataclass(slots=True)
class Progress:
    """Counters a progress display reads while the sweep runs."""

    total: int
    done: int = 0
    events: int = 0
    failures: int = 0


class Sweep:
    """Runs the sources; ``events()`` yields what they found, ``outcomes`` tells how each ended."""

    def __init__(
        self,
        sources: Sequence[Source],
        query: Query,
        *,
        concurrency: int = 64,
        timeout: float = 60.0,
        group: str = "target",
    ) -> None:
        if group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}")
        self.sources = list(sources)
        self.query = query
        self.timeout = timeout
        self.group = group
        self.progress = Progress(total=len(self.sources))
        self.outcomes: list[Outcome | None] = [None] * len(self.sources)
        budget = Budget()
        self._spools = [Spool(budget) for _ in self.sources]
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        reserve_threads(concurrency)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(index, source), name=f"sweep:{source.target}")
            for index, source in enumerate(self.sources)
        ]

    async def events(self) -> AsyncIterator[Event]:
        """Every event, in the chosen grouping; returns once every target has ended."""
        async for batch in self.batches():
            for event in batch:
                yield event

    async def batches(self) -> AsyncIterator[list[Event]]:
        """The same events as :meth:`events`, in the same order, a list at a time (grouped by
        target: as the sources delivered them; by time: one event per list)."""
        async for chunk in self._chunks(raw=False):
            assert type(chunk) is list
            yield chunk

    async def chunks(self) -> AsyncIterator[Chunk]:
        """:meth:`batches`, except that (grouped by target) a block of encoded events that
        waited on disk comes as its JSON Lines bytes, for a JSON Lines writer to write as is."""
        async for chunk in self._chunks(raw=True):
            yield chunk

    async def _chunks(self, raw: bool) -> AsyncIterator[Chunk]:
        if not self._tasks:
            self.start()
        try:
            if self.group == "target":
                for spool in self._spools:
                    async for chunk in spool.chunks() if raw else spool.batches():
                        yield chunk
            else:
                async for event in self._by_time():
                    yield [event]
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            for spool in self._spools:
                spool.release()

    def finished(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome is not None]

    async def _by_time(self) -> AsyncIterator[Event]:
        streams = [_reordered(spool) for spool in self._spools]
        heap: list[tuple[_Newest, int, Event]] = []
        for index, stream in enumerate(streams):
            await _push(heap, index, stream)
        while heap:
            _, index, event = heapq.heappop(heap)
            yield event
            await _push(heap, index, streams[index])

    async def _run(self, index: int, source: Source) -> None:
        async with self._semaphore:
            started = time.monotonic()
            status = TargetStatus()
            counter = [0]
            try:
                outcome = await self._read(source, status, index, counter, started)
            except Exception as exc:
                log.debug("target %s failed", source.target, exc_info=exc)
                outcome = _failed(source.target, exc, counter[0], status, started)
            finally:
                self._spools[index].close()
            self.outcomes[index] = outcome
            self.progress.done += 1
            self.progress.failures += outcome.status != "ok"

    async def _read(
        self, source: Source, status: TargetStatus, index: int, counter: list[int], started: float
    ) -> Outcome:
        spool, limit = self._spools[index], self.query.limit
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                async with aclosing(source.events(self.query, status)) as stream:
                    async for item in stream:
                        batch: list[Event] = item if isinstance(item, list) else [item]
                        if limit is not None:
                            batch = batch[: limit - counter[0]]
                        spool.extend(batch)
                        counter[0] += len(batch)
                        self.progress.events += len(batch)
                        if limit is not None and counter[0] >= limit:
                            break
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            raise TimeoutError(f"no end after {self.timeout:g}s") from exc
        state = "partial" if status.partial else "ok"
        return _outcome(source.target, state, counter[0], status, started)


class _Newest:
    """Heap key that puts the newest time first."""

    __slots__ = ("time",)

    def __init__(self, time: str) -> None:
        self.time = time

    def __lt__(self, other: _Newest) -> bool:
        return self.time > other.time


async def _reordered(spool: Spool, window: int = REORDER) -> AsyncIterator[Event]:
    """A spool's events newest first by time, exactly for any stream whose events stray fewer
    than ``window`` places from their sorted position (logs ordered by record number, clocks
    stepping back); ties keep their arrival order."""
    held: list[tuple[_Newest, int, Event]] = []
    order = 0
    async for batch in spool.batches():
        for event in batch:
            heapq.heappush(held, (_Newest(event.time), order, event))
            order += 1
            if len(held) > window:
                yield heapq.heappop(held)[2]
    while held:
        yield heapq.heappop(held)[2]


async def _push(
    heap: list[tuple[_Newest, int, Event]], index: int, stream: AsyncIterator[Event]
) -> None:
    event = await anext(stream, None)
    if event is not None:
        heapq.heappush(heap, (_Newest(event.time), index, event))


def _outcome(
    target: str,
    state: str,
    events: int,
    status: TargetStatus,
    started: float,
    error: str | None = None,
) -> Outcome:
    return Outcome(
        target=target,
        status=state,
        events=events,
        elapsed=time.monotonic() - started,
        warnings=status.warnings,
        error=error,
        notes=tuple(status.notes),
    )


def _failed(
    target: str, exc: BaseException, events: int, status: TargetStatus, started: float
) -> Outcome:
    if isinstance(exc, TimeoutError):
        return _outcome(
            target, "timeout", events, status, started, f"timeout: {exc or 'no answer'}"
        )
    state = "partial" if events else "error"
    if isinstance(exc, TargetError):
        return _outcome(target, state, events, status, started, str(exc))
    message = str(exc).splitlines()[0] if str(exc) else ""
    return _outcome(
        target, state, events, status, started, f"{type(exc).__name__}: {message}".rstrip(": ")
    )


async def collect(
    sources: Sequence[Source],
    query: Query,
    *,
    concurrency: int = 64,
    timeout: float = 60.0,
    group: str = "target",
) -> tuple[list[Event], list[Outcome]]:
    """Run a sweep to the end and return its events and outcomes (for tests and small sweeps)."""
    sweep = Sweep(sources, query, concurrency=concurrency, timeout=timeout, group=group)
    events = [event async for event in sweep.events()]
    return events, sweep.finished()
