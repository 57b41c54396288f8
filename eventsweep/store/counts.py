"""Counting stored events fast: whole hours and minutes from the counts tables, edges from rows.

The writer keeps, in the transaction of the rows it adds, how many events each minute and
each hour holds per target, log, source, event id, level and sweep (``counts_minute``,
``counts_hour``; see :mod:`eventsweep.store.schema`). A count over a time range is then the sum
of the whole hours inside it, the whole minutes at its two ends, and the events of the two
partial minutes at its very ends, counted from ``events`` (:func:`spans` cuts the range so).
A histogram or the facets of a million events read a few thousand rows.

Only filters the counts tables hold can be counted so: time, level, event id, source, log,
target and sweep. A text filter (or a source with non-ASCII letters, which SQLite's NOCASE does
not fold) is counted from the matching rows by the reader.

Times are the store's fixed-width ISO text (``2024-01-19T05:07:09.123456Z``); a minute is its
first 16 characters, an hour its first 13, so that ranges stay text comparisons.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsweep.store import schema

MINUTE, HOUR = 16, 13  # the prefix of a time that names its minute, its hour
_FIRST = {MINUTE: ":00.000000Z", HOUR: ":00:00.000000Z"}  # a prefix + this: its first moment
_LAST = {MINUTE: ":59.999999Z", HOUR: ":59:59.999999Z"}  # its last
_TABLE = {width: table for table, width in schema.COUNTS.items()}  # MINUTE, HOUR → table
ABSENT: dict[str, Any] = {"log": "", "source": "", "level": "", "event_id": -1}  # kept for None


@dataclass(frozen=True, slots=True)
class Span:
    """A part of a time range: events from ``low`` (inclusive) to ``high`` (exclusive, or
    inclusive when ``closed``), counted from the rows (``width`` 0) or a counts table
    (``width`` MINUTE or HOUR: ``low``/``high`` are then prefixes, ``high`` exclusive)."""

    width: int
    low: str | None
    high: str | None
    closed: bool = False


def spans(since: str | None, until: str | None, coarsest: int = HOUR) -> list[Span]:
    """``since``…``until`` (inclusive; None: open) cut into raw edges, whole minutes and (when
    ``coarsest`` is HOUR) whole hours, in time order."""
    low = _whole(since, MINUTE, up=True)
    high = _whole(until, MINUTE, up=False)
    if low is not None and high is not None and low >= high:
        return [Span(0, since, until, closed=True)]
    parts: list[Span] = []
    if since is not None and low is not None and since < low + _FIRST[MINUTE]:
        parts.append(Span(0, since, low + _FIRST[MINUTE]))
    parts.extend(_minutes_and_hours(low, high, coarsest))
    if until is not None and high is not None:
        parts.append(Span(0, high + _FIRST[MINUTE], until, closed=True))
    return parts


def _minutes_and_hours(low: str | None, high: str | None, coarsest: int) -> list[Span]:
    if coarsest == MINUTE:
        return [Span(MINUTE, low, high)]
    hour_low = None if low is None else _whole(low + _FIRST[MINUTE], HOUR, up=True)
    hour_high = None if high is None else high[:HOUR]
    if hour_low is not None and hour_high is not None and hour_low >= hour_high:
        return [Span(MINUTE, low, high)]
    parts = []
    if low is not None and hour_low is not None and low < hour_low + ":00":
        parts.append(Span(MINUTE, low, hour_low + ":00"))
    parts.append(Span(HOUR, hour_low, hour_high))
    if high is not None and hour_high is not None and hour_high + ":00" < high:
        parts.append(Span(MINUTE, hour_high + ":00", high))
    return parts


def _whole(moment: str | None, width: int, up: bool) -> str | None:
    """The prefix of the first whole unit at or after ``moment`` (``up``), or the exclusive
    end of the last whole unit at or before it."""
    if moment is None:
        return None
    prefix = moment[:width]
    if up:
        return prefix if moment <= prefix + _FIRST[width] else _after(prefix, width)
    return _after(prefix, width) if moment >= prefix + _LAST[width] else prefix


def _after(prefix: str, width: int) -> str:
    step = timedelta(minutes=1) if width == MINUTE else timedelta(hours=1)
    form = "%Y-%m-%dT%H:%M" if width == MINUTE else "%Y-%m-%dT%H"
    try:
        moment = datetime.strptime(prefix, form) + step
    except OverflowError:  # the end of year 9999: after every time there is
        return prefix + "~"
    return moment.isoformat(timespec="minutes" if width == MINUTE else "hours")


def tally(
    connection: sqlite3.Connection,
    conditions: list[str],
    params: list[Any],
    column: str,
    since: str | None,
    until: str | None,
    by_time: bool,
    coarsest: int = HOUR,
) -> dict[tuple[str, Any], int]:
    """Matching events counted per (time prefix, ``column``'s value); the prefix is a minute or
    an hour (``''`` unless ``by_time``). ``conditions`` (with ``params``): the filters but
    the time, as SQL both ``events`` and the counts tables answer. Values the counts tables
    keep for None are None."""
    found: dict[tuple[str, Any], int] = {}
    for part in spans(since, until, coarsest):
        for at, value, count in _counted(connection, (conditions, params), column, part, by_time):
            if part.width and value == ABSENT.get(column):
                value = None
            slot = (at, value)
            found[slot] = found.get(slot, 0) + count
    return found


def _counted(
    connection: sqlite3.Connection,
    where: tuple[list[str], list[Any]],
    column: str,
    part: Span,
    by_time: bool,
) -> Iterator[tuple[str, Any, int]]:
    conditions, params = list(where[0]), list(where[1])
    if part.width:
        table, stamp, total = _TABLE[part.width], "at", "sum(n)"
        bound = "at"
    else:
        table, stamp, total = "events", f"substr(time, 1, {MINUTE:d})", "count(*)"
        bound = "time"
    if part.low is not None:
        conditions.append(f"{bound} >= ?")
        params.append(part.low)
    if part.high is not None:
        conditions.append(f"{bound} {'<=' if part.closed else '<'} ?")
        params.append(part.high)
    at = stamp if by_time else "''"
    body = " AND ".join(conditions) or "1"
    sql = f"SELECT {at}, {column}, {total} FROM {table} WHERE {body} GROUP BY 1, 2"
    for stamp_value, value, count in connection.execute(sql, params):
        yield str(stamp_value), value, int(count)
