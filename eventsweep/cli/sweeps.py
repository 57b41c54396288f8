"""``eventsweep sweeps``: the sweeps kept in the store: when, what was asked, how it ended."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from eventsweep.cli import flags
from eventsweep.errors import UsageError
from eventsweep.query import parse_count

if TYPE_CHECKING:
    from eventsweep.store.reader import SweepRecord


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "sweeps",
        help="list the sweeps kept in the store",
        description="Past sweeps, newest first: number, start, duration, command, targets"
        " ok/failed, events read and stored, query. With --sweep ID: that sweep's outcomes.",
    )
    parser.add_argument("--sweep", metavar="ID", help="one sweep (its number or id) in full")
    parser.add_argument(
        "--last", type=partial(parse_count, "--last"), default=20, metavar="N", help="default 20"
    )
    parser.add_argument(
        "--format", choices=("table", "jsonl"), default="table", help="default: table"
    )
    flags.add_store(parser, optional=False)
    parser.set_defaults(run=run_sweeps)


def run_sweeps(arguments: argparse.Namespace) -> int:
    from eventsweep.store.reader import Reader

    path = flags.store_of(arguments)
    assert path is not None
    reader = Reader(path)
    if arguments.sweep is not None:
        record = reader.sweep(arguments.sweep)
        if record is None:
            raise UsageError(f"--sweep {arguments.sweep}: no such sweep in {path}")
        records = [record]
    else:
        records = reader.sweeps(limit=int(arguments.last))
    for record in records:
        if arguments.format == "jsonl":
            sys.stdout.write(orjson.dumps(as_dict(record)).decode() + "\n")
        else:
            print(line(record))
            if arguments.sweep is not None:
                for outcome in record.outcomes:
                    stored = record.stored.get(outcome.target, 0)
                    print(f"  {outcome.line()}  stored={stored}")
    return 0


def as_dict(record: SweepRecord) -> dict[str, Any]:
    return {
        "sweep": record.seq,
        "id": record.id,
        "started": record.started,
        "ended": record.ended,
        "command": record.command,
        "query": record.query,
        "targets": record.targets,
        "group": record.grouping,
        "outcomes": record.outcome_dicts(),
    }


def line(record: Any) -> str:
    """One sweep as a line of the table."""
    ok = sum(outcome.status == "ok" for outcome in record.outcomes)
    ended = record.ended[11:19] if record.ended else "running or killed"
    stored = sum(record.stored.values())
    return (
        f"#{record.seq:<4} {record.started[:19]}Z → {ended}  {record.command:<12}"
        f" targets={len(record.targets)} ok={ok} failed={record.failed}"
        f" events={record.events} stored={stored}  {summary(record.query)}"
    )


def summary(query: dict[str, Any]) -> str:
    """The query in the flags' words."""
    words: list[str] = []
    if query.get("since"):
        words.append(f"--since {query['since']}")
    if query.get("until"):
        words.append(f"--until {query['until']}")
    if not query.get("since") and not query.get("until"):
        words.append("--all")
    for key, flag in (("levels", "--level"), ("sources", "--source"), ("logs", "--log")):
        if query.get(key):
            words.append(f"{flag} {','.join(query[key])}")
    if query.get("event_ids"):
        ids = ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in query["event_ids"])
        words.append(f"--event-id {ids}")
    if query.get("grep"):
        words.append(f"--grep {query['grep']!r}")
    if query.get("limit"):
        words.append(f"--limit {query['limit']}")
    return " ".join(words)
