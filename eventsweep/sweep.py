"""The fan-out engine: one query against many sources at once, one outcome per target.

Each source runs in its own task under a semaphore (``concurrency``) and a deadline
(``timeout``) that bounds the whole target once it starts. Events go into a per-target
:class:`~eventsweep.spool.Spool`; :meth:`Sweep.items` hands them on grouped by target (targets
in the order given) or merged into one timeline, exactly newest first (an external sort:
:mod:`eventsweep.timeline`), each target's outcome after its
last event. What happens is pushed to listeners as it happens (:data:`Progress`). A target
never raises out of its task: every failure becomes its :class:`Outcome`. :meth:`Sweep.stop`
cuts the sweep short: targets not finished end as ``interrupted``.

Nothing here knows a source's kind: per-target state travels through the
:class:`~eventsweep.model.TargetStatus` (bookmarks given and reported, warnings, notes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from eventsweep.batch import Batch
from eventsweep.concurrency import reserve_threads
from eventsweep.errors import TargetError, first_line
from eventsweep.model import Bookmark, Event, Outcome, Query, TargetStatus
from eventsweep.sources import Source
from eventsweep.spool import Budget, Spool
from eventsweep.timeline import timeline

log = logging.getLogger(__name__)

GROUPS = ("target", "time")


@dataclass(frozen=True, slots=True)
class Started:
    """A target began to be read."""

    index: int
    target: str


@dataclass(frozen=True, slots=True)
class Read:
    """A target delivered ``added`` more events (``events`` so far)."""

    index: int
    target: str
    added: int
    events: int


@dataclass(frozen=True, slots=True)
class Ended:
    """A target ended, with its one outcome."""

    index: int
    outcome: Outcome


Progress = Started | Read | Ended
Listener = Callable[[Progress], None]
Resume = Mapping[str, Mapping[str, Bookmark]]  # target → log (lower-case) → bookmark


class Sweep:
    """Runs the sources; :meth:`items` yields what they found and how each ended."""

    def __init__(
        self,
        sources: Sequence[Source],
        query: Query,
        *,
        concurrency: int = 64,
        timeout: float = 60.0,
        group: str = "target",
        listeners: Sequence[Listener] = (),
        resume: Resume | None = None,
        queries: Sequence[Query] | None = None,
    ) -> None:
        if group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}")
        self.sources = list(sources)
        self.query = query
        self.queries = list(queries) if queries is not None else [query] * len(self.sources)
        self.timeout = timeout
        self.group = group
        self.listeners = list(listeners)
        self.outcomes: list[Outcome | None] = [None] * len(self.sources)
        self._resume = resume or {}
        budget = Budget()
        self._spools = [Spool(budget) for _ in self.sources]
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        reserve_threads(concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(index, source), name=f"sweep:{source.target}")
                for index, source in enumerate(self.sources)
            ]

    def stop(self) -> None:
        """End the sweep now: targets still running or waiting end as ``interrupted`` (keeping
        the count of events they read); :meth:`items` hands on no more events, only outcomes."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for spool in self._spools:
            spool.close()

    @property
    def stopped(self) -> bool:
        return self._stopping

    async def items(self) -> AsyncIterator[Batch | Outcome]:
        """Every event in the chosen grouping, a batch at a time, and every target's outcome
        once its last event has been handed on; returns once every target has ended."""
        self.start()
        try:
            if self.group == "target":
                for index, spool in enumerate(self._spools):
                    async for batch in spool.batches():
                        if self._stopping:
                            break
                        yield batch
                    yield await self._ended(index)
            else:
                if not self._stopping:
                    streams = [spool.batches() for spool in self._spools]
                    async with aclosing(timeline(streams)) as merged:
                        async for batch in merged:
                            if self._stopping:
                                break
                            yield batch
                for index in range(len(self.sources)):
                    yield await self._ended(index)
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            for task in self._tasks:
                task.cancel()
            for spool in self._spools:
                spool.release()

    async def batches(self) -> AsyncIterator[Batch]:
        """Only the events of :meth:`items`, a batch at a time."""
        async for item in self.items():
            if isinstance(item, Batch):
                yield item

    async def events(self) -> AsyncIterator[Event]:
        """Only the events of :meth:`items`, one at a time."""
        async for batch in self.batches():
            for event in batch.events():
                yield event

    def finished(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome is not None]

    async def _ended(self, index: int) -> Outcome:
        await asyncio.wait([self._tasks[index]])
        outcome = self.outcomes[index]
        if outcome is None:  # stopped before its task ever ran
            outcome = Outcome(self.sources[index].target, "interrupted", 0, 0.0)
            self.outcomes[index] = outcome
            self._emit(Ended(index, outcome))
        return outcome

    def _emit(self, progress: Progress) -> None:
        for listener in self.listeners:
            listener(progress)

    async def _run(self, index: int, source: Source) -> None:
        target, started = source.target, time.monotonic()
        status = TargetStatus(resume=dict(self._resume.get(target, {})))
        counter = [0]
        try:
            async with self._semaphore:
                started = time.monotonic()
                self._emit(Started(index, target))
                outcome = await self._read(source, status, index, counter, started)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            outcome = _outcome(target, "interrupted", counter[0] + status.passed, status, started)
        except Exception as exc:
            log.debug("target %s failed", target, exc_info=exc)
            outcome = _failed(target, exc, counter[0] + status.passed, status, started)
        finally:
            self._spools[index].close()
        self.outcomes[index] = outcome
        self._emit(Ended(index, outcome))

    async def _read(
        self, source: Source, status: TargetStatus, index: int, counter: list[int], started: float
    ) -> Outcome:
        query = self.queries[index]
        spool, limit, whole = self._spools[index], query.limit, True
        try:
            async with asyncio.timeout(self.timeout) as deadline:
                async with aclosing(source.events(query, status)) as stream:
                    async for item in stream:
                        batch = Batch.of(item)
                        if limit is not None:
                            batch = batch.head(limit - counter[0])
                        spool.add(batch)
                        counter[0] += len(batch)
                        added = len(batch)
                        del item, batch  # a waiting target holds no list of its own
                        self._emit(Read(index, source.target, added, counter[0] + status.passed))
                        if limit is not None and counter[0] >= limit:
                            whole = False  # older records of the window were not read
                            break
        except TimeoutError as exc:
            if not deadline.expired():
                raise
            raise TimeoutError(f"no end after {self.timeout:g}s") from exc
        state = "partial" if status.partial else "ok"
        marks = tuple(status.bookmarks.values()) if whole else ()
        read = counter[0] + status.passed  # passed: matched away where read (a hunt)
        return _outcome(source.target, state, read, status, started, bookmarks=marks)


def _outcome(
    target: str,
    state: str,
    events: int,
    status: TargetStatus,
    started: float,
    error: str | None = None,
    bookmarks: tuple[Bookmark, ...] = (),
) -> Outcome:
    return Outcome(
        target=target,
        status=state,
        events=events,
        elapsed=time.monotonic() - started,
        warnings=status.warnings,
        error=error,
        notes=tuple(status.notes),
        bookmarks=bookmarks,
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
    message = first_line(str(exc))
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
