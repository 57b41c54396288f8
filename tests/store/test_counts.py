"""Counts, pages and text search take short cuts (the counts tables, one index walk per value,
a common word tested row by row): each must give exactly what the plain way gives."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from eventsweep.model import Event, iso_from_epoch
from eventsweep.store import counts, reader
from eventsweep.store.reader import Filter, Reader
from eventsweep.store.writer import prune
from tests.store.test_reader import keep

T0 = 1_700_000_000 - 1_700_000_000 % 86400  # a midnight
SPAN = 3 * 86400
WORDS = ["disk", "full", "logon", "failed", "service", "started", "Übung"]


def random_event(rng: random.Random, n: int) -> Event:
    journal = rng.random() < 0.2
    return Event(
        time=iso_from_epoch(T0 + rng.random() * SPAN),
        target=rng.choice(["/cases/a.evtx", "ssh://web1", "ssh://web2", "win://dc01"]),
        computer="HOST",
        log="journal" if journal else rng.choice(["System", "Security"]),
        record_id=n,
        event_id=None if journal else rng.choice([4624, 4625, 7036, 1000, 1001]),
        level=rng.choice(["error", "warning", "info", "audit_success", "audit_failure"]),
        source=rng.choice(["sshd", "Disk", "Tcpip", "Service Control Manager"]),
        category=None,
        message=" ".join(rng.sample(WORDS, rng.randint(1, 4))) + f" number {n}",
        data={"__CURSOR": f"s=1;i={n:x}"} if journal else {"n": n},
        collected_at=iso_from_epoch(T0 + SPAN),
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    path = tmp_path_factory.mktemp("counts") / "events.db"
    events = [random_event(rng, n) for n in range(6000)]
    keep(path, [events[:4000]])
    keep(path, [events[2000:3000], events[3000:]])  # 2,000 again: stored once
    # exact minute and hour edges, and the last microsecond of them
    edges = [
        Event(**{**events[n].to_dict(), "record_id": 10_000 + n, "time": iso_from_epoch(t)})
        for n, t in enumerate([T0 + 3600, T0 + 3600 - 1e-6, T0 + 7260, T0 + 7259.999999])
    ]
    keep(path, [edges])
    return path


def moment(rng: random.Random) -> str:
    base = T0 + rng.randrange(-3600, SPAN + 3600)
    kind = rng.randrange(4)
    if kind == 0:
        return iso_from_epoch(base - base % 3600)  # an hour's first moment
    if kind == 1:
        return iso_from_epoch(base - base % 60 + 59.999999)  # a minute's last
    return iso_from_epoch(base + rng.random())


def random_filter(rng: random.Random, text: bool = False) -> Filter:
    since, until = sorted([moment(rng), moment(rng)])
    return Filter(
        since=since if rng.random() < 0.8 else None,
        until=until if rng.random() < 0.8 else None,
        levels=frozenset(rng.sample(["error", "warning", "info", "audit_failure"], rng.randint(0, 2))),  # noqa: E501
        event_ids=tuple(rng.sample([(4624, 4625), (7036, 7036), (1000, 1000)], rng.randint(0, 2))),
        sources=frozenset(rng.sample(["sshd", "disk", "tcpip"], rng.randint(0, 2))),
        logs=frozenset(rng.sample(["system", "journal"], rng.randint(0, 1))),
        targets=tuple(rng.sample(["ssh://*", "win://dc01", "/cases/*"], rng.randint(0, 1))),
        text=rng.choice(WORDS[:6]) if text else None,
        sweep=rng.choice([None, None, 1, 2]),
    )  # fmt: skip


def test_the_counts_tables_hold_every_stored_event_once(store: Path) -> None:
    with Reader(str(store)).connection() as connection:
        total = connection.execute("SELECT count(*) FROM events").fetchone()[0]
        for table in ("counts_minute", "counts_hour"):
            assert connection.execute(f"SELECT sum(n) FROM {table}").fetchone()[0] == total
    assert total == 6004


@pytest.mark.parametrize("seed", range(60))
def test_histograms_and_facets_from_the_counts_equal_counting_the_rows(
    store: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    where = random_filter(rng)
    store_reader = Reader(str(store))
    buckets = rng.choice([60, 24, 7, 300])
    quick = store_reader.histogram(where, buckets), store_reader.facets(where, top=50)
    monkeypatch.setattr(reader, "_countable", lambda where: False)
    plain = store_reader.histogram(where, buckets), store_reader.facets(where, top=50)
    assert quick == plain
    assert sum(sum(levels.values()) for _, levels in quick[0].buckets) == store_reader.count(where)


@pytest.mark.parametrize("seed", range(40))
def test_pages_walked_per_value_equal_one_ordered_statement(
    store: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    where = random_filter(rng, text=rng.random() < 0.3)
    newest_first = rng.random() < 0.7
    store_reader = Reader(str(store))

    def every_page() -> list[int]:
        found: list[int] = []
        after: str | None = None
        while True:
            page = store_reader.events(where, newest_first=newest_first, size=37, after=after)
            found.extend(stored.id for stored in page.events)
            if page.next is None:
                return found
            after = page.next

    walked = every_page()
    monkeypatch.setattr(reader, "_split", lambda where: [(where, None)])
    assert walked == every_page()
    keys = [(s.event.time, s.id) for s in (store_reader.event(id) for id in walked) if s]
    assert keys == sorted(keys, reverse=newest_first) and len(set(walked)) == len(walked)


@pytest.mark.parametrize(
    "word", ["logon", "Disk FULL", "ubung", "number 17", "absent", "disk failed"]
)
def test_a_common_word_and_a_rare_one_find_the_same_events(
    store: Path, word: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_reader = Reader(str(store))
    where = Filter(text=word, levels=frozenset({"error", "info"}))
    found = {}
    for share in (0.0, 1.0):  # every word common; none
        monkeypatch.setattr(reader, "COMMON", share)
        found[share] = [s.id for s in store_reader.events(where, size=10_000).events]
    assert found[0.0] == found[1.0]
    assert (len(found[0.0]) > 0) == (word != "absent")


def contains(part: counts.Span, time: str) -> bool:
    key = time[: part.width] if part.width else time
    above = part.low is None or part.low <= key
    below = part.high is None or key < part.high or (part.closed and key == part.high)
    return above and below


@pytest.mark.parametrize("coarsest", [counts.MINUTE, counts.HOUR])
def test_spans_cut_a_range_into_parts_that_hold_each_moment_once(coarsest: int) -> None:
    rng = random.Random(3)
    for _ in range(300):
        since, until = sorted([moment(rng), moment(rng)])
        since_or_none = since if rng.random() < 0.8 else None
        until_or_none = until if rng.random() < 0.8 else None
        parts = counts.spans(since_or_none, until_or_none, coarsest)
        assert all(part.width in (0, counts.MINUTE, coarsest) for part in parts)
        for time in [since, until, *(moment(rng) for _ in range(40))]:
            inside = (since_or_none or "") <= time <= (until_or_none or "~")
            assert sum(contains(part, time) for part in parts) == int(inside), (since, until, time)


def test_prune_takes_the_deleted_events_off_the_counts(tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "events.db"
    keep(path, [[random_event(rng, n) for n in range(3000)]])
    cut = iso_from_epoch(T0 + SPAN / 2 + 30.5)  # inside a minute
    removed, _ = prune(str(path), cut)
    store_reader = Reader(str(path))
    assert removed > 0 and store_reader.count(Filter()) == 3000 - removed
    with store_reader.connection() as connection:
        for table in ("counts_minute", "counts_hour"):
            total = connection.execute(f"SELECT sum(n) FROM {table}").fetchone()[0]
            assert total == 3000 - removed
            assert (
                connection.execute(f"SELECT count(*) FROM {table} WHERE n <= 0").fetchone()[0] == 0
            )
    assert (
        store_reader.facets(Filter(since=cut[:16] + ":00.000000Z"))["level"]
        == store_reader.facets(Filter(since=cut))["level"]
    )


@pytest.mark.parametrize("seed", range(5))
def test_the_columns_read_from_a_line_equal_the_events_own(seed: int) -> None:
    from eventsweep.model import json_line
    from eventsweep.store.writer import _event_row, _line_row

    rng = random.Random(seed)
    hostile = ['x,"message":"y"', '"__CURSOR":1', "\x00", '{"time":"0"}', "\\"]
    for n in range(300):
        base = random_event(rng, n).to_dict()
        base["message"] = rng.choice(hostile) + base["message"]
        base["source"] = rng.choice([*hostile, "sshd", None])
        if rng.random() < 0.2:
            base["data"] = {rng.choice(hostile): rng.choice(hostile)}
        event = Event(**base)
        line = json_line(event)[:-1].decode()
        assert _line_row(1, line) == _event_row(1, event)
        moved = (
            '{"message":'
            + line[line.index(',"message":') + 11 : -1]
            + ","
            + line[1 : line.index(',"message":')]
            + "}"
        )
        assert _line_row(1, moved)[:8] == _event_row(1, event)[:8]  # another order: decoded whole


def test_counts_kept_from_the_rows_equal_counts_computed_by_sql(tmp_path: Path) -> None:
    from eventsweep.store import schema

    rng = random.Random(5)
    events = [random_event(rng, n) for n in range(2000)]
    odd = [Event(**{**e.to_dict(), "source": None, "log": "", "event_id": 0}) for e in events[:50]]
    path = tmp_path / "events.db"
    keep(path, [events[:1000], odd])  # every row new: counted in Python
    keep(path, [events[500:]])  # half stored already: counted by SQL
    with Reader(str(path)).connection() as connection:
        kept = {t: sorted(connection.execute(f"SELECT * FROM {t}")) for t in schema.COUNTS}
    check = sqlite3.connect(path)
    for table in schema.COUNTS:
        check.execute(f"DELETE FROM {table}")
        check.execute(schema.counted(table, "id > ?"), (0,))
        assert sorted(check.execute(f"SELECT * FROM {table}")) == kept[table]
    check.rollback()
