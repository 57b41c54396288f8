"""Detections kept in the store with their hunt, ``hunt --stored`` over the stored events, and
the store migration that adds the detections table to a store of the previous version."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from eventsweep.store import detections, schema
from eventsweep.store.detections import by_rule, listing, of_events
from eventsweep.store.reader import Filter, Reader
from eventsweep.store.writer import connect, prune
from tests.cli.test_hunt import CRASH, FAILED, LOCKOUT, WEEK, _rules, _run

FILES_RULES = {"failed": FAILED, "lockout": LOCKOUT, "crash": CRASH}


@pytest.fixture(autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSWEEP_CACHE", str(tmp_path_factory.getbasetemp() / "sigma-cache"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from eventsweep.demo import generate
    from tests.cli.test_hunt import END

    folder = tmp_path_factory.mktemp("demo") / "demo"
    generate(folder, end=END)
    return folder


def _records(out: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in out.splitlines()]
    for record in found:
        del record["collected_at"]  # when it was read: the hunt's, or the sweep's that stored it
    return found


def _key(record: dict[str, Any]) -> tuple[Any, ...]:
    return record["target"], record["time"], record["record_id"], record["rule"]["id"]


def _hunt(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    code, out, err = _run(capsys, "hunt", *argv, "--format", "jsonl")
    assert code == 0, err
    return _records(out)


def test_a_hunt_keeps_its_events_and_detections(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", **FILES_RULES)
    store = str(tmp_path / "events.db")
    kept = _hunt(capsys, str(demo), "--rules", str(rules), *WEEK, "--store", store)
    unkept = _hunt(capsys, str(demo), "--rules", str(rules), *WEEK, "--no-store")
    assert kept == unkept and len(kept) > 10  # the store changes nothing printed
    reader = Reader(store)
    (sweep,) = reader.sweeps()
    # the events the hunt read (only those the rules' event ids name: the pushdown) are kept
    assert sweep.command == "hunt" and sweep.events == reader.count(Filter()) == len(kept)
    listed = listing(reader, Filter(), size=10_000)
    assert len(listed) == len(kept)
    events = {item.event_id: reader.event(item.event_id) for item in listed}
    pairs = sorted(
        (stored.event.target, stored.event.time, stored.event.record_id, item.detection.id)
        for item in listed
        if (stored := events[item.event_id]) is not None
    )
    assert pairs == sorted(_key(record) for record in kept)  # each joined to its own event
    first = listed[0]
    detection = of_events(reader, [first.event_id])[first.event_id][0]
    printed = next(r["rule"] for r in kept if _key(r)[:2] == (first.target, first.time))
    assert detection.to_dict() == printed
    counts = {count.title: count.count for count in by_rule(reader, Filter())}
    expected: dict[str, int] = {}
    for record in kept:
        expected[record["rule"]["title"]] = expected.get(record["rule"]["title"], 0) + 1
    assert counts == expected
    # counted from the detections alone (time, target, log) as through their events
    since = sorted(record["time"] for record in kept)[len(kept) // 2]
    for where in [
        Filter(),
        Filter(since=since),
        Filter(targets=("*DC01*",), logs=frozenset({"security"})),
    ]:
        alone = by_rule(reader, where)
        with pytest.MonkeyPatch.context() as joined:
            joined.setattr(detections, "_detections_alone", lambda where: False)
            assert alone == by_rule(reader, where)
    # a second hunt of the same events adds events and detections once only
    _hunt(capsys, str(demo), "--rules", str(rules), *WEEK, "--store", store)
    assert len(listing(reader, Filter(), size=10_000)) == len(kept)
    assert of_events(reader, [first.event_id])[first.event_id] == [detection]


def test_hunt_stored_hunts_what_the_store_keeps(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", **FILES_RULES)
    store = str(tmp_path / "events.db")
    code, _, err = _run(capsys, "sweep", str(demo), *WEEK, "--store", store, "--format", "jsonl")
    assert code == 0, err
    direct = _hunt(capsys, str(demo), "--rules", str(rules), *WEEK, "--no-store")
    stored = _hunt(capsys, "--stored", "--rules", str(rules), "--store", store)
    assert sorted(map(_key, stored)) == sorted(map(_key, direct))
    assert sorted(stored, key=_key) == sorted(direct, key=_key)  # every field, the rule's too
    reader = Reader(store)
    assert reader.sweeps()[0].command == "hunt --stored"
    assert len(listing(reader, Filter(), size=10_000)) == len(direct)  # kept for the web
    dc = [r for r in direct if "DC01" in r["target"]]
    assert 0 < len(dc) < len(direct)
    on = ("--stored", "--rules", str(rules), "--store", store)
    by_target = _hunt(capsys, *on, "--target", "*DC01*")
    assert sorted(map(_key, by_target)) == sorted(map(_key, dc))
    late = _hunt(capsys, *on, "--since", "2024-01-19T00:00:00Z")
    assert {r["time"] >= "2024-01-19" for r in late} == {True}
    assert len(late) == sum(r["time"] >= "2024-01-19" for r in direct) > 0
    assert sorted(_hunt(capsys, *on, "--sweep", "1"), key=_key) == sorted(direct, key=_key)
    code, out, _ = _run(capsys, "hunt", *on, "--summary")
    assert code == 0 and "Failed logon" in out


def test_hunt_stored_refuses_what_makes_no_sense(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", failed=FAILED)
    store = str(tmp_path / "none.db")
    cases = [
        (["--stored", "--store", store], "no store there yet"),
        (["--stored", str(demo)], "give no TARGET"),
        (["--stored", "--no-store"], "needs the store"),
        ([str(demo), "--target", "x*"], "--target: only with --stored"),
        ([str(demo), "--sweep", "3"], "--sweep: only with --stored"),
    ]
    for argv, message in cases:
        code, _, err = _run(capsys, "hunt", "--rules", str(rules), *argv)
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)
    _run(capsys, "sweep", str(demo), *WEEK, "--store", store, "--format", "jsonl")
    code, _, err = _run(
        capsys, "hunt", "--stored", "--rules", str(rules), "--store", store, "--sweep", "99"
    )
    assert code == 2 and "no such sweep" in err


def test_a_store_of_the_previous_version_gains_the_detections_table(tmp_path: Path) -> None:
    path = str(tmp_path / "v1.db")
    old = sqlite3.connect(path, isolation_level=None)
    for statement in schema.statements(schema.V1):
        old.execute(statement)
    old.execute(f"PRAGMA application_id = {schema.APPLICATION_ID:d}")
    old.execute("PRAGMA user_version = 1")
    old.execute(
        "INSERT INTO sweeps (id, started, command, query, targets, grouping)"
        " VALUES ('s1', '2024-01-01T00:00:00Z', 'sweep', '{}', '[]', 'target')"
    )
    doc = {"time": "2024-01-01T00:00:00.000000Z", "target": "t", "log": "Security",
           "record_id": 7, "message": "m", "data": {}}  # fmt: skip
    old.execute("INSERT INTO events (sweep, doc) VALUES (1, ?)", (json.dumps(doc),))
    old.execute("INSERT INTO events_text (rowid, message) SELECT id, message FROM events")
    old.close()
    reader = Reader(path)  # a reader upgrades it too
    assert reader.version == schema.VERSION >= 3
    assert of_events(reader, [1]) == {} and by_rule(reader, Filter()) == []
    connect(path).close()
    assert schema.check(path) == schema.VERSION
    migrated = sqlite3.connect(path)
    names = {row[0] for row in migrated.execute("SELECT name FROM sqlite_schema")}
    assert {"detections", "detections_identity", "events", "events_identity"} <= names
    assert migrated.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    migrated.execute(
        "INSERT INTO detections (sweep, target, log, ident, time, rule_id, title, level, status,"
        " tags, path, fields) VALUES (1, 't', 'Security', '7', ?, 'r', 'R', 'high', 'test',"
        " '[]', 'r.yml', '[\"event_id\"]')",
        (doc["time"],),
    )
    migrated.commit()
    migrated.close()
    assert [d.fields for d in of_events(Reader(path), [1])[1]] == [("event_id",)]
    assert prune(path, "2025-01-01T00:00:00Z")[0] == 1
    assert by_rule(Reader(path), Filter()) == []  # pruned with their events
