"""The store's schema, its version and its migrations; and the check that a file is a store.

A store is one SQLite file marked as eventsweep's by ``PRAGMA application_id`` (``EVSW``) and
versioned by ``PRAGMA user_version``. :func:`check` looks at a file before anything writes to
it: the first bytes must be SQLite's, then, opened read-only, its application id must be ours
(or the database empty) and its version one this code knows. A file that fails is refused with
one line (:class:`NotAStore`, exit status 2) and left byte for byte as it was.

Events are kept as their JSON Lines text (``doc``: every field of the event shape, exactly as
the sweep handed it on) beside the columns the filters need (time, target, log, ``ident``,
event id, level, source), which the writer takes from the event once (version 1 computed them
from ``doc`` with ``json_extract``, nine JSON parses a row). The identity of an event
(``events_identity``) is target + log + ``ident`` + time, where ``ident`` is the journald
cursor, else the record id: re-reading a record adds nothing, and a cleared log whose ids start
again is not mistaken for the old one. The full-text index (``events_text``, FTS5 over the
message, contentless: the message is read from ``doc``) is filled by the writer, a batch at a
time after its rows; a trigger removes what is deleted.

Counts (``counts_minute``, ``counts_hour``): the number of events per minute (hour) of their
time, target, log, source, event id, level and sweep, kept by the writer in the transaction of
the rows it counts (from the rows the insert really added). Histograms and facets over any
range read whole hours and minutes from them and only the edges from ``events``: a
histogram of a million events reads a few thousand rows. Absent values are kept as ``''``
(log, source, level) and ``-1`` (event id), a primary key's columns being NOT NULL.

Migrations: ``MIGRATIONS[n]`` takes a store from version ``n`` to ``n + 1`` inside the
transaction :func:`migrate` opens; the next version is one function appended here and a test
that opens a store written by the previous one.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from eventsweep.errors import UsageError

APPLICATION_ID = 0x45565357  # "EVSW"
SQLITE_MAGIC = b"SQLite format 3\x00"

V1 = """
CREATE TABLE sweeps (
    seq      INTEGER PRIMARY KEY,   -- the short number users type (--sweep 12)
    id       TEXT NOT NULL UNIQUE,  -- SweepInfo.id
    started  TEXT NOT NULL,
    ended    TEXT,                  -- NULL while running, or when the sweep was killed
    command  TEXT NOT NULL,         -- sweep, sweep --new, follow
    query    TEXT NOT NULL,         -- JSON: the window and filters as given
    targets  TEXT NOT NULL,         -- JSON list, as planned
    grouping TEXT NOT NULL
);
CREATE TABLE outcomes (
    sweep    INTEGER NOT NULL REFERENCES sweeps(seq) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    target   TEXT NOT NULL,
    status   TEXT NOT NULL,
    events   INTEGER NOT NULL,
    elapsed  REAL NOT NULL,
    warnings INTEGER NOT NULL,
    error    TEXT,
    notes    TEXT NOT NULL,         -- JSON list
    stored   INTEGER NOT NULL,      -- events this sweep added to the store for the target
    PRIMARY KEY (sweep, position)
);
CREATE TABLE bookmarks (
    target    TEXT NOT NULL,
    log       TEXT NOT NULL,        -- lower-case
    name      TEXT NOT NULL,        -- the log as the source named it
    record_id INTEGER,
    cursor    TEXT,
    time      TEXT NOT NULL,
    epoch     TEXT NOT NULL,
    sweep     INTEGER NOT NULL,
    PRIMARY KEY (target, log)
) WITHOUT ROWID;
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    sweep     INTEGER NOT NULL,     -- the sweep that stored it first
    doc       TEXT NOT NULL,        -- the event's JSON object, every field
    time      TEXT AS (json_extract(doc, '$.time')),
    target    TEXT AS (json_extract(doc, '$.target')),
    log       TEXT AS (json_extract(doc, '$.log')),
    record_id INTEGER AS (json_extract(doc, '$.record_id')),
    event_id  INTEGER AS (json_extract(doc, '$.event_id')),
    level     TEXT AS (json_extract(doc, '$.level')),
    source    TEXT AS (json_extract(doc, '$.source')),
    message   TEXT AS (json_extract(doc, '$.message')),
    ident     TEXT AS (coalesce(json_extract(doc, '$.data.__CURSOR'),
                                CAST(json_extract(doc, '$.record_id') AS TEXT), ''))
);
CREATE UNIQUE INDEX events_identity ON events (target, log, ident, time);
CREATE INDEX events_time ON events (time, level);
CREATE INDEX events_event_id ON events (event_id, time);
CREATE INDEX events_source ON events (source COLLATE NOCASE, time);
CREATE INDEX events_sweep ON events (sweep);
CREATE VIRTUAL TABLE events_text USING fts5 (
    message, content = 'events', content_rowid = 'id', detail = 'none'
);
CREATE TRIGGER events_text_drop AFTER DELETE ON events BEGIN
    INSERT INTO events_text (events_text, rowid, message) VALUES ('delete', old.id, old.message);
END;
"""


def statements(script: str) -> list[str]:
    """The statements of a script, one by one (``executescript`` would commit first)."""
    found, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    return found


V2_TABLES = """
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    sweep     INTEGER NOT NULL,     -- the sweep that stored it first
    time      TEXT NOT NULL,
    target    TEXT NOT NULL,
    log       TEXT,
    ident     TEXT NOT NULL,        -- the journald cursor, else the record id as text, else ''
    event_id  INTEGER,
    level     TEXT,
    source    TEXT,
    doc       TEXT NOT NULL         -- the event's JSON object, every field
);
CREATE VIRTUAL TABLE events_text USING fts5 (message, content = '', detail = 'none');
CREATE TRIGGER events_text_drop AFTER DELETE ON events BEGIN
    INSERT INTO events_text (events_text, rowid, message)
    VALUES ('delete', old.id, json_extract(old.doc, '$.message'));
END;
CREATE TABLE counts_minute (
    at TEXT NOT NULL, target TEXT NOT NULL, log TEXT NOT NULL, source TEXT NOT NULL,
    event_id INTEGER NOT NULL, level TEXT NOT NULL, sweep INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (at, target, log, source, event_id, level, sweep)
) WITHOUT ROWID;
CREATE TABLE counts_hour (
    at TEXT NOT NULL, target TEXT NOT NULL, log TEXT NOT NULL, source TEXT NOT NULL,
    event_id INTEGER NOT NULL, level TEXT NOT NULL, sweep INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (at, target, log, source, event_id, level, sweep)
) WITHOUT ROWID;
"""
V2_INDEXES = """
CREATE UNIQUE INDEX events_identity ON events (target, log, ident, time);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_level ON events (level, time);
CREATE INDEX events_event_id ON events (event_id, time);
CREATE INDEX events_source ON events (source COLLATE NOCASE, time);
CREATE INDEX events_sweep ON events (sweep);
"""
COUNTS = {"counts_minute": 16, "counts_hour": 13}  # table → the time prefix it counts by


def counted(table: str, rows: str, sign: str = "") -> str:
    """The SQL that adds to ``table`` the counts of the rows of ``events`` that ``rows`` (a
    condition) selects; ``sign`` "-" takes them off instead."""
    return f"""INSERT INTO {table} (at, target, log, source, event_id, level, sweep, n)
    SELECT substr(time, 1, {COUNTS[table]:d}), target, ifnull(log, ''), ifnull(source, ''),
           ifnull(event_id, -1), ifnull(level, ''), sweep, {sign}count(*)
    FROM events WHERE {rows} GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT DO UPDATE SET n = n + excluded.n"""


TEXT = (
    "INSERT INTO events_text (rowid, message) SELECT id, json_extract(doc, '$.message')"
    " FROM events WHERE id > ?"
)


def _to_v1(connection: sqlite3.Connection) -> None:
    for statement in statements(V1):
        connection.execute(statement)


def _to_v2(connection: sqlite3.Connection) -> None:
    """Stored columns instead of virtual ones, a contentless full-text index, the counts.
    The rows keep their ids; the indexes are built after the copy (faster than row by row)."""
    for name in ("events_identity", "events_time", "events_event_id", "events_source",
                 "events_sweep"):  # fmt: skip
        connection.execute(f"DROP INDEX {name}")
    connection.execute("DROP TRIGGER events_text_drop")
    connection.execute("DROP TABLE events_text")
    connection.execute("ALTER TABLE events RENAME TO events_v1")
    for statement in statements(V2_TABLES):
        connection.execute(statement)
    connection.execute(
        "INSERT INTO events (id, sweep, time, target, log, ident, event_id, level, source, doc)"
        " SELECT id, sweep, time, target, log, ident, event_id, level, source, doc"
        " FROM events_v1 ORDER BY id"
    )
    connection.execute("DROP TABLE events_v1")
    for statement in statements(V2_INDEXES):
        connection.execute(statement)
    connection.execute(TEXT, (0,))
    for table in COUNTS:
        connection.execute(counted(table, "id > ?"), (0,))


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = [_to_v1, _to_v2]  # MIGRATIONS[n]: version n → n + 1
VERSION = len(MIGRATIONS)


class NotAStore(UsageError):
    """The file is not an eventsweep store, or of a version this code does not know."""


def check(path: str) -> int:
    """The version of the store at ``path`` (0: no store yet: missing, empty, or an empty
    SQLite database); raises :class:`NotAStore` for anything else. Never writes."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return 0
    except IsADirectoryError:
        raise NotAStore(f"--store {path}: is a directory, not an eventsweep store") from None
    except OSError as exc:
        raise NotAStore(f"--store {path}: cannot read ({exc.strerror or exc})") from exc
    if not head:
        return 0
    if head != SQLITE_MAGIC:
        raise _refused(path, "not an SQLite database")
    return _check_database(path)


def _check_database(path: str) -> int:
    try:
        connection = sqlite3.connect(f"{_uri(path)}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise _refused(path, f"cannot open it ({exc})") from exc
    try:
        application = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    except sqlite3.Error as exc:
        raise _refused(path, f"unreadable ({exc})") from exc
    finally:
        connection.close()
    if application == 0 and version == 0 and tables == 0:
        return 0
    if application != APPLICATION_ID:
        raise _refused(path, "another application's SQLite database")
    if version > VERSION:
        raise _refused(
            path, f"written by a newer eventsweep (store version {version}, this one knows"
            f" up to {VERSION})"
        )  # fmt: skip
    return int(version)


def _refused(path: str, why: str) -> NotAStore:
    return NotAStore(f"--store {path}: not an eventsweep store ({why}); left unchanged")


def _uri(path: str) -> str:
    from urllib.parse import quote

    return "file:" + quote(os.path.abspath(path))


def read_only(path: str) -> sqlite3.Connection:
    """A read-only connection to the store at ``path`` (checked first)."""
    check(path)
    connection = sqlite3.connect(f"{_uri(path)}?mode=ro", uri=True, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 30000")
    return connection


def migrate(connection: sqlite3.Connection, found: int) -> None:
    """Bring a store from version ``found`` to :data:`VERSION`, all in one transaction: a
    migration killed half-way leaves the store as it was."""
    if found >= VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        current = connection.execute("PRAGMA user_version").fetchone()[0]  # another writer?
        for step in range(current, VERSION):
            MIGRATIONS[step](connection)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
        connection.execute(f"PRAGMA user_version = {VERSION:d}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
