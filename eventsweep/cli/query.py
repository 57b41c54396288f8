"""``eventsweep query``: the store's events, with the sweep's filters and outputs; no host is
ever contacted."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eventsweep.cli import flags
from eventsweep.errors import UsageError
from eventsweep.sinks import BINARY, SinkOptions, SweepInfo, open_output


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "query",
        help="search the events kept in the store (no host is contacted)",
        description="Search the store: the same filters and formats as sweep; without"
        " --since, every stored event.",
    )
    flags.add_query(parser)
    flags.add_output(parser)
    flags.add_stored_filter(parser.add_argument, example=": 'ssh://web*'")
    parser.add_argument(
        "--oldest-first", action="store_true", help="oldest first (default: newest first)"
    )
    flags.add_store(parser, optional=False)
    parser.set_defaults(run=run_query, since=None, group="time")


def run_query(arguments: argparse.Namespace) -> int:
    from eventsweep.cli.sweep import opened
    from eventsweep.store.reader import Reader

    path = flags.store_of(arguments)
    assert path is not None
    query = flags.query_of(arguments)
    reader = Reader(path)
    where = flags.stored_filter(arguments, reader, query)
    name = arguments.format or (
        "table" if sys.stdout.isatty() and not arguments.output else "jsonl"
    )
    binary = name in BINARY
    if binary and not arguments.output:
        raise UsageError(f"--format {name}: give a file with -o FILE")
    with opened("-o", arguments.output, binary) as file:
        stream = file or (sys.stdout.buffer if binary else sys.stdout)
        options = SinkOptions(group=arguments.group, color=stream.isatty())
        output = open_output(name, stream, options)
        output.open(SweepInfo(id="query", targets=(), query=query, group=arguments.group))
        try:
            batches = reader.batches(
                where,
                newest_first=not arguments.oldest_first,
                limit=query.limit,
                by_target=arguments.group == "target",
            )
            for batch in batches:
                output.write(batch)
        finally:
            output.close()
    return 0
