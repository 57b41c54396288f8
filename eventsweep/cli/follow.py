"""``eventsweep follow``: new events printed as they come, newest last, like ``tail -f``.

Each target starts after its bookmark in the store (a target never swept reads the
``--since`` window, default 10m), and every event goes through the one sweep call
(:func:`eventsweep.runner.run`) in *rounds*: each round's new events are printed oldest first
and kept in the store, where the follow is one sweep whose outcomes and bookmarks each round
replaces (a later ``--new`` resumes exactly where the follow got to).

- A journal (``ssh://``, ``journal:``) is streamed: a source with ``follow`` keeps one session
  (one SSH connection per host) running ``journalctl --follow`` for the whole run
  (:mod:`eventsweep.sources.journald.follow`); a round starts as soon as entries arrive, and
  reads what arrived (its bookmark: the last entry's cursor).
- The others (``win://``, .evtx files) are polled: every ``--every`` seconds (default 10) a
  ``--new`` round reads each after its bookmark (kept in memory between rounds).

A target that fails is retried with backoff (``--every`` doubling, up to
:data:`BACKOFF_MAX`); its outcome line says so, and a stream that comes back says so too (it
resumes after the last entry received: none lost, none twice). Ctrl-C (or SIGTERM) ends it:
what the streams hold is read in a last round, the last outcome of every target is printed,
exit 128 + the signal, as ``sweep`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
import time
import uuid
from collections.abc import Coroutine, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from eventsweep.batch import Batch
from eventsweep.cli import flags
from eventsweep.model import Bookmark, Outcome
from eventsweep.query import parse_count, parse_seconds
from eventsweep.runner import Planned, plan_request, run
from eventsweep.sinks import Output, SinkOptions, SweepInfo, open_output
from eventsweep.sources import Source

if TYPE_CHECKING:
    from eventsweep.sources.journald.follow import Feed

BACKOFF_MAX = 300.0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "follow",
        help="print new events as they arrive, like tail -f across a fleet",
        description="New events printed as they arrive, oldest first (newest last), kept in"
        " the store: journals (ssh://, journal:) streamed with journalctl --follow over one kept"
        " connection per host, the other targets polled with --new sweeps; Ctrl-C ends with"
        " the outcomes.",
    )
    flags.add_targets(parser)
    flags.add_query(parser)
    flags.add_output(parser)
    flags.add_connections(parser)
    flags.add_store(parser)
    parser.add_argument(
        "--every",
        type=partial(parse_seconds, "--every"),
        default=10.0,
        metavar="S",
        help="seconds between the polled targets' rounds (win://, .evtx), and before the first"
        " retry of a target that failed (default 10)",
    )
    parser.add_argument(
        "--rounds", type=partial(parse_count, "--rounds"), help=argparse.SUPPRESS
    )  # tests: end after N
    parser.set_defaults(run=run_follow, since="10m", group="time")


def backoff(every: float, failures: int) -> float:
    """Seconds before the next try after ``failures`` failures in a row."""
    return min(every * 2.0 ** (failures - 1), BACKOFF_MAX)


class Totals:
    """Every round's outcomes summed per target, the follow's so far (its events, the time since
    it started), handed on to the store: a follow is one sweep, each round replacing its
    targets' outcomes and bookmarks. The store's writer is opened before the first round and
    closed after the last: the runner's open and close of each round are left out."""

    def __init__(self, store: Output | None) -> None:
        self.store = store
        self.events: dict[str, int] = {}
        self.started = time.monotonic()

    def total(self, outcome: Outcome) -> Outcome:
        """The outcome with the follow's events and elapsed time so far."""
        events = self.events.get(outcome.target, 0)
        elapsed = time.monotonic() - self.started
        return dataclasses.replace(outcome, events=events, elapsed=elapsed)

    def open(self, sweep: SweepInfo) -> None:
        del sweep

    def write(self, batch: Batch) -> None:
        if self.store is not None:
            self.store.write(batch)

    def outcome(self, outcome: Outcome) -> None:
        self.events[outcome.target] = self.events.get(outcome.target, 0) + outcome.events
        if self.store is not None:
            self.store.outcome(self.total(outcome))

    def close(self) -> None:
        pass


class Collected:
    """An output that holds a round's events (newest first), to print them reversed."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def open(self, sweep: SweepInfo) -> None:
        del sweep

    def write(self, batch: Batch) -> None:
        self.batches.append(batch)

    def outcome(self, outcome: Outcome) -> None:
        del outcome

    def close(self) -> None:
        pass

    def oldest_first(self) -> Batch:
        events = [event for batch in self.batches for event in batch.events()]
        events.reverse()
        return Batch(events)


@dataclasses.dataclass
class Target:
    """One target's state between rounds; ``feed``: its stream, when it is followed."""

    source: Source
    marks: dict[str, Bookmark] = dataclasses.field(default_factory=dict)
    failures: int = 0
    next_round: float = 0.0
    last: Outcome | None = None
    feed: Feed | None = None


def run_follow(arguments: argparse.Namespace) -> int:
    from eventsweep.cli import storing
    from eventsweep.cli.sweep import opened, request_of

    request = dataclasses.replace(request_of(arguments), group="time")
    planned = plan_request(request)
    path = flags.store_of(arguments)
    targets = [Target(source) for source in planned.sources]
    if path is not None:
        found = storing.with_bookmarks(planned, path).request.resume
        for target in targets:
            target.marks = dict(found.get(target.source.target, {}))
    name = arguments.format or (
        "table" if sys.stdout.isatty() and not arguments.output else "jsonl"
    )
    with opened("-o", arguments.output, False) as file:
        stream = file or sys.stdout
        printer = open_output(name, stream, SinkOptions(group="time", color=stream.isatty()))
        printer.open(SweepInfo(id="follow", targets=(), query=request.query, group="time"))
        try:
            return _stored(planned, targets, printer, path, arguments)
        finally:
            printer.close()


def _stored(
    planned: Planned,
    targets: list[Target],
    printer: Output,
    path: str | None,
    arguments: argparse.Namespace,
) -> int:
    """The follow, with the store (one sweep for the whole follow) open around it."""
    if path is None:
        return asyncio.run(Follow(planned, targets, printer, None, arguments).run())
    from eventsweep.store.writer import StoreWriter

    store = StoreWriter(path, command="follow")
    info = SweepInfo(
        id=uuid.uuid4().hex,
        targets=tuple(target.source.target for target in targets),
        query=planned.request.query,
        group="time",
    )
    store.open(info)
    try:
        return asyncio.run(Follow(planned, targets, printer, store, arguments).run())
    finally:
        store.close()


class Follow:
    """The rounds: polled targets every ``--every`` seconds, followed ones as entries arrive."""

    def __init__(
        self,
        planned: Planned,
        targets: list[Target],
        printer: Output,
        store: Output | None,
        arguments: argparse.Namespace,
    ) -> None:
        self.planned = planned
        self.targets = targets
        self.printer = printer
        self.totals = Totals(store)
        self.every: float = arguments.every
        self.limit: int | None = arguments.rounds
        self.rounds = 0
        self.news = asyncio.Event()
        self.stop: asyncio.Event | None = None  # set by a signal, or after --rounds
        self.printing = asyncio.Lock()

    async def run(self) -> int:
        from eventsweep.cli.sweep import EXIT_SIGNAL, report, stopping

        caught: list[int] = []
        with stopping(caught) as stop:
            self.stop = stop
            tasks = self._start_feeds()
            try:
                await _first_failure(self._poll(stop), self._stream(stop), stop=stop)
                await self._round([t for t in self.targets if t.feed is not None], None)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        last = [target.last for target in self.targets if target.last is not None]
        report([self.totals.total(outcome) for outcome in last], None)
        if caught:
            return EXIT_SIGNAL + caught[0]
        ok = all(t.last is not None and t.last.status == "ok" for t in self.targets)
        return 0 if ok else 1

    def _start_feeds(self) -> list[asyncio.Task[None]]:
        """A feed for every target whose source follows, each running in a task of its own."""
        tasks = []
        query = self.planned.request.query
        for target in self.targets:
            follow = getattr(target.source, "follow", None)
            if follow is None:
                continue
            after = target.marks.get("journal")
            target.feed = follow(query, after, partial(backoff, self.every), self.news.set)
            assert target.feed is not None
            tasks.append(
                asyncio.create_task(target.feed.run(), name=f"follow:{target.source.target}")
            )
        return tasks

    async def _poll(self, stop: asyncio.Event) -> None:
        """The polled targets: a round of those due every ``--every`` seconds."""
        polled = [target for target in self.targets if target.feed is None]
        if not polled:
            await stop.wait()
            return
        while not stop.is_set():
            now = time.monotonic()
            await self._round([target for target in polled if target.next_round <= now], stop)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)

    async def _stream(self, stop: asyncio.Event) -> None:
        """The followed targets: a round as soon as any feed holds something."""
        followed = [target for target in self.targets if target.feed is not None]
        while followed and not stop.is_set():
            await _either(self.news, stop)
            if stop.is_set():
                break
            self.news.clear()
            due = [t for t in followed if t.feed is not None and t.feed.has_news()]
            await self._round(due, None)  # not cut by a stop: what it took is handed on
        await stop.wait()

    async def _round(self, due: Sequence[Target], stop: asyncio.Event | None) -> None:
        """One sweep of ``due`` (after their bookmarks); their new events printed oldest first.
        ``stop``: it interrupts the round (polled targets); None for the streams' rounds, which
        read no host (what arrived is in memory) and must hand on what they took."""
        if not due:
            return
        resume = {target.source.target: target.marks for target in due if target.marks}
        request = dataclasses.replace(self.planned.request, resume=resume)
        sources = tuple(_round_source(target) for target in due)
        collected = Collected()
        outcomes = await run(Planned(request, sources), [collected, self.totals], stop=stop)
        batch = collected.oldest_first()
        if batch:
            async with self.printing:
                await asyncio.to_thread(self.printer.write, batch)
        by_target = {outcome.target: outcome for outcome in outcomes}
        for target in due:
            outcome = by_target.get(target.source.target)
            if outcome is not None:
                _ended(target, outcome, self.every)
        self.rounds += 1
        if self.stop is not None and self.limit is not None and self.rounds >= self.limit:
            self.stop.set()  # --rounds (tests): the follow ends as if it had run out


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Until one of the two is set."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def _round_source(target: Target) -> Source:
    return target.feed.arrived() if target.feed is not None else target.source


async def _first_failure(*work: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run ``work`` together until all end; the first failure stops the rest and is raised."""
    tasks = [asyncio.ensure_future(item) for item in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise error
    finally:
        for task in tasks:
            task.cancel()


def _ended(target: Target, outcome: Outcome, every: float) -> None:
    """Keep the target's new bookmarks, or back off after a failure (and say so)."""
    for mark in outcome.bookmarks:
        target.marks[mark.log.lower()] = mark
    if target.feed is not None:
        _streamed(target, outcome)
        return
    if outcome.status in ("ok", "partial", "interrupted"):
        target.failures = 0
        target.last = outcome
        return
    target.failures += 1
    wait = backoff(every, target.failures)
    target.next_round = time.monotonic() + wait
    _retrying(target, outcome, wait, target.failures)


def _streamed(target: Target, outcome: Outcome) -> None:
    """A followed target's round: a failure says when the feed tries again; a round with a
    note (the stream back after failures, a journal replaced, warnings) is printed too."""
    feed = target.feed
    assert feed is not None
    if outcome.status == "ok" or outcome.events:
        target.last = outcome
        if outcome.notes:
            print(outcome.line(), file=sys.stderr)
        return
    _retrying(target, outcome, feed.retry_in, feed.failures)


def _retrying(target: Target, outcome: Outcome, wait: float, failures: int) -> None:
    note = f"retrying in {wait:g}s (failure {failures} in a row)"
    target.last = dataclasses.replace(outcome, notes=(*outcome.notes, note))
    line = target.last.line()
    print(f"{line}  {note}" if outcome.error else line, file=sys.stderr)
