"""Reading the detections a hunt kept beside its events (store version 2 and later).

    of_events(reader, [12, 13])       # store event id → its detections (every rule that
                                      # matched it, with the fields it matched)
    by_rule(reader, where)            # the rules that matched the events a Filter selects,
                                      # with counts, most first
    listing(reader, where, size=100)  # those detections, newest first, each with its event id

A detection is joined to its event by the event's identity (target, log, ``ident``, time: the
columns of ``events_identity``), so it needs no column of its own in the events table. A
store without the detections table (an older store no hunt wrote to yet) has none. Like
:class:`~eventsweep.store.reader.Reader`'s, every call opens its own read-only connection,
binds every value, and never writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from eventsweep.detect.rules import Detection
from eventsweep.store.reader import Filter, Reader, _clauses, _python_sources, _regex, _streamed

CHUNK = 500  # event ids looked up at once
REGEX_EVENTS = 20_000  # events a regular-expression search looks at for their detections
_COLUMNS = "d.rule_id, d.title, d.level, d.status, d.tags, d.path, d.fields"
_JOIN = (
    "JOIN detections d ON d.target = e.target AND d.log = e.log AND d.ident = e.ident"
    " AND d.time = e.time"
)


@dataclass(frozen=True, slots=True)
class RuleCount:
    """A rule and how many of the selected events it matched."""

    rule_id: str
    title: str
    level: str
    count: int


@dataclass(frozen=True, slots=True)
class Listed:
    """One detection of a listing: the stored event's id and time, and the rule."""

    event_id: int
    time: str
    target: str
    detection: Detection


def of_events(reader: Reader, ids: Sequence[int]) -> dict[int, list[Detection]]:
    """Each of these stored events' detections (events with none are left out)."""
    found: dict[int, list[Detection]] = {}
    with reader.connection() as connection:
        if not _has_table(connection):
            return found
        for at in range(0, len(ids), CHUNK):
            part = list(ids[at : at + CHUNK])
            marks = ", ".join("?" for _ in part)
            rows = connection.execute(
                f"SELECT e.id, {_COLUMNS} FROM events e {_JOIN} WHERE e.id IN ({marks})"
                " ORDER BY e.id, d.id",
                part,
            )
            for row in rows:
                found.setdefault(int(row[0]), []).append(_detection(row[1:]))
    return found


def by_rule(reader: Reader, where: Filter, top: int = 20) -> list[RuleCount]:
    """The rules that matched the events ``where`` selects, most detections first."""
    with reader.connection() as connection:
        if not _has_table(connection):
            return []
        if _detections_alone(where):  # filters the detections hold themselves: no join
            conditions, params = _clauses(connection, where)
            body = " AND ".join(conditions) or "1"
            sql = f"SELECT rule_id, title, level, count(*) FROM detections d WHERE {body}"
        else:
            selected, params = _selected(connection, where)
            sql = f"SELECT d.rule_id, d.title, d.level, count(*) FROM ({selected}) e {_JOIN}"
        rows = connection.execute(
            sql + " GROUP BY d.rule_id, d.title, d.level ORDER BY 4 DESC, 2 LIMIT ?",
            [*params, top],
        ).fetchall()
    return [RuleCount(rule_id, title, level, int(count)) for rule_id, title, level, count in rows]


def listing(reader: Reader, where: Filter, size: int = 100) -> list[Listed]:
    """The detections of the events ``where`` selects, newest first, at most ``size``."""
    with reader.connection() as connection:
        if not _has_table(connection):
            return []
        selected, params = _selected(connection, where)
        rows = connection.execute(
            f"SELECT e.id, e.time, e.target, {_COLUMNS} FROM ({selected}) e {_JOIN}"
            " ORDER BY e.time DESC, e.id DESC, d.id LIMIT ?",
            [*params, size],
        ).fetchall()
    return [Listed(int(row[0]), row[1], row[2], _detection(row[3:])) for row in rows]


def _detections_alone(where: Filter) -> bool:
    """Whether the filter is one of time, target and log only, which a detection holds as its
    event does (a detection is kept only beside its stored event, and pruned with it)."""
    return not (where.levels or where.event_ids or where.sources or where.text) and (
        where.sweep is None
    )


def _selected(connection: sqlite3.Connection, where: Filter) -> tuple[str, list[Any]]:
    """A statement selecting the id and identity of the events ``where`` selects (SQLite
    flattens it into the join: each detection looks its event up by identity). For a regular
    expression (or a non-ASCII source), applied here: the first REGEX_EVENTS matching ids."""
    columns = "id, time, target, log, ident"
    if _regex(where) is None and _python_sources(where) is None:
        conditions, params = _clauses(connection, where)
        body = " AND ".join(conditions) or "1"
        return f"SELECT {columns} FROM events WHERE {body}", params
    ids = list(_ids(connection, where, REGEX_EVENTS))
    marks = ", ".join("?" for _ in ids) or "NULL"
    return f"SELECT {columns} FROM events WHERE id IN ({marks})", ids


def _ids(connection: sqlite3.Connection, where: Filter, most: int) -> Iterable[int]:
    for count, row in enumerate(_streamed(connection, where, True, False)):
        if count >= most:
            return
        yield int(row[0])


def _has_table(connection: sqlite3.Connection) -> bool:
    row = connection.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'detections'"
    ).fetchone()
    return row is not None


def _detection(row: Sequence[Any]) -> Detection:
    rule_id, title, level, status, tags, path, fields = row
    return Detection(
        rule_id,
        title,
        level,
        status,
        tuple(orjson.loads(tags)),
        path,
        tuple(orjson.loads(fields)),
    )
