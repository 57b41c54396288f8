"""The one sweep call behind every front end (command line, web application, hunt).

``await run(request, outputs, listeners)`` plans the targets, runs them, hands events and
outcomes to every output (each in a thread of its own, off the event loop), pushes progress to
the listeners as it happens, and returns one outcome per target. Setting ``stop`` (an
:class:`asyncio.Event`) ends it early: every target not finished ends as ``interrupted``. An
output that fails (a closed pipe, a full disk) stops the sweep too; the other outputs still get
every outcome, and :class:`OutputError` tells which failed, with the outcomes.

    outcomes = sweep(["cases/", "ssh://web01"], build_query(since="8h"), outputs=[...])
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from eventsweep import concurrency
from eventsweep.batch import Batch
from eventsweep.errors import EventsweepError
from eventsweep.model import Outcome, Query
from eventsweep.sinks import Output, SweepInfo
from eventsweep.sources import Settings, Source, plan_by_scheme
from eventsweep.sweep import Listener, Resume, Sweep


@dataclass(frozen=True, slots=True)
class Request:
    """One sweep, as plain values: what to read, how, and what to resume after."""

    targets: tuple[str, ...]
    query: Query
    settings: Settings = field(default_factory=Settings)
    concurrency: int = 64
    timeout: float = 60.0
    group: str = "target"
    resume: Resume = field(default_factory=dict)  # target → log → bookmark (``--new``)
    # a narrower query for the targets of one scheme ("win", "ssh"…), e.g. what a rule set
    # can match pushed to each kind of host; the others read ``query``
    queries: Mapping[str, Query] = field(default_factory=dict)

    def query_for(self, scheme: str) -> Query:
        return self.queries.get(scheme, self.query)


@dataclass(frozen=True, slots=True)
class Planned:
    """A request whose targets have been planned into sources (a caller that wants to look at
    them before anything runs, e.g. to refuse an output that names an input, plans first)."""

    request: Request
    sources: tuple[Source, ...]
    schemes: tuple[str, ...] = ()  # each source's scheme (empty: every source reads the query)

    def queries(self) -> list[Query]:
        if not self.schemes:
            return [self.request.query] * len(self.sources)
        return [self.request.query_for(scheme) for scheme in self.schemes]


def plan_request(request: Request) -> Planned:
    """The sources of a request; a bad target is a :class:`UsageError` before anything runs."""
    planned = plan_by_scheme(list(request.targets), request.settings)
    schemes = tuple(scheme for scheme, _ in planned)
    return Planned(request, tuple(source for _, source in planned), schemes)


class OutputError(EventsweepError):
    """An output failed during the sweep; the sweep was stopped and ``outcomes`` are final."""

    def __init__(self, output: Output, cause: BaseException, outcomes: list[Outcome]) -> None:
        super().__init__(f"{cause.__class__.__name__}: {cause}")
        self.output, self.cause, self.outcomes = output, cause, outcomes


class _Pump:
    """One output, called in order from a thread of its own; a failure stops the calls."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.failure: BaseException | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eventsweep-output")

    async def call(self, method: Callable[..., None], *args: Any) -> None:
        if self.failure is not None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, method, *args)
        except Exception as exc:
            self.failure = exc

    async def close(self) -> None:
        """Close the output, even a failed one (its resources go; a second error is moot)."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self.output.close)
        except Exception as exc:
            self.failure = self.failure or exc
        self._thread.shutdown(wait=False)


async def run(
    request: Request | Planned,
    outputs: Sequence[Output] = (),
    listeners: Sequence[Listener] = (),
    *,
    stop: asyncio.Event | None = None,
) -> list[Outcome]:
    """Run one sweep to its end (or until ``stop`` is set); the outcomes, one per target."""
    planned = request if isinstance(request, Planned) else plan_request(request)
    asked = planned.request
    sweep = Sweep(
        planned.sources,
        asked.query,
        concurrency=asked.concurrency,
        timeout=asked.timeout,
        group=asked.group,
        listeners=listeners,
        resume=asked.resume,
        queries=planned.queries(),
    )
    info = SweepInfo(
        id=uuid.uuid4().hex,
        targets=tuple(source.target for source in planned.sources),
        query=asked.query,
        group=asked.group,
    )
    pumps = [_Pump(output) for output in outputs]
    watcher = asyncio.create_task(_watch(stop, sweep)) if stop is not None else None
    try:
        await _each(pumps, "open", info)
        async for item in sweep.items():
            if isinstance(item, Batch):
                await _each(pumps, "write", item)
            else:
                await _each(pumps, "outcome", item)
            if any(pump.failure for pump in pumps) and not sweep.stopped:
                sweep.stop()
    finally:
        if watcher is not None:
            watcher.cancel()
        await _close(pumps)
    outcomes = sweep.finished()
    for pump in pumps:
        if pump.failure is not None:
            raise OutputError(pump.output, pump.failure, outcomes)
    return outcomes


async def _each(pumps: Sequence[_Pump], method: str, argument: Any) -> None:
    await asyncio.gather(*(pump.call(getattr(pump.output, method), argument) for pump in pumps))


async def _close(pumps: Sequence[_Pump]) -> None:
    await asyncio.gather(*(pump.close() for pump in pumps))


async def _watch(stop: asyncio.Event, sweep: Sweep) -> None:
    await stop.wait()
    sweep.stop()


def sweep(
    targets: Sequence[str],
    query: Query,
    *,
    outputs: Sequence[Output] = (),
    listeners: Sequence[Listener] = (),
    **options: Any,
) -> list[Outcome]:
    """:func:`run` from synchronous code (a script): ``options`` are :class:`Request`'s."""

    async def main() -> list[Outcome]:
        try:
            return await run(Request(tuple(targets), query, **options), outputs, listeners)
        finally:
            concurrency.shutdown()

    return asyncio.run(main())
