"""Reading the store: the one query builder behind ``eventsweep query`` and the web application.

    reader = Reader(path)                        # checks the file; every call opens its own
                                                 # read-only connection (sync: run it in a thread)
    where = Filter(since=..., levels=frozenset({"error"}), targets=("ssh://web*",), text="disk")
    page = reader.events(where, size=50)         # newest first; page.next → the next page:
    page = reader.events(where, size=50, after=page.next)   # keyset, never OFFSET
    reader.events(where, newest_first=False)     # oldest first
    reader.event(page.events[0].id)              # one event, every field (``data`` included)
    reader.histogram(where)                      # counts per time bucket per level
    reader.facets(where)                         # top targets, sources, event ids, levels
    reader.sweeps()                              # past sweeps, newest first, with outcomes
    reader.sweep(12)                             # one sweep (its number, or its id)
    for batch in reader.batches(where): ...      # every match, a Batch at a time (exports)

:class:`Filter` holds the same filters as the command line: the time window, levels, event
ids, sources and logs (case-insensitive), target patterns (shell wildcards), text (plain words
are a full-text search; anything else a regular expression, see :mod:`eventsweep.store.text`)
and a sweep. Filters become SQL with bound parameters only; a regular expression is applied
here, to the rows the indexed filters selected. Every call sees only committed data (WAL
snapshots), and never writes (but to upgrade an older store, once).

An event comes back as a :class:`Stored`: its store id, the sweep that stored it, and the
event (an :class:`~eventsweep.model.EncodedEvent`, its fields decoded when first read).

A path with no store yet is a :class:`~eventsweep.errors.UsageError` here (``Reader`` never
creates anything, and writes only to upgrade a store an earlier eventsweep wrote);
``eventsweep.store.writer.connect(path).close()`` creates an empty store. Sweeps are kept by
handing ``StoreWriter(path, command=...)`` to the sweep call
(``eventsweep.runner.run(request, outputs=[..., writer])``); ``Request.resume`` takes
:meth:`Reader.bookmarks` for ``--new``. A sweep still running has ``ended`` None and the
outcomes of the targets that ended so far.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import heapq
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from eventsweep.batch import Batch
from eventsweep.errors import UsageError
from eventsweep.model import Bookmark, EncodedEvent, Outcome, Query, iso, parse_iso
from eventsweep.store import counts, schema, text

PAGE = 50
SCAN = 2000  # rows fetched at once when a regular expression filters them here
BUCKETS = 60
# bucket sizes a histogram chooses from (seconds)
BUCKET_SIZES = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
                7 * 86400, 30 * 86400, 365 * 86400)  # fmt: skip
FACETS = ("target", "source", "event_id", "level")


@dataclass(frozen=True, slots=True)
class Filter:
    """Which stored events: every field optional; empty means no filter on it."""

    since: str | None = None  # ISO UTC (model.iso), inclusive
    until: str | None = None  # ISO UTC, inclusive
    levels: frozenset[str] = frozenset()
    event_ids: tuple[tuple[int, int], ...] = ()  # (low, high) ranges
    sources: frozenset[str] = frozenset()  # any case
    logs: frozenset[str] = frozenset()  # any case
    targets: tuple[str, ...] = ()  # shell wildcards (``ssh://web*``); any of them
    text: str | None = None  # plain words (full text) or a regular expression
    sweep: int | str | None = None  # a sweep's number or id: the events it stored

    @classmethod
    def of(
        cls, query: Query, targets: Sequence[str] = (), sweep: int | str | None = None
    ) -> Filter:
        """The filter of a command-line query (its ``limit`` is the caller's business)."""
        return cls(
            since=query.since,
            until=query.until,
            levels=query.levels,
            event_ids=query.event_ids,
            sources=frozenset(name.lower() for name in query.sources),
            logs=frozenset(name.lower() for name in query.logs),
            targets=tuple(targets),
            text=query.grep.pattern if query.grep is not None else None,
            sweep=sweep,
        )


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored event."""

    id: int
    sweep: int
    event: EncodedEvent


@dataclass(frozen=True, slots=True)
class Page:
    """A page of events; ``next`` is the token of the page after it (None: the last)."""

    events: list[Stored]
    next: str | None


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts per time bucket per level. ``buckets``: (bucket start ISO, {level: count}),
    every bucket from ``since`` to ``until`` present (empty ones too), oldest first."""

    since: str
    until: str
    seconds: int
    buckets: list[tuple[str, dict[str, int]]]


@dataclass(frozen=True, slots=True)
class SweepRecord:
    """One sweep as kept: what was asked, when, and how every target ended."""

    seq: int  # the sweep's number
    id: str
    started: str
    ended: str | None  # None: still running, or killed
    command: str
    query: dict[str, Any]
    targets: list[str]
    grouping: str
    outcomes: list[Outcome] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)  # target → events it added

    @property
    def events(self) -> int:
        return sum(outcome.events for outcome in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(outcome.status != "ok" for outcome in self.outcomes)

    def outcome_dicts(self) -> list[dict[str, Any]]:
        """Each outcome as ``--outcomes`` writes it, with the events it added to the store."""
        return [
            {**outcome.to_dict(), "stored": self.stored.get(outcome.target, 0)}
            for outcome in self.outcomes
        ]


class Reader:
    """Queries over the store at ``path`` (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.version = schema.check(path)
        if self.version == 0:
            raise UsageError(f"--store {path}: no store there yet (a sweep creates it)")
        if self.version < schema.VERSION:  # written by an earlier eventsweep: upgraded once
            from eventsweep.store.writer import connect

            try:
                connect(path).close()
            except sqlite3.Error as exc:
                raise UsageError(
                    f"--store {path}: store version {self.version} needs an upgrade to"
                    f" {schema.VERSION}, which failed ({exc}); left as it was"
                ) from exc
            self.version = schema.VERSION

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of its own, closed on leaving."""
        connection = schema.read_only(self.path)
        try:
            yield connection
        finally:
            connection.close()

    # ---- events ------------------------------------------------------------------------------

    def events(
        self,
        where: Filter,
        *,
        newest_first: bool = True,
        size: int = PAGE,
        after: str | None = None,
    ) -> Page:
        """One page of matching events, in time order (ties by id); ``after``: a ``next``."""
        key = _token_key(after) if after else None
        with self.connection() as connection:
            rows = list(_matching(connection, where, newest_first, key, size + 1))
        found = [_stored(row) for row in rows[:size]]
        more = len(rows) > size
        return Page(found, _token(rows[size - 1]) if more and size else None)

    def batches(
        self,
        where: Filter,
        *,
        newest_first: bool = True,
        limit: int | None = None,
        by_target: bool = False,
    ) -> Iterator[Batch]:
        """Every matching event in time order (``by_target``: each target's together, targets
        by name), a batch at a time, from one snapshot; ``limit``: at most N per target."""
        counts: dict[str, int] = {}
        with self.connection() as connection:
            held: list[tuple[Any, ...]] = []
            for row in _streamed(connection, where, newest_first, by_target):
                if limit is not None:
                    seen = counts.get(row[2], 0)
                    if seen >= limit:
                        continue
                    counts[row[2]] = seen + 1
                held.append(row)
                if len(held) >= SCAN:
                    yield _batch(held)
                    held = []
            if held:
                yield _batch(held)

    def count(self, where: Filter) -> int:
        """How many stored events match."""
        if _regex(where) is not None or _python_sources(where) is not None:
            return sum(len(batch) for batch in self.batches(where))
        with self.connection() as connection:
            sql, params = _select(where, "count(*)", connection)
            return int(connection.execute(sql, params).fetchone()[0])

    def event(self, id: int) -> Stored | None:
        """One event by its store id, every field."""
        with self.connection() as connection:
            row = connection.execute(
                f"SELECT {_BARE} FROM events WHERE id = ?",
                (id,),
            ).fetchone()
        return _stored(row) if row is not None else None

    # ---- summaries ---------------------------------------------------------------------------

    def histogram(self, where: Filter, buckets: int = BUCKETS) -> Histogram:
        """Counts per bucket per level; the bucket size is the smallest of BUCKET_SIZES that
        covers the filter's range (else the matching events' range) in ``buckets`` or fewer."""
        with self.connection() as connection:
            since, until = where.since, where.until
            if since is None or until is None:
                low, high = _time_range(connection, where)
                since, until = since or low, until or high
            if since is None or until is None:
                return Histogram("", "", 0, [])
            start, end = _epoch(since), _epoch(until)
            seconds = next(
                (s for s in BUCKET_SIZES if (end - start) / s <= buckets), BUCKET_SIZES[-1]
            )
            width = 19 if seconds < 60 else 16 if seconds < 3600 else 13 if seconds < 86400 else 10
            grouped = _grouped(connection, where, width)
        first = start - start % seconds
        slots = range(first, end + 1, seconds)
        counts: dict[int, dict[str, int]] = {slot: {} for slot in slots}
        for prefix, level, count in grouped:
            at = _epoch(prefix)
            slot = at - at % seconds
            if slot in counts:
                levels = counts[slot]
                levels[level] = levels.get(level, 0) + count
        return Histogram(
            since, until, seconds, [(_iso_seconds(slot), counts[slot]) for slot in slots]
        )

    def facets(self, where: Filter, top: int = 10) -> dict[str, list[tuple[Any, int]]]:
        """The most frequent targets, sources, event ids and levels of the matching events,
        with their counts (most frequent first)."""
        with self.connection() as connection:
            if _countable(where):
                return {name: _facet(connection, where, name, top) for name in FACETS}
            return _facets_at_once(connection, where, top)

    # ---- sweeps and bookmarks ---------------------------------------------------------------

    def sweeps(self, limit: int = 50, before: int | None = None) -> list[SweepRecord]:
        """Past (and running) sweeps, newest first, with their outcomes; ``before``: a sweep
        number, to page back."""
        with self.connection() as connection:
            rows = connection.execute(
                f"SELECT {_SWEEP_COLUMNS} FROM sweeps WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (before if before is not None else 1 << 62, limit),
            ).fetchall()
            return [_sweep_record(connection, row) for row in rows]

    def sweep(self, ref: int | str) -> SweepRecord | None:
        """One sweep by its number or id."""
        with self.connection() as connection:
            seq = _sweep_seq(connection, ref)
            row = connection.execute(
                f"SELECT {_SWEEP_COLUMNS} FROM sweeps WHERE seq = ?", (seq,)
            ).fetchone()
            return _sweep_record(connection, row) if row is not None else None

    def bookmarks(self, targets: Sequence[str]) -> dict[str, dict[str, Bookmark]]:
        """The bookmarks kept for these targets: target → log (lower-case) → bookmark."""
        found: dict[str, dict[str, Bookmark]] = {}
        with self.connection() as connection:
            for target in dict.fromkeys(targets):
                rows = connection.execute(
                    "SELECT log, name, record_id, cursor, time, epoch FROM bookmarks"
                    " WHERE target = ?",
                    (target,),
                )
                for log, name, record_id, cursor, time, epoch in rows:
                    found.setdefault(target, {})[log] = Bookmark(
                        log=name, record_id=record_id, cursor=cursor, time=time, epoch=epoch
                    )
        return found


def bookmarks(path: str, targets: Sequence[str]) -> dict[str, dict[str, Bookmark]]:
    """:meth:`Reader.bookmarks` of the store at ``path``; none when there is no store yet."""
    if schema.check(path) == 0:
        return {}
    return Reader(path).bookmarks(targets)


# ---- the query builder ------------------------------------------------------------------------

_ROW = "id, time, target, json_extract(doc, '$.message'), source, doc, sweep"
_BARE = "id, time, target, NULL, source, doc, sweep"  # _ROW without the message, for speed
_SWEEP_COLUMNS = "seq, id, started, ended, command, query, targets, grouping"


def _clauses(
    connection: sqlite3.Connection, where: Filter, walk: bool = False
) -> tuple[list[str], list[Any]]:
    """The filter as SQL conditions and their parameters (the regular expression aside).
    ``walk``: for a statement that stops after a few rows in time order (a page), where a
    common word is best tested row by row; anything that reads every match takes the
    matches from the full-text index."""
    sql: list[str] = []
    params: list[Any] = []
    if where.since is not None:
        sql.append("time >= ?")
        params.append(where.since)
    if where.until is not None:
        sql.append("time <= ?")
        params.append(where.until)
    if len(where.levels) == 1:
        sql.append("level = ?")  # an equality, so that an index walks it in time order
        params.extend(where.levels)
    elif where.levels:
        sql.append(f"level IN ({_marks(where.levels)})")
        params.extend(sorted(where.levels))
    if len(where.event_ids) == 1 and where.event_ids[0][0] == where.event_ids[0][1]:
        sql.append("event_id = ?")
        params.append(where.event_ids[0][0])
    elif where.event_ids:
        sql.append("(" + " OR ".join("event_id BETWEEN ? AND ?" for _ in where.event_ids) + ")")
        params.extend(bound for pair in where.event_ids for bound in pair)
    if len(where.sources) == 1 and _python_sources(where) is None:
        sql.append("source = ? COLLATE NOCASE")
        params.extend(where.sources)
    elif where.sources and all(name.isascii() for name in where.sources):
        sql.append(f"source COLLATE NOCASE IN ({_marks(where.sources)})")
        params.extend(sorted(where.sources))
    if where.logs:
        # "+": never an index term (SQLite 3.40 carried the IN across a join to detections,
        # with the wrong collation, and found nothing)
        sql.append(f"+log COLLATE NOCASE IN ({_marks(where.logs)})")
        params.extend(sorted(where.logs))
    if where.targets:
        sql.append("(" + " OR ".join("target GLOB ?" for _ in where.targets) + ")")
        params.extend(_glob(pattern) for pattern in where.targets)
    if where.sweep is not None:
        sql.append("sweep = ?")
        params.append(_sweep_seq(connection, where.sweep))
    words = _words(where.text)
    if words:
        if walk and _common(connection, words):  # many rows hold it: test the rows the order walks
            sql.append(
                "EXISTS (SELECT 1 FROM events_text WHERE events_text MATCH ?"
                " AND events_text.rowid = events.id)"
            )
        else:  # few rows hold it: those rows, from the index
            sql.append("id IN (SELECT rowid FROM events_text WHERE events_text MATCH ?)")
        params.append(text.match_expression(words))
    return sql, params


COMMON = 0.02  # a word in more than this share of the events is tested row by row


def _common(connection: sqlite3.Connection, words: list[str]) -> bool:
    """Whether the messages holding every word are over :data:`COMMON` of the events (they
    are then found faster walking the time order than through the full-text index): counted
    up to that share only. A plan, never a result."""
    size = connection.execute(
        "SELECT ifnull((SELECT max(id) FROM events) - (SELECT min(id) FROM events), 0)"
    ).fetchone()[0]
    enough = int(COMMON * size) + 1
    found = connection.execute(
        "SELECT count(*) FROM (SELECT rowid FROM events_text WHERE events_text MATCH ? LIMIT ?)",
        (text.match_expression(words), enough),
    ).fetchone()[0]
    return bool(found >= enough)


def _words(pattern: str | None) -> list[str]:
    if not pattern:
        return []
    plain = text.plain_words(pattern)
    return plain if plain is not None else text.required_words(pattern)


def _regex(where: Filter) -> re.Pattern[str] | None:
    """The regular expression applied here (None for a plain-word search or no text)."""
    if not where.text or text.plain_words(where.text) is not None:
        return None
    try:
        return re.compile(where.text)
    except re.error as exc:
        reason = f"--grep: {where.text!r} is not a valid regular expression ({exc})"
        raise UsageError(reason) from None


def _python_sources(where: Filter) -> frozenset[str] | None:
    """Sources compared here (SQL's NOCASE folds ASCII only)."""
    if where.sources and not all(name.isascii() for name in where.sources):
        return where.sources
    return None


def _select(where: Filter, columns: str, connection: sqlite3.Connection) -> tuple[str, list[Any]]:
    conditions, params = _clauses(connection, where)
    body = " AND ".join(conditions) or "1"
    return f"SELECT {columns} FROM events WHERE {body}", params


def _matching(
    connection: sqlite3.Connection,
    where: Filter,
    newest_first: bool,
    key: tuple[str, int] | None,
    limit: int | None,
) -> Iterator[tuple[Any, ...]]:
    """Matching rows (:data:`_ROW`) in time order after ``key``, at most ``limit``: one
    ordered index walk per value of the filter that splits (see :func:`_split`), merged."""
    regex, sources = _regex(where), _python_sources(where)
    exact = regex is None and sources is None
    step = limit if exact and limit is not None else SCAN
    walks = [
        _walk(connection, part, index, newest_first, key, step, regex is not None)
        for part, index in _split(where)
    ]
    rows = walks[0] if len(walks) == 1 else heapq.merge(*walks, key=_order, reverse=newest_first)
    for given, row in enumerate(_kept(rows, regex, sources), 1):
        yield row
        if limit is not None and given >= limit:
            return


def _kept(
    rows: Iterable[tuple[Any, ...]], regex: re.Pattern[str] | None, sources: frozenset[str] | None
) -> Iterator[tuple[Any, ...]]:
    """The rows the filters SQL does not apply keep (a regular expression, sources SQL can't
    fold)."""
    for row in rows:
        if regex is not None and not _searched(regex, row):
            continue
        if sources is not None and (row[4] or "").lower() not in sources:
            continue
        yield row


def _order(row: tuple[Any, ...]) -> tuple[str, int]:
    return row[1], row[0]


SPLIT = 32  # at most this many values of a filter are walked one by one


def _split(where: Filter) -> list[tuple[Filter, str | None]]:
    """The filter as filters of one event id, source or level each (the first of these the
    filter has, with at most :data:`SPLIT` values), with the index that walks each in time
    order; or the filter as it is. An ``IN`` of several values would have SQLite sort every
    match before the first page; each value's walk is already in order."""
    ids = sum(high - low + 1 for low, high in where.event_ids)
    if where.event_ids and ids <= SPLIT:
        values = sorted({n for low, high in where.event_ids for n in range(low, high + 1)})
        return [(_with(where, event_ids=((n, n),)), "events_event_id") for n in values]
    if where.sources and _python_sources(where) is None and len(where.sources) <= SPLIT:
        return [
            (_with(where, sources=frozenset({name})), "events_source")
            for name in sorted(where.sources)
        ]
    if where.levels:
        return [(_with(where, levels=frozenset({level})), "events_level") for level in
                sorted(where.levels)]  # fmt: skip
    return [(where, None)]


def _with(where: Filter, **changes: Any) -> Filter:
    return dataclasses.replace(where, **changes)


def _walk(
    connection: sqlite3.Connection,
    where: Filter,
    index: str | None,
    newest_first: bool,
    key: tuple[str, int] | None,
    step: int,
    message: bool,
) -> Iterator[tuple[Any, ...]]:
    """The filter's rows in time order after ``key``, ``step`` rows a statement."""
    while True:
        sql, params = _page_sql(connection, where, newest_first, key, step, index, message)
        rows = connection.execute(sql, params).fetchall()
        yield from rows
        if len(rows) < step:
            return
        key = _order(rows[-1])


def _streamed(
    connection: sqlite3.Connection, where: Filter, newest_first: bool, by_target: bool
) -> Iterator[tuple[Any, ...]]:
    """Every matching row (:data:`_ROW`), from one statement (one snapshot)."""
    regex, sources = _regex(where), _python_sources(where)
    conditions, params = _clauses(connection, where)
    order = "DESC" if newest_first else "ASC"
    body = " AND ".join(conditions) or "1"
    first = "target, " if by_target else ""
    columns = _ROW if regex is not None else _BARE
    cursor = connection.execute(
        f"SELECT {columns} FROM events WHERE {body} ORDER BY {first}time {order}, id {order}",
        params,
    )
    while rows := cursor.fetchmany(SCAN):
        yield from _kept(rows, regex, sources)


def _searched(regex: re.Pattern[str], row: tuple[Any, ...]) -> bool:
    """Whether the regular expression is found in the row's message (SQLite's JSON functions
    end a text at a NUL: such a message is taken from the event's JSON itself)."""
    if regex.search(row[3] or "") is not None:
        return True
    if "\\u0000" not in row[5]:
        return False
    message = orjson.loads(row[5]).get("message")
    return isinstance(message, str) and regex.search(message) is not None


def _page_sql(
    connection: sqlite3.Connection,
    where: Filter,
    newest_first: bool,
    key: tuple[str, int] | None,
    step: int,
    index: str | None = None,
    message: bool = False,
) -> tuple[str, list[Any]]:
    conditions, params = _clauses(connection, where, walk=True)
    if key is not None:
        before = "<" if newest_first else ">"
        conditions.append(f"time {before}= ? AND (time {before} ? OR id {before} ?)")
        params.extend([key[0], key[0], key[1]])
    order = "DESC" if newest_first else "ASC"
    body = " AND ".join(conditions) or "1"
    source = f"events INDEXED BY {index}" if index else "events"
    columns = _ROW if message else _BARE
    sql = f"SELECT {columns} FROM {source} WHERE {body} ORDER BY time {order}, id {order} LIMIT ?"
    return sql, [*params, step]


def _countable(where: Filter) -> bool:
    """Whether the counts tables can count this filter (no text, sources SQL can fold)."""
    return not where.text and _python_sources(where) is None


def _grouped(
    connection: sqlite3.Connection, where: Filter, width: int
) -> list[tuple[str, str, int]]:
    """(time prefix of ``width`` characters or a finer one, level, count) of the matching
    events; a width of a minute or more is counted from the counts tables."""
    if width <= counts.MINUTE and _countable(where):
        conditions, params = _clauses(connection, _timeless(where))
        coarsest = counts.MINUTE if width == counts.MINUTE else counts.HOUR
        found = counts.tally(
            connection, conditions, params, "level", where.since, where.until, True, coarsest
        )
        return [(at, level or "", count) for (at, level), count in found.items()]
    if _regex(where) is None and _python_sources(where) is None:
        conditions, params = _clauses(connection, where)
        body = " AND ".join(conditions) or "1"
        sql = (
            f"SELECT substr(time, 1, {width:d}), level, count(*) FROM events WHERE {body}"
            " GROUP BY 1, 2"
        )
        return [(str(a), str(b), int(c)) for a, b, c in connection.execute(sql, params)]
    tallied: dict[tuple[str, str], int] = {}
    for row in _streamed(connection, where, True, False):
        event = _stored(row).event
        slot = (row[1][:width], event.level)
        tallied[slot] = tallied.get(slot, 0) + 1
    return [(prefix, level, count) for (prefix, level), count in tallied.items()]


def _facet(
    connection: sqlite3.Connection, where: Filter, name: str, top: int
) -> list[tuple[Any, int]]:
    """One facet, from the counts tables."""
    conditions, params = _clauses(connection, _timeless(where))
    found = counts.tally(connection, conditions, params, name, where.since, where.until, False)
    return _top({value: count for (_, value), count in found.items()}, top)


def _facets_at_once(
    connection: sqlite3.Connection, where: Filter, top: int
) -> dict[str, list[tuple[Any, int]]]:
    """Every facet in one pass over the matching rows (a filter the counts can't answer)."""
    tallied: dict[str, dict[Any, int]] = {name: {} for name in FACETS}

    def add(values: tuple[Any, ...], count: int) -> None:
        for name, value in zip(FACETS, values, strict=True):
            tallied[name][value] = tallied[name].get(value, 0) + count

    if _regex(where) is None and _python_sources(where) is None:
        conditions, params = _clauses(connection, where)
        body = " AND ".join(conditions) or "1"
        columns = ", ".join(FACETS)
        sql = f"SELECT {columns}, count(*) FROM events WHERE {body} GROUP BY 1, 2, 3, 4"
        for *values, count in connection.execute(sql, params):
            add(tuple(values), int(count))
    else:
        for row in _streamed(connection, where, True, False):
            event = _stored(row).event
            add(tuple(getattr(event, name) for name in FACETS), 1)
    return {name: _top(values, top) for name, values in tallied.items()}


def _top(tallied: dict[Any, int], top: int) -> list[tuple[Any, int]]:
    return sorted(tallied.items(), key=lambda item: (-item[1], str(item[0])))[:top]


def _timeless(where: Filter) -> Filter:
    return dataclasses.replace(where, since=None, until=None)


def _time_range(connection: sqlite3.Connection, where: Filter) -> tuple[str | None, str | None]:
    conditions, params = _clauses(connection, where)
    body = " AND ".join(conditions) or "1"
    low = connection.execute(
        f"SELECT time FROM events WHERE {body} ORDER BY time ASC LIMIT 1", params
    ).fetchone()
    high = connection.execute(
        f"SELECT time FROM events WHERE {body} ORDER BY time DESC LIMIT 1", params
    ).fetchone()
    return (low[0] if low else None), (high[0] if high else None)


def _marks(values: frozenset[str]) -> str:
    return ", ".join("?" for _ in values)


def _glob(pattern: str) -> str:
    """A shell wildcard as SQLite's GLOB (``[!…]`` is ``[^…]`` there)."""
    return pattern.replace("[!", "[^")


def _sweep_seq(connection: sqlite3.Connection, ref: int | str) -> int:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return int(ref)
    row = connection.execute("SELECT seq FROM sweeps WHERE id = ?", (ref,)).fetchone()
    return int(row[0]) if row else -1


# ---- rows to values ----------------------------------------------------------------------------


def _stored(row: tuple[Any, ...]) -> Stored:
    return Stored(id=row[0], sweep=row[6], event=EncodedEvent(row[1], row[5].encode() + b"\n"))


def _batch(rows: list[tuple[Any, ...]]) -> Batch:
    lines = "\n".join(row[5] for row in rows) + "\n"
    return Batch.encoded([row[1] for row in rows], lines.encode())


def _token(row: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([row[1], row[0]])).decode().rstrip("=")


def _token_key(token: str) -> tuple[str, int]:
    try:
        time, id = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(time, str) or not isinstance(id, int):
            raise ValueError(token)
    except (ValueError, binascii.Error, TypeError) as exc:
        raise UsageError(f"not a page token: {token!r}") from exc
    return time, id


def _epoch(moment: str) -> int:
    """Whole POSIX seconds of an ISO time or a prefix of one (``2024-01-19T05``)."""
    text = moment.removesuffix("Z")
    if len(text) == 10:
        text += "T00:00:00"
    elif len(text) == 13:
        text += ":00:00"
    elif len(text) == 16:
        text += ":00"
    value = parse_iso(text[:19] + "+00:00")
    return int(value.timestamp())


def _iso_seconds(seconds: int) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def _sweep_record(connection: sqlite3.Connection, row: tuple[Any, ...]) -> SweepRecord:
    seq, id, started, ended, command, query, targets, grouping = row
    outcomes: list[Outcome] = []
    stored: dict[str, int] = {}
    found = connection.execute(
        "SELECT target, status, events, elapsed, warnings, error, notes, stored FROM outcomes"
        " WHERE sweep = ? ORDER BY position",
        (seq,),
    )
    for target, status, events, elapsed, warnings, error, notes, count in found:
        outcomes.append(
            Outcome(target, status, events, elapsed, warnings, error, tuple(orjson.loads(notes)))
        )
        stored[target] = count
    return SweepRecord(
        seq, id, started, ended, command, orjson.loads(query), orjson.loads(targets), grouping,
        outcomes, stored,
    )  # fmt: skip
