"""The writer and the reader together, without a sweep: what is kept, found, paged, counted."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from eventsweep.batch import Batch
from eventsweep.model import Bookmark, Event, Outcome, Query, iso_from_epoch
from eventsweep.query import build_query
from eventsweep.sinks import SweepInfo
from eventsweep.store.reader import Filter, Reader
from eventsweep.store.writer import StoreWriter, prune

T0 = 1_700_000_000
HOSTILE = [
    "'; DROP TABLE events; --",
    'Robert"); DELETE FROM sweeps; --',
    "nul\x00inside",
    "\\x00 %s %d ? ?1 :name @p $v",
    "<script>alert(1)</script>",
    "😀 ünïcode \u2028 line separator",
    "disk full on /dev/sda1",
]


def event(n: int, target: str = "t1", **more: object) -> Event:
    fields: dict[str, object] = {
        "time": iso_from_epoch(T0 + n),
        "target": target,
        "computer": "HOST",
        "log": "System",
        "record_id": n,
        "event_id": 7000 + n % 3,
        "level": ("error", "warning", "info")[n % 3],
        "source": ("Disk", "Tcpip", "Service Control Manager")[n % 3],
        "category": None,
        "message": f"event {n} " + HOSTILE[n % len(HOSTILE)],
        "data": {"n": n, HOSTILE[n % len(HOSTILE)]: HOSTILE[(n + 1) % len(HOSTILE)]},
        "collected_at": iso_from_epoch(T0 + 10_000),
    }
    fields.update(more)
    return Event(**fields)  # type: ignore[arg-type]


def keep(
    path: Path, batches: list[list[Event]], outcomes: Sequence[Outcome] = (), id: str = ""
) -> StoreWriter:
    writer = StoreWriter(str(path))
    targets = tuple(dict.fromkeys(e.target for batch in batches for e in batch))
    writer.open(SweepInfo(id or uuid.uuid4().hex, targets, Query()))
    for batch in batches:
        writer.write(Batch(batch))
    for outcome in outcomes:
        writer.outcome(outcome)
    writer.close()
    return writer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "events.db"
    keep(
        path,
        [[event(n) for n in range(300)], [event(n, "ssh://web01") for n in range(50)]],
        id="sweep-id",
    )
    yield path


def test_every_field_comes_back_as_data(store: Path) -> None:
    reader = Reader(str(store))
    page = reader.events(Filter(targets=("t1",)), size=400)
    assert [stored.event.to_dict() for stored in page.events] == [
        event(n).to_dict() for n in range(299, -1, -1)
    ]
    tables = sqlite3.connect(store).execute("SELECT name FROM sqlite_schema").fetchall()
    assert ("events",) in tables and ("sweeps",) in tables
    one = reader.event(page.events[7].id)
    assert one is not None and one.event.to_dict() == event(292).to_dict()


def test_the_same_event_is_kept_once(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    first = keep(path, [[event(n) for n in range(100)]])
    again = keep(path, [[event(n) for n in range(150)], [event(n) for n in range(100)]])
    assert first.stored == {"t1": 100} and again.stored == {"t1": 50}
    assert Reader(str(path)).count(Filter()) == 150
    # a cleared log whose ids start again: the same ids, other times, are other events
    keep(path, [[event(n, time=iso_from_epoch(T0 + 5000 + n)) for n in range(10)]])
    assert Reader(str(path)).count(Filter()) == 160


@pytest.mark.parametrize("newest_first", [True, False])
@pytest.mark.parametrize("size", [1, 7, 50, 1000])
def test_keyset_pages_cover_every_match_once_in_order(
    store: Path, newest_first: bool, size: int
) -> None:
    reader = Reader(str(store))
    where = Filter(levels=frozenset({"error", "warning"}))
    seen: list[tuple[str, int]] = []
    after = None
    while True:
        page = reader.events(where, newest_first=newest_first, size=size, after=after)
        seen.extend((s.event.time, s.id) for s in page.events)
        assert len(page.events) <= size
        if page.next is None:
            break
        after = page.next
    assert len(seen) == len(set(seen)) == reader.count(where) == 234
    assert seen == sorted(seen, reverse=newest_first)


ALL = [event(n) for n in range(300)] + [event(n, "ssh://web01") for n in range(50)]


def expected(keep: Callable[[Event], bool]) -> int:
    return sum(1 for e in ALL if keep(e))


def test_filters(store: Path) -> None:
    reader = Reader(str(store))

    def count(**given: object) -> int:
        return reader.count(Filter(**given))  # type: ignore[arg-type]

    assert count() == 350
    since, until = iso_from_epoch(T0 + 100), iso_from_epoch(T0 + 199)
    assert count(since=since, until=until) == expected(lambda e: since <= e.time <= until)
    assert count(levels=frozenset({"error"})) == expected(lambda e: e.level == "error")
    assert count(event_ids=((7001, 7002),)) == expected(lambda e: e.event_id in (7001, 7002))
    assert count(sources=frozenset({"tcpip"})) == expected(lambda e: e.source == "Tcpip")
    assert count(logs=frozenset({"system"})) == 350 and count(logs=frozenset({"x"})) == 0
    assert count(targets=("ssh://web*",)) == 50 and count(targets=("t[!x]",)) == 300
    assert count(sweep=1) == 350 and count(sweep="sweep-id") == 350 and count(sweep=2) == 0
    # text: plain words are a full-text search (any case, whole words) …
    disk = expected(lambda e: "disk full" in e.message)
    assert count(text="disk") == count(text="DISK") == count(text="full disk") == disk > 0
    assert count(text="dis") == 0
    # … anything else a regular expression, as sweep applies it
    assert count(text="drop table") == expected(lambda e: "DROP TABLE" in e.message) > 0
    assert count(text=r"TABLE events;") == expected(lambda e: "TABLE events;" in e.message) > 0
    assert count(text=r"table events;") == 0
    assert count(text=r"event \d+ disk") == disk
    assert count(text="nul\x00inside") == expected(lambda e: "nul\x00inside" in e.message) > 0


def test_a_query_filter_is_the_sweep_s(store: Path) -> None:
    query = build_query(since=None, levels=["error"], sources=["DISK"], grep="disk")
    assert Reader(str(store)).count(Filter.of(query)) == expected(query.matches)


def test_histogram_and_facets(store: Path) -> None:
    reader = Reader(str(store))
    histogram = reader.histogram(Filter())
    assert histogram.seconds == 5
    assert sum(sum(counts.values()) for _, counts in histogram.buckets) == 350
    assert histogram.buckets[0][0] <= iso_from_epoch(T0)
    assert all(len(counts) <= 3 for _, counts in histogram.buckets)
    hour = reader.histogram(Filter(since=iso_from_epoch(T0), until=iso_from_epoch(T0 + 3600)))
    assert hour.seconds == 60 and len(hour.buckets) == 61
    first = [e.level for e in ALL if e.time < "2023-11-14T22:14:00"]  # T0 is 22:13:20
    assert hour.buckets[0][1] == {level: first.count(level) for level in set(first)}
    facets = reader.facets(Filter(levels=frozenset({"error"})))
    assert facets["target"] == [("t1", 100), ("ssh://web01", 17)]
    assert facets["level"] == [("error", 117)]
    assert facets["event_id"] == [(7000, 117)]
    regex = reader.facets(Filter(text=r"DROP TABLE \w+;"))
    assert sum(count for _, count in regex["target"]) == 51


def test_sweeps_outcomes_and_bookmarks(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    mark = Bookmark(log="System", record_id=9, time=iso_from_epoch(T0 + 9), epoch="e")
    outcome = Outcome("t1", "ok", 10, 0.5, notes=("a note",), bookmarks=(mark,))
    failed = Outcome("t2", "error", 0, 0.1, error="connect: refused")
    keep(path, [[event(n) for n in range(10)]], [outcome, failed], id="sweep-id")
    reader = Reader(str(path))
    (record,) = reader.sweeps()
    assert record.seq == 1 and record.ended and record.command == "sweep"
    assert [o.status for o in record.outcomes] == ["ok", "error"] and record.failed == 1
    assert record.outcomes[0].notes == ("a note",) and record.stored == {"t1": 10, "t2": 0}
    assert reader.sweep("sweep-id") == record and reader.sweep(1) == record
    assert reader.bookmarks(["t1", "t2"]) == {"t1": {"system": mark}}


def test_a_reader_sees_only_committed_events(store: Path) -> None:
    writer = sqlite3.connect(store, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM events WHERE id > 300")  # not committed yet
    writer.execute(
        "INSERT INTO events (sweep, time, target, log, ident, event_id, level, source, doc)"
        " SELECT 9, time, 't9', log, ident, event_id, level, source,"
        """ replace(doc, '"t1"', '"t9"') FROM events WHERE id <= 5"""
    )
    reader = Reader(str(store))
    assert reader.count(Filter()) == 350
    writer.execute("COMMIT")
    assert reader.count(Filter()) == 305 and reader.count(Filter(targets=("t9",))) == 5


def test_prune_deletes_what_is_older_and_keeps_bookmarks(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    mark = Bookmark(log="System", record_id=99, time="", epoch="")
    keep(path, [[event(n) for n in range(100)]], [Outcome("t1", "ok", 100, 0.1, bookmarks=(mark,))])
    events, sweeps = prune(str(path), iso_from_epoch(T0 + 60))
    assert (events, sweeps) == (60, 0)
    reader = Reader(str(path))
    assert reader.count(Filter()) == 40 and reader.count(Filter(text="disk")) == 6
    assert reader.bookmarks(["t1"]) == {"t1": {"system": mark}}
    assert prune(str(path), "9999-01-01T00:00:00.000000Z") == (40, 1)
    assert reader.count(Filter()) == 0 and reader.sweeps() == []
    assert reader.bookmarks(["t1"]) == {"t1": {"system": mark}}
