"""The store as an output of the sweep call: one writer thread, one connection, batches.

:class:`StoreWriter` is an :class:`~eventsweep.sinks.Output`. ``open`` checks the file (a file
that is not a store is refused before anything is written), creates or migrates it, and
records the sweep; ``write`` and ``outcome`` hand their items to the writer thread through a
bounded queue (the sweep never waits on the disk unless the store falls far behind); ``close``
waits for the thread, then records the sweep's end.

The writer thread owns the one connection (WAL). It commits what it holds when it holds
:data:`ROWS` events, when :data:`INTERVAL` seconds have passed since the first of them, and
at each outcome, which is committed with the target's bookmarks in the same transaction, after
the target's events: a sweep killed at any moment leaves every target either with its
bookmarks and all its events, or with its old bookmarks (its events so far are kept, and
stored once: ``INSERT OR IGNORE`` on the identity). Each commit is ``BEGIN IMMEDIATE`` with a
busy timeout, so several sweeps may write one store at once. Values are bound parameters only.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from eventsweep.batch import Batch
from eventsweep.errors import EventsweepError
from eventsweep.model import Event, Outcome, Query, json_line, now_iso
from eventsweep.sinks import SweepInfo
from eventsweep.store import schema

if TYPE_CHECKING:
    from eventsweep.detect.rules import Detection

ROWS = 4096  # events per commit, at most
INTERVAL = 0.1  # seconds an event may wait for its commit
QUEUED = 64  # batches and outcomes waiting for the writer thread
BUSY_MS = 60_000  # how long a commit waits for another writer

_INSERT = (
    "INSERT OR IGNORE INTO events (sweep, time, target, log, ident, event_id, level, source, doc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DETECTION = (
    "INSERT OR IGNORE INTO detections (sweep, target, log, ident, time, rule_id, title, level,"
    " status, tags, path, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_STOP = object()


class StoreError(EventsweepError):
    """The store could not be written (full disk, read-only file…); committed data stays."""


def query_dict(query: Query) -> dict[str, Any]:
    """A query as the JSON the sweeps table keeps."""
    return {
        "since": query.since,
        "until": query.until,
        "levels": sorted(query.levels),
        "event_ids": [list(pair) for pair in query.event_ids],
        "sources": sorted(query.sources),
        "logs": list(query.logs),
        "grep": query.grep.pattern if query.grep is not None else None,
        "limit": query.limit if query.limit is None or query.limit < 1 << 63 else str(query.limit),
    }


def connect(path: str) -> sqlite3.Connection:
    """The writer's connection to the store at ``path``, created or migrated to the current
    version (the file is checked, read-only, before anything is written)."""
    found = schema.check(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_MS:d}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA cache_size = -65536")  # 64 MiB: the indexes' hot pages
        connection.execute("PRAGMA wal_autocheckpoint = 4096")  # 16 MiB: fewer fsyncs
        connection.execute("PRAGMA foreign_keys = ON")
        schema.migrate(connection, found)
    except BaseException:
        connection.close()
        raise
    return connection


@dataclass(slots=True)
class _Held:
    """What the writer thread holds until its next commit."""

    rows: list[Row] = field(default_factory=list)
    spans: list[tuple[str | None, int]] = field(default_factory=list)  # (target, rows) in order
    outcomes: list[Outcome] = field(default_factory=list)
    since: float = 0.0  # when the oldest row arrived
    detections: list[tuple[Any, ...]] = field(default_factory=list)  # a hunt's rows


class StoreWriter:
    """Keeps a sweep (its query, events, outcomes and bookmarks) in the store at ``path``."""

    names_itself = True  # its errors name the store: the command line prints them as they are

    def __init__(self, path: str, command: str = "sweep") -> None:
        self.path = path
        self.command = command
        self.stored: dict[str, int] = {}  # target → events this sweep added (committed)
        self.sweep_seq = 0
        self._connection: sqlite3.Connection | None = None
        self._queue: queue.Queue[Any] = queue.Queue(QUEUED)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._positions: dict[str, int] = {}
        self._by_target = False

    # ---- the Output interface (called from the output's thread) ----------------------------

    def open(self, sweep: SweepInfo) -> None:
        self._connection = connect(self.path)
        self._positions = {target: n for n, target in enumerate(sweep.targets)}
        self._by_target = sweep.group == "target"
        self.sweep_seq = self._record_sweep(sweep)
        self._thread = threading.Thread(target=self._run, name="eventsweep-store", daemon=True)
        self._thread.start()

    def write(self, batch: Batch) -> None:
        if batch:
            # grouped by target, a batch is one target's: its count is the insert's rowcount
            target = batch.events()[0].target if self._by_target else None
            # the rows are made here, in the output's thread, while the writer's thread is in
            # SQLite (which runs without the interpreter lock): the two overlap
            self._put((target, _rows(self.sweep_seq, batch)))

    def outcome(self, outcome: Outcome) -> None:
        self._put(outcome)

    def detections(self, pairs: Sequence[tuple[Event, Detection]]) -> None:
        """A hunt's detections, kept with this sweep: each joined to its event by the event's
        identity (callable from any thread; committed with the events around them)."""
        if pairs:
            self._put(_Detections([detection_row(self.sweep_seq, *pair) for pair in pairs]))

    def close(self) -> None:
        try:
            if self._thread is not None:
                self._put(_STOP, check=False)
                self._thread.join()
            self._raise()
            if self._connection is not None:
                self._transaction(self._end_sweep)
        finally:
            if self._connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._connection.execute("PRAGMA optimize")
                self._connection.close()
                self._connection = None

    # ---- the caller's side -------------------------------------------------------------------

    def _put(self, item: Any, check: bool = True) -> None:
        while True:
            if check:
                self._raise()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if self._thread is None or not self._thread.is_alive():
                    self._raise()
                    return

    def _raise(self) -> None:
        if self._failure is not None:
            reason = self._failure
            text = str(reason) if isinstance(reason, sqlite3.Error) else repr(reason)
            raise StoreError(
                f"--store {self.path}: cannot write ({text}); what was committed stays"
            ) from reason

    # ---- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        held = _Held()
        try:
            while True:
                waiting = held.rows or held.detections
                wait = None if not waiting else max(0.0, held.since + INTERVAL - time.monotonic())
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    self._commit(held)
                    continue
                if item is _STOP:
                    self._commit(held)
                    return
                if isinstance(item, Outcome):
                    held.outcomes.append(item)
                    self._commit(held)
                    continue
                if isinstance(item, _Detections):
                    if not held.rows and not held.detections:
                        held.since = time.monotonic()
                    held.detections.extend(item.rows)
                    continue
                if not held.rows:
                    held.since = time.monotonic()
                target, rows = item
                held.rows.extend(rows)
                held.spans.append((target, len(rows)))
                if len(held.rows) >= ROWS:
                    self._commit(held)
        except BaseException as exc:  # a full disk, a locked file: the sweep is stopped
            self._failure = exc
            self._drain()

    def _drain(self) -> None:
        """After a failure: take what the caller still hands in, so it never blocks."""
        while self._queue.get() is not _STOP:
            pass

    def _commit(self, held: _Held) -> None:
        if held.rows or held.outcomes or held.detections:
            self._transaction(lambda c: self._store(c, held))
        held.rows, held.spans, held.outcomes, held.detections = [], [], [], []

    def _store(self, connection: sqlite3.Connection, held: _Held) -> None:
        before = connection.execute("SELECT ifnull(max(id), 0) FROM events").fetchone()[0]
        total = 0
        if all(target is not None for target, _ in held.spans):
            at = 0
            for target, count in held.spans:
                added = connection.executemany(_INSERT, held.rows[at : at + count]).rowcount
                at += count
                total += added
                assert target is not None
                self.stored[target] = self.stored.get(target, 0) + added
        else:
            total = connection.executemany(_INSERT, held.rows).rowcount
            counted = connection.execute(
                "SELECT target, count(*) FROM events WHERE id > ? GROUP BY target", (before,)
            )
            for target, added in counted:
                self.stored[target] = self.stored.get(target, 0) + added
        if held.rows:
            connection.execute(schema.TEXT, (before,))
            if total == len(held.rows):  # every row was new: counted here, from the rows
                _add_counts(connection, held.rows)
            else:  # some were stored already: counted from what the insert added
                for table in schema.COUNTS:
                    connection.execute(schema.counted(table, "id > ?"), (before,))
        if held.detections:
            connection.executemany(_INSERT_DETECTION, held.detections)
        for outcome in held.outcomes:
            self._store_outcome(connection, outcome)

    def _store_outcome(self, connection: sqlite3.Connection, outcome: Outcome) -> None:
        connection.execute(
            "INSERT OR REPLACE INTO outcomes (sweep, position, target, status, events, elapsed,"
            " warnings, error, notes, stored) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.sweep_seq,
                self._positions.get(outcome.target, len(self._positions)),
                outcome.target,
                outcome.status,
                outcome.events,
                outcome.elapsed,
                outcome.warnings,
                outcome.error,
                orjson.dumps(list(outcome.notes)).decode(),
                self.stored.get(outcome.target, 0),
            ),
        )
        connection.executemany(
            "INSERT OR REPLACE INTO bookmarks (target, log, name, record_id, cursor, time, epoch,"
            " sweep) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (outcome.target, mark.log.lower(), mark.log, mark.record_id, mark.cursor,
                 mark.time, mark.epoch, self.sweep_seq)
                for mark in outcome.bookmarks
            ],
        )  # fmt: skip

    # ---- transactions ------------------------------------------------------------------------

    def _transaction(self, work: Any) -> Any:
        connection = self._connection
        assert connection is not None
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = work(connection)
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        return result

    def _record_sweep(self, sweep: SweepInfo) -> int:
        def insert(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "INSERT INTO sweeps (id, started, command, query, targets, grouping)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    sweep.id,
                    sweep.started,
                    self.command,
                    orjson.dumps(query_dict(sweep.query)).decode(),
                    orjson.dumps(list(sweep.targets)).decode(),
                    sweep.group,
                ),
            )
            return int(cursor.lastrowid or 0)

        seq: int = self._transaction(insert)
        return seq

    def _end_sweep(self, connection: sqlite3.Connection) -> None:
        connection.execute("UPDATE sweeps SET ended = ? WHERE seq = ?", (now_iso(), self.sweep_seq))


@dataclass(frozen=True, slots=True)
class _Detections:
    rows: list[tuple[Any, ...]]


def identity(event: Event) -> tuple[str, str, str, str]:
    """An event's identity as the store's ``events_identity`` has it: target, log, ``ident``
    (the journald cursor, else the record id, else "") and time."""
    cursor = event.data.get("__CURSOR") if isinstance(event.data, dict) else None
    return event.target, event.log, _ident(cursor, event.record_id), event.time


def detection_row(seq: int, event: Event, detection: Detection) -> tuple[Any, ...]:
    """A detections row: the sweep, the event's identity, the rule and what it matched."""
    return (
        seq,
        *identity(event),
        detection.id,
        detection.title,
        detection.level,
        detection.status,
        orjson.dumps(list(detection.tags)).decode(),
        detection.path,
        orjson.dumps(list(detection.fields)).decode(),
    )


Row = tuple[int, str, str, str | None, str, int | None, str | None, str | None, str]
_MESSAGE = ',"message":'
_CURSOR = '"__CURSOR":'
_COLUMNS = frozenset({"time", "target", "log", "record_id", "event_id", "level", "source"})


def _rows(seq: int, batch: Batch) -> list[Row]:
    """The batch's events as rows: the sweep, the filter columns and each event's JSON text."""
    if not batch.undecoded:
        events = batch.events()
        if all(type(event) is Event for event in events):
            return [_event_row(seq, event) for event in events]
    text = batch.jsonl().decode("utf-8")
    return [_line_row(seq, line) for line in text.split("\n") if line]


def _add_counts(connection: sqlite3.Connection, rows: list[Row]) -> None:
    """Add the rows to the counts tables (as :func:`schema.counted` would, without reading
    the rows back)."""
    minutes: collections.Counter[tuple[Any, ...]] = collections.Counter(
        (row[1][:16], row[2], row[3] or "", row[7] or "", -1 if row[5] is None else row[5],
         row[6] or "", row[0])
        for row in rows
    )  # fmt: skip
    hours: collections.Counter[tuple[Any, ...]] = collections.Counter()
    for key, count in minutes.items():
        hours[(key[0][:13], *key[1:])] += count
    for table, found in (("counts_minute", minutes), ("counts_hour", hours)):
        connection.executemany(
            f"INSERT INTO {table} (at, target, log, source, event_id, level, sweep, n)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
            [(*key, count) for key, count in found.items()],
        )


def _event_row(seq: int, event: Event) -> Row:
    _, _, ident, _ = identity(event)
    line = json_line(event)[:-1].decode("utf-8")
    return (seq, event.time, event.target, event.log, ident, event.event_id, event.level,
            event.source, line)  # fmt: skip


def _line_row(seq: int, line: str) -> Row:
    """The columns of one JSON line. The fields before ``message`` (every column but the
    journald cursor) are decoded alone where the line has the documented order and no cursor:
    a fifth of the line's cost; anything else is decoded whole."""
    fields: Any = None
    cut = line.find(_MESSAGE)
    if cut > 0 and _CURSOR not in line:
        with contextlib.suppress(orjson.JSONDecodeError):
            fields = orjson.loads(line[:cut] + "}")
    if not isinstance(fields, dict) or not _COLUMNS.issubset(fields):
        fields = orjson.loads(line)
    data = fields.get("data")
    cursor = data.get("__CURSOR") if isinstance(data, dict) else None
    return (seq, fields["time"], fields["target"], fields.get("log"),
            _ident(cursor, fields.get("record_id")), fields.get("event_id"), fields.get("level"),
            fields.get("source"), line)  # fmt: skip


def _ident(cursor: Any, record_id: Any) -> str:
    """What tells an event from others of its target, log and time (as version 1 had it:
    the cursor, else the record id, as text)."""
    if cursor is not None:
        return cursor if isinstance(cursor, str) else orjson.dumps(cursor).decode()
    return str(record_id) if record_id is not None else ""


PRUNE_STEP = 20_000  # events deleted per transaction (other writers go on between them)


def _prune_step(connection: sqlite3.Connection, before: str) -> int:
    """Delete up to :data:`PRUNE_STEP` events older than ``before``, and take them off the
    counts in the same transaction."""
    connection.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)")
    connection.execute("DELETE FROM doomed")
    connection.execute(
        "INSERT INTO doomed SELECT id FROM events WHERE time < ? LIMIT ?", (before, PRUNE_STEP)
    )
    for table in schema.COUNTS:
        connection.execute(schema.counted(table, "id IN (SELECT id FROM doomed)", sign="-"))
        connection.execute(f"DELETE FROM {table} WHERE at <= ? AND n = 0", (before,))
    cursor = connection.execute("DELETE FROM events WHERE id IN (SELECT id FROM doomed)")
    return int(cursor.rowcount)


def prune(path: str, before: str) -> tuple[int, int]:
    """Delete the events (and detections) older than ``before`` (ISO UTC) and the sweeps that
    ended before it (with their outcomes); bookmarks stay, so ``--new`` still resumes where it
    was. Returns (events, sweeps) deleted. A step at a time: a sweep writing meanwhile is not
    held up."""
    if schema.check(path) == 0:
        return 0, 0
    connection = connect(path)
    events = 0
    try:
        while True:
            connection.execute("BEGIN IMMEDIATE")
            try:
                deleted = _prune_step(connection, before)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            events += deleted
            if deleted < PRUNE_STEP:
                break
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("DELETE FROM detections WHERE time < ?", (before,))  # as their events
        sweeps = connection.execute(
            "DELETE FROM sweeps WHERE ended IS NOT NULL AND ended < ?", (before,)
        ).rowcount
        connection.execute("COMMIT")
        connection.execute("PRAGMA optimize")
    finally:
        connection.close()
    return events, sweeps
