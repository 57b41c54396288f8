"""The journalctl command for a query (pure, unit-tested without a host), and what its exit
status means.

:func:`build_argv` is the ONE place a query becomes journalctl arguments: ``--since`` /
``--until`` (UTC, microsecond exact, both ends inclusive); ``--priority FROM..TO``, the smallest
range holding the wanted levels (unless ``info`` is wanted); the source names as field matches
(exact values found on the host by :func:`fields_argv`, see :func:`source_matches`);
``--lines`` when every filter was pushed exactly; ``--reverse`` (newest first); JSON with every
field in full. :func:`command_line` shell-quotes every element for a remote shell, so no value
can ever run a command there. :func:`check_exit` turns journalctl's exit status and stderr into
one clear error. The query itself (``Query.accepts``) stays the final filter.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eventsweep.errors import AuthError, OpenError, ReadError, first_line
from eventsweep.model import Query
from eventsweep.sources.journald.mapping import DEFAULT_LEVEL, LEVEL_OF_PRIORITY

EPOCH = "1970-01-01T00:00:00.000000Z"  # no journal entry is older
LINES_MAX = 2**31 - 1  # journalctl refuses a larger --lines (the query's limit still applies)


@dataclass(frozen=True, slots=True)
class Journalctl:
    """How journalctl runs on one host: program, sudo, which journal, extra arguments."""

    program: str = "journalctl"
    sudo: bool = False
    location: tuple[str, ...] = ()  # ("-D", DIR) or ("--file", FILE); () = the system journal
    extra: tuple[str, ...] = ()  # the user's own arguments, passed as given

    def prefix(self) -> list[str]:
        sudo = ["sudo", "-n", "--"] if self.sudo else []
        return [*sudo, self.program, *self.location, *self.extra]


def journal_time(moment: str) -> str:
    """Our ISO UTC text as a time journalctl reads in any time zone: ``YYYY-MM-DD HH:MM:SS.ffffff
    UTC`` (inclusive at both ends, microsecond exact)."""
    moment = max(moment, EPOCH)  # journalctl refuses times before 1970
    return f"{moment[:10]} {moment[11:26]} UTC"


def priorities(levels: Iterable[str]) -> list[int]:
    """The journald priorities (0-7) whose level is one of ``levels``."""
    wanted = set(levels)
    return [number for number, level in enumerate(LEVEL_OF_PRIORITY) if level in wanted]


def can_match(query: Query) -> bool:
    """False when no journal entry can pass the query (event ids, other logs, audit levels)."""
    if query.event_ids or not query.wants_log("journal"):
        return False
    return not query.levels or bool(priorities(query.levels))


def priority_range(levels: Iterable[str]) -> tuple[int, int] | None:
    """The ``-p FROM..TO`` range for the wanted levels: the smallest holding them all, or None
    when there is no level filter or ``info`` is wanted (entries without a PRIORITY are info,
    and ``-p`` would drop them)."""
    wanted = set(levels)
    numbers = priorities(wanted)
    if not numbers or DEFAULT_LEVEL in wanted:
        return None
    return numbers[0], numbers[-1]


def exact_levels(query: Query) -> bool:
    """True when journalctl returns exactly the entries of the wanted levels."""
    numbers = priorities(query.levels)
    if not query.levels or len(numbers) == len(LEVEL_OF_PRIORITY):
        return True
    span = priority_range(query.levels)
    return span is not None and numbers == list(range(span[0], span[1] + 1))


def source_matches(found: Sequence[tuple[str, str]]) -> list[str]:
    """journalctl field matches selecting any of ``found`` (field, exact value) pairs:
    values of one field are ORed by journalctl, fields are joined with ``+`` (OR)."""
    matches: list[str] = []
    for field in dict.fromkeys(field for field, _ in found):
        if matches:
            matches.append("+")
        matches.extend(f"{field}={value}" for name, value in found if name == field)
    return matches


def wanted_values(query: Query, field: str, values: Iterable[str]) -> list[tuple[str, str]]:
    """The (field, value) pairs among a host's values of ``field`` that name a wanted source
    (case-insensitively, as ``query.matches`` compares them)."""
    return [(field, value) for value in values if value.lower() in query.sources]


def build_argv(
    query: Query,
    journalctl: Journalctl,
    found: Sequence[tuple[str, str]] = (),
    cursor: str | None = None,
) -> list[str] | None:
    """The journalctl argv for ``query``, newest first, as JSON with every field in full;
    None when no entry can match (nothing to run).

    ``found`` holds the exact (field, value) pairs naming the wanted sources on this host
    (see :func:`wanted_values`); it is ignored when the query has no source filter.
    ``cursor`` (``--new``): oldest first from that entry on, only ``--until`` pushed (see
    :mod:`eventsweep.sources.journald.resume`).
    """
    if not can_match(query):
        return None
    if cursor is not None:
        until = [f"--until={journal_time(query.until)}"] if query.until is not None else []
        return [*journalctl.prefix(), "--output=json", "--all", "--no-pager",
                f"--cursor={cursor}", *until]  # fmt: skip
    if query.sources and not found:
        return None
    argv = [*journalctl.prefix(), "--output=json", "--all", "--reverse", "--no-pager"]
    if query.since is not None:
        argv.append(f"--since={journal_time(query.since)}")
    if query.until is not None:
        argv.append(f"--until={journal_time(query.until)}")
    span = priority_range(query.levels)
    if span is not None:
        argv.append(f"--priority={span[0]}..{span[1]}")
    if query.limit is not None and query.limit <= LINES_MAX and _exact(query):
        argv.append(f"--lines={query.limit}")
    if query.sources:
        argv.extend(source_matches(found))
    return argv


def follow_argv(
    query: Query, journalctl: Journalctl, cursor: str | None = None
) -> list[str] | None:
    """The journalctl argv that streams new entries as they are written (``--follow``), oldest
    first; None when no entry can match.

    ``cursor``: from that entry on, nothing pushed (its presence is checked on the first line,
    as :mod:`~eventsweep.sources.journald.resume` does); else from the ``--since`` window (every
    entry with ``--all``), the level range pushed. Source names are never pushed: a name may
    first appear while the stream runs; the query filters every entry on arrival.
    """
    if not can_match(query):
        return None
    argv = [*journalctl.prefix(), "--output=json", "--all", "--no-pager", "--follow"]
    if cursor is not None:
        return [*argv, f"--cursor={cursor}"]
    if query.since is None:
        return [*argv, "--lines=all"]  # --follow alone starts at the last 10 entries
    argv.append(f"--since={journal_time(query.since)}")
    span = priority_range(query.levels)
    if span is not None:
        argv.append(f"--priority={span[0]}..{span[1]}")
    return argv


def _exact(query: Query) -> bool:
    """True when journalctl applies every filter exactly, so its ``-n`` is ours."""
    return query.grep is None and not query.sources and exact_levels(query)


def fields_argv(journalctl: Journalctl, field: str) -> list[str]:
    """The argv listing every value ``field`` takes in the journal (``journalctl -F``)."""
    return [*journalctl.prefix(), f"--field={field}"]


def command_line(argv: Sequence[str]) -> str:
    """The argv as one POSIX shell command line, every element quoted."""
    return shlex.join(argv)


def check_exit(code: int | None, stderr: str, journalctl: Journalctl) -> None:
    """Raise the error journalctl's exit status and stderr stand for; return on success."""
    if code == 0:
        return
    line = first_line(stderr) or "no message"
    if code == 127 or "command not found" in stderr:
        raise OpenError(f"{journalctl.program} not found on the host (exit {code}: {line})")
    if journalctl.sudo and line.startswith("sudo:"):
        raise AuthError(f"sudo refused to run journalctl without a password ({line})")
    if "Failed to open" in stderr or "No journal files" in stderr:
        raise OpenError(f"no journal: {line}")
    if code is None:
        raise ReadError(f"journalctl ended without an exit status ({line})")
    raise ReadError(f"journalctl failed (exit {code}): {line}")
