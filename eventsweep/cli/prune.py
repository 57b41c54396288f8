"""``eventsweep prune --before 90d``: retention: what the store keeps from before a time goes."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from eventsweep.cli import flags


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "prune",
        help="delete stored events and sweeps older than a time (retention)",
        description="Delete the events older than --before and the sweeps that ended before"
        " it; bookmarks stay, so --new still resumes where it was.",
    )
    parser.add_argument(
        "--before",
        required=True,
        metavar="T",
        help="90d, 12w, 24h… ago, or ISO 8601 with Z/offset",
    )
    flags.add_store(parser, optional=False)
    parser.set_defaults(run=run_prune)


def run_prune(arguments: argparse.Namespace) -> int:
    from eventsweep.query import parse_time
    from eventsweep.store.writer import prune

    before = parse_time("--before", arguments.before, datetime.now(UTC))
    path = flags.store_of(arguments)
    assert path is not None
    events, sweeps = prune(path, before)
    print(f"pruned {events} event(s) and {sweeps} sweep(s) from before {before}", file=sys.stderr)
    return 0
