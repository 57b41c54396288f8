"""What the ``ssh://`` and ``journal:`` sources share: the journalctl command and its JSON.

Pure parts, unit-tested without a host:

- :func:`build_argv` is the ONE place a query becomes journalctl arguments (window, priority
  range, source names, limit, newest first, JSON); :func:`command_line` shell-quotes every
  element for a remote shell, so no value can ever run a command there.
- :func:`to_event` maps one ``journalctl -o json`` record to an :class:`Event`.
- :func:`check_exit` turns journalctl's exit status and stderr into one clear error.

And the streaming both sources run: :func:`journal_events` reads a running journalctl's stdout in
chunks, line by line, and yields the matching events (memory stays flat in the result size).

What is pushed into journalctl: ``--since``/``--until`` (UTC); ``-p FROM..TO``, the smallest
priority range holding the wanted levels (unless ``info`` is wanted); the source names as field
matches (exact values found on the host by :func:`fields_argv`, see :func:`source_matches`);
``-n`` when every filter was pushed exactly; ``-r`` (newest first). The query itself
(``Query.accepts``) stays the final filter.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from eventsweep.errors import AuthError, OpenError, ReadError
from eventsweep.model import (
    EncodedEvent,
    Event,
    Query,
    TargetStatus,
    iso_from_epoch_us,
    now_iso,
)
from eventsweep.sources import journal_resume

# PRIORITY 0-7 (emerg … debug) → level
LEVEL_OF_PRIORITY = (
    "critical",
    "critical",
    "critical",
    "error",
    "warning",
    "info",
    "info",
    "verbose",
)
DEFAULT_LEVEL = "info"  # entries without a valid PRIORITY (journald's own default is info)
SOURCE_FIELDS = ("SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT", "_COMM")  # Event.source: first present
# __REALTIME_TIMESTAMP, _HOSTNAME, MESSAGE, SYSLOG_IDENTIFIER and __SEQNUM are the event's own
# fields (time, computer, message, source, record_id), so they are not repeated in Event.data
_TEXT = frozenset((str,))
_loads = orjson.loads
_dumps = orjson.dumps
CHUNK = 1 << 16
STDERR_KEPT = 1 << 14


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


# ---- the command (pure) ----------------------------------------------------------------


def journal_time(moment: str) -> str:
    """Our ISO UTC text as a time journalctl reads in any time zone: ``YYYY-MM-DD HH:MM:SS.ffffff
    UTC`` (inclusive at both ends, microsecond exact)."""
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
    :mod:`eventsweep.sources.journal_resume`).
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
    if query.limit is not None and _exact(query):
        argv.append(f"--lines={query.limit}")
    if query.sources:
        argv.extend(source_matches(found))
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


# ---- exit status -----------------------------------------------------------------------


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


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


# ---- records -----------------------------------------------------------------------------


def text(value: Any) -> str:
    """A journal field value as text: strings as they are, byte arrays decoded as UTF-8 with
    replacement, multiple values one per line, null as empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if all(isinstance(item, int) for item in value):
            return bytes(value).decode("utf-8", "replace")
        return "\n".join(text(item) for item in value)
    return "" if value is None else str(value)


def _data_value(value: Any) -> str | list[str]:
    if isinstance(value, list) and not all(isinstance(item, int) for item in value):
        return [text(item) for item in value]
    return text(value)


def record_id(record: dict[str, Any]) -> int | None:
    """``__SEQNUM``, or (systemd < 254 doesn't print it) the cursor's ``i=`` field in hex."""
    seqnum = record.get("__SEQNUM")
    if isinstance(seqnum, str) and seqnum.isdigit():
        return int(seqnum)
    cursor = record.get("__CURSOR")
    if not isinstance(cursor, str):
        return None
    # the first ";"-separated part that starts with "i=" (found without splitting the cursor)
    if cursor.startswith("i="):
        start = 2
    else:
        start = cursor.find(";i=") + 3
        if start == 2:
            return None
    end = cursor.find(";", start)
    try:
        return int(cursor[start:] if end < 0 else cursor[start:end], 16)
    except ValueError:
        return None


def level(record: dict[str, Any]) -> str:
    priority = record.get("PRIORITY")
    if isinstance(priority, str) and len(priority) == 1 and "0" <= priority <= "7":
        return LEVEL_OF_PRIORITY[int(priority)]
    return DEFAULT_LEVEL


def source(record: dict[str, Any]) -> str:
    for field in SOURCE_FIELDS:
        value = record.get(field)
        if value:
            return text(value)
    return ""


def to_event(record: dict[str, Any], target: str, computer: str, collected_at: str) -> Event:
    """One ``journalctl -o json`` record as an Event (KeyError/ValueError when it has no time).

    ``computer`` stands in for a missing ``_HOSTNAME``. Data holds every other field (values
    as text, multiple values as lists), ``PRIORITY`` and ``__CURSOR`` included.
    """
    return Event(**_owned_fields(dict(record), target, computer, collected_at))


def _owned_fields(
    record: dict[str, Any], target: str, computer: str, collected_at: str
) -> dict[str, Any]:
    """:func:`to_event`'s fields (in :data:`~eventsweep.model.FIELDS` order) for a record
    nobody else holds: the mapped fields are popped from it and what is left is the data (the
    same fields in the same order), kept as it is when every value is text, as almost always."""
    time = iso_us(int(record["__REALTIME_TIMESTAMP"]))
    number = record_id(record)
    event_level = level(record)
    event_source = source(record)
    pop = record.pop
    del record["__REALTIME_TIMESTAMP"]
    hostname = pop("_HOSTNAME", None)
    message = pop("MESSAGE", None)
    pop("SYSLOG_IDENTIFIER", None)
    pop("__SEQNUM", None)
    if not _TEXT.issuperset(map(type, record.values())):
        record = {
            key: value if value.__class__ is str else _data_value(value)
            for key, value in record.items()
        }
    return {
        "time": time,
        "target": target,
        "computer": (hostname if hostname.__class__ is str else text(hostname)) or computer,
        "log": "journal",
        "record_id": number,
        "event_id": None,
        "level": event_level,
        "source": event_source,
        "category": None,
        "message": message if message.__class__ is str else text(message),
        "data": record,
        "collected_at": collected_at,
    }


iso_us = iso_from_epoch_us  # the name this module's callers and tests know


# ---- streaming ---------------------------------------------------------------------------


class Process(Protocol):
    """A running journalctl, local or remote, as :func:`journal_events` needs it."""

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of stdout; ``b""`` at its end."""
        ...

    async def finish(self) -> tuple[int | None, str]:
        """Wait for the exit: the exit status (None if killed) and the start of stderr."""
        ...


Starter = Callable[[list[str]], AbstractAsyncContextManager[Process]]
"""Starts an argv on the host; leaving the context stops and reaps it."""


async def journal_events(
    start: Starter,
    journalctl: Journalctl,
    target: str,
    computer: str,
    query: Query,
    status: TargetStatus,
) -> AsyncGenerator[list[Event], None]:
    """The whole read of one host: look up source names if filtered, run, stream, check (the
    events a list at a time); with a bookmark, only what came after it (journal_resume)."""
    mark = journal_resume.resuming(status)
    if mark is not None:
        resumed = journal_resume.after(start, journalctl, target, computer, query, status, mark)
        async for events in resumed:
            yield events
        if journal_resume.resuming(status) is not None:
            return  # read after the bookmark; else it was gone: the window is read
    found = await found_sources(start, journalctl, query)
    argv = build_argv(query, journalctl, found)
    if argv is None:
        return
    newest = journal_resume.Newest()
    async with start(argv) as process:
        async for lines in line_batches(process):
            newest.see(lines)
            batch = encoded(lines, target, computer, query, status)
            if batch:
                yield batch  # the events that pass the query, as they arrive, a list per read
        code, stderr = await process.finish()
    check_exit(code, stderr, journalctl)
    note(status, stderr)
    newest.report(status)


async def found_sources(
    start: Starter, journalctl: Journalctl, query: Query
) -> list[tuple[str, str]]:
    """The exact (field, value) pairs on the host naming a wanted source (one ``-F`` run per
    source field, at once); none when the query has no source filter."""
    if not query.sources:
        return []

    async def lookup(field: str) -> list[tuple[str, str]]:
        async with start(fields_argv(journalctl, field)) as process:
            return wanted_values(query, field, await read_values(process, journalctl))

    results = await asyncio.gather(*map(lookup, SOURCE_FIELDS), return_exceptions=True)
    found: list[tuple[str, str]] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        found.extend(result)
    return found


async def line_batches(process: Process) -> AsyncIterator[list[bytes]]:
    """stdout's complete lines, a chunk's worth at a time."""
    rest = b""
    while chunk := await process.read(CHUNK):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield lines
    if rest:
        yield [rest]


def parse(line: bytes, target: str, computer: str, collected_at: str) -> dict[str, Any] | None:
    """The line's event fields, or None when it is not a journal record with a time."""
    try:
        record = _loads(line)
        if record.__class__ is not dict:
            raise TypeError("not an object")
        return _owned_fields(record, target, computer, collected_at)
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
        return None


def encoded(
    lines: list[bytes], target: str, computer: str, query: Query, status: TargetStatus
) -> list[Event]:
    """The events of a batch of lines that pass ``query``, each as its JSON Lines text
    (:class:`~eventsweep.model.EncodedEvent`): made here, while the reads wait on the hosts,
    rather than by the sink at the end, and spooled as bytes. The fields go from the record
    to the line as a dict, without an Event in between (the hot loop of an ssh:// sweep)."""
    collected_at = now_iso()
    accepts = query.accepts
    batch: list[Event] = []
    append = batch.append
    for line in lines:
        if not line or line.isspace():
            continue
        fields = parse(line, target, computer, collected_at)
        if fields is None:
            status.warn(f"unreadable journal record: {line[:80]!r}")
        elif accepts(fields):
            append(EncodedEvent(fields["time"], _dumps(fields) + b"\n"))  # json_line, inlined
    return batch


async def read_values(process: Process, journalctl: Journalctl) -> list[str]:
    """The lines of a ``journalctl -F`` run (every value a field takes)."""
    values: list[str] = []
    async for lines in line_batches(process):
        values.extend(line.decode("utf-8", "replace") for line in lines if line)
    code, stderr = await process.finish()
    check_exit(code, stderr, journalctl)
    return values


def note(status: TargetStatus, stderr: str) -> None:
    """Keep what a successful journalctl said on stderr (hints, skipped files) as a note."""
    line = first_line(stderr)
    if line:
        status.warn(f"journalctl: {line}", 0, partial=False)


async def drain_into(buffer: bytearray, stderr: Any) -> None:
    """Read a process's stderr to its end, keeping its first STDERR_KEPT bytes in ``buffer``
    (the rest is read and dropped, so the process never blocks on a full pipe)."""
    while chunk := await stderr.read(STDERR_KEPT):
        room = STDERR_KEPT - len(buffer)
        if room > 0:
            buffer.extend(chunk[:room])
