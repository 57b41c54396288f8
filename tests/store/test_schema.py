"""The store's file: what is refused (left byte for byte unchanged), versions, migrations."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from eventsweep.cli import main
from eventsweep.model import Event, json_line
from eventsweep.store import schema
from eventsweep.store.reader import Filter, Reader
from eventsweep.store.writer import connect
from tests.store.test_reader import event as reader_event
from tests.store.test_reader import keep


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def other_application(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (body TEXT)")
    connection.execute("INSERT INTO notes VALUES ('mine')")
    connection.commit()
    connection.close()
    return path


def future_store(path: Path) -> Path:
    connection = connect(str(path))
    connection.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    connection.execute("PRAGMA journal_mode = DELETE")  # one file, nothing beside it
    connection.close()
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(os.urandom(8192))
    return path


def an_evtx(path: Path, corpus: Path) -> Path:
    path.write_bytes(next(corpus.rglob("*.evtx")).read_bytes())
    return path


@pytest.mark.parametrize("kind", ["evtx", "sqlite", "random", "future", "directory"])
@pytest.mark.parametrize(
    "command", [["sweep", "--all"], ["query"], ["sweeps"], ["prune", "--before", "1d"]]
)
def test_a_file_that_is_not_a_store_is_refused_and_unchanged(
    kind: str, command: list[str], tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.db"
    if kind == "evtx":
        an_evtx(path, corpus)
    elif kind == "sqlite":
        other_application(path)
    elif kind == "random":
        random_bytes(path)
    elif kind == "future":
        future_store(path)
    else:
        path.mkdir()
    before = digest(path) if path.is_file() else None
    listing = sorted(os.listdir(tmp_path))
    target = [str(next(corpus.rglob("*.evtx")))] if command[0] == "sweep" else []
    code = main([command[0], *target, *command[1:], "--store", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"eventsweep: --store {path}: ")
    assert "not an eventsweep store" in lines[0] or "is a directory" in lines[0]
    if before is not None:
        assert digest(path) == before
    assert sorted(os.listdir(tmp_path)) == listing  # nothing beside it either


def test_a_future_version_names_both_versions(tmp_path: Path) -> None:
    path = future_store(tmp_path / "new.db")
    with pytest.raises(schema.NotAStore, match=f"version {schema.VERSION + 1}"):
        schema.check(str(path))


@pytest.mark.parametrize("start", ["missing", "empty file", "empty database"])
def test_a_new_store_is_created_at_the_current_version(start: str, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "events.db"
    if start != "missing":
        path.parent.mkdir()
        path.write_bytes(b"")
        if start == "empty database":
            sqlite3.connect(path).close()
    assert schema.check(str(path)) == 0
    connect(str(path)).close()
    assert schema.check(str(path)) == schema.VERSION
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_each_migration_runs_from_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The framework: a store written at version N is brought to N + 1 by MIGRATIONS[N], in
    one transaction, its data kept. (The next real version adds its step and a test like it,
    from a store the previous version wrote.)"""
    path = str(tmp_path / "events.db")
    connection = connect(path)
    connection.execute(
        "INSERT INTO sweeps (id, started, command, query, targets, grouping)"
        " VALUES ('s', 't', 'sweep', '{}', '[]', 'target')"
    )
    connection.close()

    def to_next(connection: sqlite3.Connection) -> None:
        connection.execute("ALTER TABLE sweeps ADD COLUMN label TEXT NOT NULL DEFAULT 'old'")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, to_next])
    monkeypatch.setattr(schema, "VERSION", len(schema.MIGRATIONS))
    assert schema.check(path) == schema.VERSION - 1
    connect(path).close()
    reopened = sqlite3.connect(path)
    assert reopened.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    assert reopened.execute("SELECT id, label FROM sweeps").fetchall() == [("s", "old")]


def test_a_failed_migration_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "events.db")
    connect(path).close()

    def broken(connection: sqlite3.Connection) -> None:
        connection.execute("ALTER TABLE sweeps ADD COLUMN label TEXT")
        raise RuntimeError("half-way")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "VERSION", len(schema.MIGRATIONS))
    with pytest.raises(RuntimeError):
        connect(path)
    reopened = sqlite3.connect(path)
    assert reopened.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION - 1
    columns = [row[1] for row in reopened.execute("PRAGMA table_info(sweeps)")]
    assert "label" not in columns


def version_1_store(path: Path, events: list[Event]) -> None:
    """A store as version 1 wrote it: its schema, and its writer's two statements (the JSON
    document alone, the filter columns computed by SQLite; then the full-text rows)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("BEGIN")
    for statement in schema.statements(schema.V1):
        connection.execute(statement)
    connection.execute(
        "INSERT INTO sweeps (id, started, command, query, targets, grouping)"
        " VALUES ('old', '2026-01-01T00:00:00.000000Z', 'sweep', '{}', '[\"t1\"]', 'target')"
    )
    lines = [json_line(event)[:-1].decode() for event in events]
    connection.executemany(
        "INSERT OR IGNORE INTO events (sweep, doc) VALUES (1, ?)", [(line,) for line in lines]
    )
    connection.execute("INSERT INTO events_text (rowid, message) SELECT id, message FROM events")
    connection.execute(
        "INSERT INTO bookmarks VALUES ('t1', 'system', 'System', 99, NULL, 't', 'e', 1)"
    )
    connection.execute(f"PRAGMA application_id = {schema.APPLICATION_ID:d}")
    connection.execute("PRAGMA user_version = 1")
    connection.execute("COMMIT")
    connection.close()


def test_version_1_to_2_keeps_every_event_and_answers_as_a_new_store(tmp_path: Path) -> None:
    events = [reader_event(n) for n in range(300)]
    events += [
        reader_event(n, target="ssh://h", data={"__CURSOR": f"s=1;i={n}"}) for n in range(50)
    ]
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    version_1_store(old, events)
    assert schema.check(str(old)) == 1
    keep(new, [events])
    connect(str(old)).close()  # migrates
    assert schema.check(str(old)) == schema.VERSION
    old_reader, new_reader = Reader(str(old)), Reader(str(new))
    for where in [
        Filter(),
        Filter(text="disk"),
        Filter(levels=frozenset({"error"}), event_ids=((7000, 7001),)),
        Filter(targets=("ssh://*",), since=events[100].time),
    ]:
        assert old_reader.count(where) == new_reader.count(where)
        assert [s.event for s in old_reader.events(where, size=500).events] == [
            s.event for s in new_reader.events(where, size=500).events
        ]
        assert old_reader.facets(where) == new_reader.facets(where)
        assert old_reader.histogram(where) == new_reader.histogram(where)
    assert old_reader.bookmarks(["t1"])["t1"]["system"].record_id == 99
    with old_reader.connection() as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        idents = connection.execute("SELECT ident FROM events ORDER BY id").fetchall()
    assert idents[0][0] == "0" and idents[-1][0] == "s=1;i=49"
    keep(old, [events])  # the same events again: nothing added
    assert old_reader.count(Filter()) == len(events)


def test_query_on_a_version_1_store_upgrades_it_and_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.db"
    version_1_store(path, [reader_event(n) for n in range(20)])
    assert main(["query", "--store", str(path), "--format", "jsonl", "--grep", "disk"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed and all("disk" in line.lower() for line in printed)
    assert schema.check(str(path)) == schema.VERSION
