"""The values every part of eventsweep shares: Event, Query, Outcome.

The JSON shape of an event lives here (``Event.to_dict``) and is documented in the README.
Times are ISO 8601 UTC strings of fixed width, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: they compare
and sort as strings, which keeps the hot path free of datetime objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson

from eventsweep.text import defuse

LEVELS = (
    "critical",
    "error",
    "warning",
    "info",
    "verbose",
    "audit_success",
    "audit_failure",
)

STATUSES = ("ok", "error", "timeout", "partial", "interrupted")

_EPOCH_DAY = date(1970, 1, 1).toordinal()


def iso(moment: datetime) -> str:
    """The fixed-width UTC text of a datetime (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat, not strftime: "%Y" drops the leading zeros of years before 1000 on glibc,
    # which would break the fixed width (and so the order) of the text
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def iso_from_epoch(seconds: float) -> str:
    """The fixed-width UTC text of a POSIX time in seconds."""
    return iso(datetime.fromtimestamp(seconds, UTC))


def iso_from_epoch_us(microseconds: int) -> str:
    """The fixed-width UTC text of a POSIX time in microseconds (exact, no float rounding; the
    text up to the minute is cached, as logs come many to the minute)."""
    minute, rest = divmod(microseconds, 60_000_000)
    second, micro = divmod(rest, 1_000_000)
    return f"{_minute_text(minute)}{second:02}.{micro:06}Z"


@lru_cache(maxsize=4096)
def _minute_text(minute: int) -> str:
    day, rest = divmod(minute, 1440)
    hour, minute = divmod(rest, 60)
    return f"{date.fromordinal(_EPOCH_DAY + day).isoformat()}T{hour:02}:{minute:02}:"


def parse_iso(text: str) -> datetime:
    """Read an ISO 8601 time as produced by :func:`iso` (or with any offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_iso() -> str:
    return iso(datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class Event:
    """One event log record, whatever its source.

    Fields (the stable JSON shape, in this order):
      time          when the event was created, ISO UTC (``…Z``)
      target        the target as the user gave it (for a directory or glob: the file)
      computer      the machine that logged it
      log           the channel / log name (``System``, ``Security``, ``journal``…)
      record_id     the record's number in its log
      event_id      the event id (int) or None where the source has none (journald)
      level         one of LEVELS
      source        the provider / source name / syslog identifier
      category      the category / task (int) or None
      message       the text; for .evtx without message text, the data as Name=Value pairs
      data          the named data fields of the record
      collected_at  when eventsweep received the record, ISO UTC
    """

    time: str
    target: str
    computer: str
    log: str
    record_id: int | None
    event_id: int | None
    level: str
    source: str
    category: int | None
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    collected_at: str = ""

    def __reduce__(self) -> tuple[type[Event], tuple[Any, ...]]:
        # A plain tuple pickles an order of magnitude faster than dataclass state (spools).
        return (Event, self.astuple())

    def astuple(self) -> tuple[Any, ...]:
        return (
            self.time,
            self.target,
            self.computer,
            self.log,
            self.record_id,
            self.event_id,
            self.level,
            self.source,
            self.category,
            self.message,
            self.data,
            self.collected_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(FIELDS, self.astuple(), strict=True))


FIELDS = tuple(Event.__dataclass_fields__)


def json_line(event: Event | dict[str, Any]) -> bytes:
    """An event's JSON Lines text: one object, its fields in the documented order, a newline.

    ``+ b"\\n"`` rather than orjson's OPT_APPEND_NEWLINE, whose every result keeps orjson's whole
    output buffer (8 KB) alive: 4 µs to allocate and the memory of every line a spool holds.
    """
    return orjson.dumps(event) + b"\n"


_LAZY = frozenset(FIELDS) - {"time"}
_set = object.__setattr__


class EncodedEvent(Event):
    """An event that arrives as its JSON Lines text (from a worker process).

    Only ``time`` is set up front; the other fields are decoded from ``line`` the first time
    one is read. A JSON Lines sink writes ``line`` as it is, so a sweep to JSON Lines never
    builds the fields in the parent process at all. Made from ``fields`` instead (the dict a
    source mapped a record to: ssh:// and journal: entries), the line is only written when
    something reads it, and the fields are taken from the dict: a hunt reads every entry's
    fields and writes the lines of its detections only. It equals and pickles as its fields
    would (``fields`` does not travel).
    """

    __slots__ = ("_fields", "line")
    line: bytes

    def __init__(self, time: str, line: bytes | None, fields: dict[str, Any] | None = None) -> None:
        _set(self, "time", time)
        if line is not None:
            _set(self, "line", line)
        _set(self, "_fields", fields)

    def __getattr__(self, name: str) -> Any:
        # Only reached for a slot not set yet: the line, or every field at once.
        values = self._fields
        if name == "line" and values is not None:
            line = json_line(values)
            _set(self, "line", line)
            _set(self, "_fields", None)  # the fields are the line's now, or in their slots
            return line
        if name not in _LAZY:
            raise AttributeError(name)
        if values is None:
            values = orjson.loads(self.line)
        for key in _LAZY:
            _set(self, key, values[key])
        return values[name]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (EncodedEvent, (self.time, self.line))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.astuple() == other.astuple()

    __hash__ = Event.__hash__


@dataclass(frozen=True, slots=True)
class Query:
    """What to read: a time window and filters, the same for every target.

    ``since``/``until`` are fixed-width ISO UTC strings (see :func:`iso`) or None.
    Empty filter tuples mean "no filter". ``sources`` and ``logs`` are compared
    case-insensitively (stored lower-case). ``limit`` is the newest N per target.
    """

    since: str | None = None
    until: str | None = None
    levels: frozenset[str] = frozenset()
    event_ids: tuple[tuple[int, int], ...] = ()
    sources: frozenset[str] = frozenset()
    logs: tuple[str, ...] = ()
    grep: re.Pattern[str] | None = None
    limit: int | None = None
    _log_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_log_names", frozenset(name.lower() for name in self.logs))

    def in_window(self, time: str) -> bool:
        if self.since is not None and time < self.since:
            return False
        return self.until is None or time <= self.until

    def wants_event_id(self, event_id: int | None) -> bool:
        if not self.event_ids:
            return True
        if event_id is None:
            return False
        return any(low <= event_id <= high for low, high in self.event_ids)

    def wants_log(self, log: str) -> bool:
        return not self.logs or log.lower() in self._log_names

    def matches(self, event: Event) -> bool:
        """True when the event passes every filter and lies in the window."""
        return self._passes(
            event.time, event.level, event.event_id, event.source, event.log, event.message
        )

    def accepts(self, fields: dict[str, Any]) -> bool:
        """:meth:`matches` for an event's fields as a dict (what the hot loops build)."""
        return self._passes(
            fields["time"],
            fields["level"],
            fields["event_id"],
            fields["source"],
            fields["log"],
            fields["message"],
        )

    def _passes(
        self, time: str, level: str, event_id: int | None, source: str, log: str, message: str
    ) -> bool:
        return (
            self.in_window(time)
            and (not self.levels or level in self.levels)
            and self.wants_event_id(event_id)
            and (not self.sources or source.lower() in self.sources)
            and self.wants_log(log)
            and (self.grep is None or self.grep.search(message) is not None)
        )


@dataclass(frozen=True, slots=True)
class Bookmark:
    """Where reading one log of one target got to: its newest record (what ``--new`` resumes
    after). The engine never looks inside: a source reports it and is given it back.

    ``record_id``: .evtx EventRecordID, MS-EVEN record number, journald sequence number;
    ``cursor``: journald's cursor; ``epoch``: what the ids count in (a journal's seqnum id, an
    .evtx file's identity…): a different epoch means the log was replaced since."""

    log: str
    record_id: int | None = None
    cursor: str | None = None
    time: str = ""
    epoch: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "record_id": self.record_id,
            "cursor": self.cursor,
            "time": self.time,
            "epoch": self.epoch,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Bookmark:
        return cls(
            log=str(values["log"]),
            record_id=values.get("record_id"),
            cursor=values.get("cursor"),
            time=str(values.get("time") or ""),
            epoch=str(values.get("epoch") or ""),
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one target ended: exactly one per target, whatever happened."""

    target: str
    status: str
    events: int
    elapsed: float
    warnings: int = 0
    error: str | None = None
    notes: tuple[str, ...] = ()
    # the newest record read per log, given only when the target was read to the end of its
    # window (what a later ``--new`` sweep may resume after); empty otherwise
    bookmarks: tuple[Bookmark, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "status": self.status,
            "events": self.events,
            "elapsed": round(self.elapsed, 3),
            "warnings": self.warnings,
            "error": self.error,
            "notes": list(self.notes),
        }

    def line(self) -> str:
        """The one human line printed on stderr at the end of a sweep: the target, error and
        note (text from the target) defused, so that no name can forge a line or drive the
        terminal."""
        text = f"{self.status:<7} {defuse(self.target)}  events={self.events} {self.elapsed:.2f}s"
        if self.warnings:
            text += f" warnings={self.warnings}"
        if self.error:
            text += f"  {defuse(self.error)}"
        elif self.notes:  # what the warnings were, or a hint (the rest: --outcomes)
            text += f"  {defuse(self.notes[0])}" + (
                f" (+{len(self.notes) - 1} more)" if len(self.notes) > 1 else ""
            )
        return text


@dataclass(slots=True)
class TargetStatus:
    """What travels between the engine and a source for one target, both ways (mutable).

    Given: ``resume``, the bookmarks to read after, by log name lower-case (empty: read the
    query's window). Reported: warnings and notes, and ``bookmarks``, the newest record read
    per log (:meth:`bookmark`)."""

    warnings: int = 0
    notes: list[str] = field(default_factory=list)
    partial: bool = False
    resume: dict[str, Bookmark] = field(default_factory=dict)
    bookmarks: dict[str, Bookmark] = field(default_factory=dict)
    # events read and within the query that the source did not hand on: a hunt matched them
    # where they were read and no rule did (the outcome counts them among the events read)
    passed: int = 0

    def resume_after(self, log: str) -> Bookmark | None:
        """The bookmark to resume this log after, if the caller gave one."""
        return self.resume.get(log.lower())

    def bookmark(self, mark: Bookmark) -> None:
        """Report the newest record read in ``mark.log`` (the first report per log wins when
        reading newest first; a newer record id replaces it)."""
        key = mark.log.lower()
        held = self.bookmarks.get(key)
        if held is None or _newer(mark, held):
            self.bookmarks[key] = mark

    def warn(self, note: str, count: int = 1, partial: bool = True) -> None:
        """Count ``count`` warnings (skipped records, damaged chunks…); keep the first notes."""
        self.warnings += count
        self.partial = self.partial or partial
        if len(self.notes) < 20:
            self.notes.append(note)


def _newer(mark: Bookmark, held: Bookmark) -> bool:
    if mark.epoch != held.epoch:
        return mark.time > held.time
    if mark.record_id is not None and held.record_id is not None:
        return mark.record_id > held.record_id
    return mark.time > held.time
