"""The flag groups the commands share, declared once: targets, query, output, connections.

Each ``add_*`` function declares a group on a parser; each ``*_of`` function turns the parsed
flags of that group into the library's values (a Query, Settings, output options).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

from eventsweep.errors import UsageError
from eventsweep.model import Query
from eventsweep.query import build_query, parse_count, parse_seconds
from eventsweep.sinks import FORMATS
from eventsweep.sources import Settings
from eventsweep.sweep import GROUPS

if TYPE_CHECKING:
    from eventsweep.store.reader import Filter, Reader


def add_targets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="an .evtx file, directory or glob; win://…; ssh://…; journal:[PATH]",
    )
    parser.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="FILE",
        help="read targets from FILE, one per line ('#' comments and blank lines ignored)",
    )


def add_query(parser: argparse.ArgumentParser, window: bool = True) -> None:
    query = parser.add_argument_group("query")
    add = query.add_argument
    if window:
        add(
            "--since",
            default="8h",
            help="start of the window: 90s, 15m, 8h, 2d or ISO 8601 with Z/offset (default 8h)",
        )
        add("--until", help="end of the window (same forms; default now)")
        add("--all", action="store_true", help="no time window at all (ignores --since)")
    add(
        "--level",
        action="append",
        default=[],
        metavar="LEVELS",
        help="critical,error,warning,info,verbose,audit_success,audit_failure",
    )
    add(
        "--event-id",
        action="append",
        default=[],
        metavar="IDS",
        help="ids and ranges: 4624,4625,1000-1010",
    )
    add(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="provider / source name, case-insensitive (repeatable)",
    )
    add(
        "--log",
        action="append",
        default=[],
        metavar="NAME",
        help="log / channel (for win:// targets: the log to read)",
    )
    add("--grep", metavar="REGEX", help="regular expression searched in the message")
    add("--limit", type=int, metavar="N", help="at most the newest N events per target")


def add_exact(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exact",
        action="store_true",
        help=".evtx: parse every chunk, so that records written long after their creation"
        " time are found by any window (slower: a full parse)",
    )


def add_output(parser: argparse.ArgumentParser) -> None:
    output = parser.add_argument_group("output")
    add = output.add_argument
    add("--format", choices=sorted(FORMATS), help="default: table on a terminal, else jsonl")
    add("-o", "--output", metavar="FILE", help="write events to FILE (default stdout)")
    add(
        "--group",
        choices=GROUPS,
        default="target",
        help="target: each target's events together (default); time: one merged timeline",
    )
    add("--outcomes", metavar="FILE", help="also write the outcomes as JSON Lines to FILE")
    add("--no-progress", action="store_true", help="no progress display on a terminal")


def add_connections(parser: argparse.ArgumentParser) -> None:
    engine = parser.add_argument_group("connections")
    add = engine.add_argument
    add(
        "--concurrency",
        type=partial(parse_count, "--concurrency"),
        default=64,
        help="targets read at once (default 64)",
    )
    add(
        "--timeout",
        type=partial(parse_seconds, "--timeout"),
        default=60.0,
        help="seconds a target may take in all (default 60)",
    )
    add(
        "--connect-timeout",
        type=partial(parse_seconds, "--connect-timeout"),
        default=10.0,
        help="seconds to connect (default 10)",
    )
    add(
        "--accept-unknown-hosts",
        action="store_true",
        help="ssh: accept host keys not in known_hosts (a changed key is still refused)",
    )
    add("--known-hosts", metavar="FILE", help="ssh: known_hosts file to verify against")
    add("--ssh-config", metavar="FILE", help="ssh: OpenSSH client config to honour")
    add("--credentials", metavar="FILE", help="win: per-target credentials file")
    add("--kerberos", action="store_true", help="win: Kerberos from the ccache in KRB5CCNAME")


def query_of(arguments: argparse.Namespace) -> Query:
    window = hasattr(arguments, "since")
    return build_query(
        since=None if not window or arguments.all else arguments.since,
        until=arguments.until if window else None,
        levels=arguments.level,
        event_ids=arguments.event_id,
        sources=arguments.source,
        logs=arguments.log,
        grep=arguments.grep,
        limit=arguments.limit,
    )


def settings_of(arguments: argparse.Namespace) -> Settings:
    """Each source's own options, from the flags that concern it."""
    from eventsweep.sources.evtx import EvtxOptions
    from eventsweep.sources.ssh_remote import SshOptions
    from eventsweep.sources.winrpc.options import WinOptions

    return Settings.of(
        evtx=EvtxOptions(exact=getattr(arguments, "exact", False)),
        ssh=SshOptions(
            connect_timeout=arguments.connect_timeout,
            accept_unknown_hosts=arguments.accept_unknown_hosts,
            known_hosts=arguments.known_hosts,
            ssh_config=arguments.ssh_config,
        ),
        win=WinOptions(
            connect_timeout=arguments.connect_timeout,
            credentials_file=arguments.credentials,
            kerberos=arguments.kerberos,
            interactive=sys.stdin.isatty(),
        ),
    )


def add_store(parser: argparse.ArgumentParser, *, optional: bool = True) -> None:
    """``--store PATH`` (and, where the store is optional, ``--no-store``)."""
    group = parser.add_argument_group("store")
    group.add_argument(
        "--store",
        metavar="PATH",
        help="the store (default: $EVENTSWEEP_STORE, else eventsweep/events.db in the user's"
        " data directory)",
    )
    if optional:
        group.add_argument("--no-store", action="store_true", help="do not keep this sweep")


def store_of(arguments: argparse.Namespace) -> str | None:
    """The store path the flags name (None with ``--no-store``), checked: a file that is not
    an eventsweep store is a usage error here, before anything runs or writes."""
    from eventsweep.store import location, schema

    path = location.resolve(arguments.store, getattr(arguments, "no_store", False))
    if path is not None:
        schema.check(path)
    return path


def add_stored_filter(add: Any, note: str = "", example: str = "") -> None:
    """``--target PATTERN`` and ``--sweep ID``: which stored events (read by stored_filter);
    ``add`` is a parser's or group's add_argument, ``note`` a prefix of their help."""
    add(
        "--target",
        action="append",
        default=[],
        metavar="PATTERN",
        help=f"{note}only targets matching this shell wildcard pattern (repeatable){example}",
    )
    add("--sweep", metavar="ID", help=f"{note}only the events this sweep stored")


def stored_filter(arguments: argparse.Namespace, reader: Reader, query: Query) -> Filter:
    """The stored events ``--target`` and ``--sweep`` (and the query) select; a sweep the
    store does not hold is a usage error."""
    from eventsweep.store.reader import Filter

    ref = None if arguments.sweep is None else _sweep_ref(arguments.sweep)
    if ref is not None and reader.sweep(ref) is None:
        raise UsageError(f"--sweep {arguments.sweep}: no such sweep in {reader.path}")
    return Filter.of(query, arguments.target, ref)


def _sweep_ref(text: str) -> int | str:
    """A sweep's number, or its id."""
    return int(text) if text.strip().isdigit() else text.strip()
