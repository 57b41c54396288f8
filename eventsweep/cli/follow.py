"""``eventsweep follow``: ``--new`` sweeps again and again, new events printed as they come.

Every ``--every`` seconds (default 10) each target is read after its bookmark (kept in memory
between rounds, and taken from the store for the first round: a target never swept reads the
``--since`` window, default 10m); the round's new events are printed oldest first, so the
newest is last, as ``tail -f`` does, and kept in the store like any sweep's. Every source
is polled, ssh:// included (one connection per round: journalctl --follow over a kept
connection is not done yet). A target that fails is left out for a while and retried with
backoff (the round's interval doubling, up to :data:`BACKOFF_MAX`); its outcome line says so.
Ctrl-C (or SIGTERM) ends it: the last outcome of every target is printed, exit 128 + the
signal, as ``sweep`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from eventsweep.batch import Batch
from eventsweep.cli import flags
from eventsweep.model import Bookmark, Outcome
from eventsweep.query import parse_count, parse_seconds
from eventsweep.runner import Planned, plan_request, run
from eventsweep.sinks import Output, SinkOptions, SweepInfo, open_output
from eventsweep.sources import Source

BACKOFF_MAX = 300.0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "follow",
        help="print new events as they arrive, like tail -f across a fleet",
        description="Repeated --new sweeps: new events printed oldest first (newest last),"
        " kept in the store; Ctrl-C ends with the outcomes.",
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
        help="seconds between rounds (default 10)",
    )
    parser.add_argument(
        "--rounds", type=partial(parse_count, "--rounds"), help=argparse.SUPPRESS
    )  # tests: end after N
    parser.set_defaults(run=run_follow, since="10m", group="time")


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
    """One target's state between rounds."""

    source: Source
    marks: dict[str, Bookmark] = dataclasses.field(default_factory=dict)
    failures: int = 0
    next_round: float = 0.0
    last: Outcome | None = None


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
            return asyncio.run(_follow(planned, targets, printer, path, arguments))
        finally:
            printer.close()


async def _follow(
    planned: Planned,
    targets: list[Target],
    printer: Output,
    path: str | None,
    arguments: argparse.Namespace,
) -> int:
    from eventsweep.cli.sweep import EXIT_SIGNAL, report, stopping

    caught: list[int] = []
    rounds = 0
    with stopping(caught) as stop:
        while not stop.is_set():
            await _round(planned, targets, printer, path, stop, arguments.every)
            rounds += 1
            if arguments.rounds is not None and rounds >= arguments.rounds:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), arguments.every)
    report([target.last for target in targets if target.last is not None], None)
    if caught:
        return EXIT_SIGNAL + caught[0]
    return 0 if all(t.last is not None and t.last.status == "ok" for t in targets) else 1


async def _round(
    planned: Planned,
    targets: Sequence[Target],
    printer: Output,
    path: str | None,
    stop: asyncio.Event,
    every: float,
) -> None:
    """One --new sweep of the targets due now; their new events printed oldest first."""
    from eventsweep.store.writer import StoreWriter

    now = time.monotonic()
    due = [target for target in targets if target.next_round <= now]
    if not due:
        return
    resume = {target.source.target: target.marks for target in due if target.marks}
    request = dataclasses.replace(planned.request, resume=resume)
    collected = Collected()
    outputs: list[Output] = [collected]
    if path is not None:
        outputs.append(StoreWriter(path, command="follow"))
    outcomes = await run(Planned(request, tuple(t.source for t in due)), outputs, stop=stop)
    batch = collected.oldest_first()
    if batch:
        await asyncio.to_thread(printer.write, batch)
    by_target = {outcome.target: outcome for outcome in outcomes}
    for target in due:
        outcome = by_target.get(target.source.target)
        if outcome is not None:
            _ended(target, outcome, every)


def _ended(target: Target, outcome: Outcome, every: float) -> None:
    """Keep the target's new bookmarks, or back off after a failure (and say so)."""
    for mark in outcome.bookmarks:
        target.marks[mark.log.lower()] = mark
    if outcome.status in ("ok", "partial", "interrupted"):
        target.failures = 0
        target.last = outcome
        return
    target.failures += 1
    wait = min(every * 2 ** (target.failures - 1), BACKOFF_MAX)
    target.next_round = time.monotonic() + wait
    note = f"retrying in {wait:g}s (failure {target.failures} in a row)"
    target.last = dataclasses.replace(outcome, notes=(*outcome.notes, note))
    line = target.last.line()
    print(f"{line}  {note}" if outcome.error else line, file=sys.stderr)
