"""The engine's own logic, with in-memory sources (the real sources have their own tests)."""

from __future__ import annotations

import asyncio
import io
import pickle
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace

import orjson
import pytest

from eventsweep.batch import Batch
from eventsweep.errors import ConnectError, ReadError
from eventsweep.model import EncodedEvent, Event, Outcome, Query, TargetStatus, iso_from_epoch
from eventsweep.sinks import SinkOptions
from eventsweep.sinks.jsonl import JsonlSink
from eventsweep.spool import Budget, Spool
from eventsweep.sweep import Sweep, collect


def _event(target: str, second: int, record: int) -> Event:
    return Event(
        time=iso_from_epoch(1_700_000_000 + second),
        target=target,
        computer="c",
        log="System",
        record_id=record,
        event_id=1,
        level="info",
        source="s",
        category=None,
        message="m",
    )


@dataclass(frozen=True)
class Fake:
    target: str
    seconds: tuple[int, ...] = ()
    delay: float = 0.0
    fail: Exception | None = None
    hang: bool = False
    warnings: int = 0

    async def events(
        self, query: Query, status: TargetStatus
    ) -> AsyncGenerator[Event | list[Event], None]:
        if self.warnings:
            status.warn("damaged chunk", self.warnings)
        for record, second in enumerate(self.seconds):
            await asyncio.sleep(self.delay)
            event = _event(self.target, second, record)
            if query.matches(event):
                yield event
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail is not None:
            raise self.fail


def run(*sources: Fake, **options: object) -> tuple[list[Event], list[Outcome]]:
    return asyncio.run(collect(list(sources), Query(), **options))  # type: ignore[arg-type]


def test_every_target_gets_one_outcome_and_failures_stay_local() -> None:
    events, outcomes = run(
        Fake("ok", (30, 20, 10)),
        Fake("refused", fail=ConnectError("connection refused")),
        Fake("gone", (9, 8), fail=ReadError("server gone")),
        Fake("bug", fail=ValueError("boom\nsecond line")),
        Fake("damaged", (5,), warnings=3),
    )
    by_target = {o.target: o for o in outcomes}
    assert [o.target for o in outcomes] == ["ok", "refused", "gone", "bug", "damaged"]
    assert by_target["ok"].status == "ok" and by_target["ok"].events == 3
    assert by_target["refused"].status == "error"
    assert by_target["refused"].error == "connect: connection refused"
    assert by_target["gone"].status == "partial" and by_target["gone"].events == 2
    assert by_target["bug"].status == "error" and by_target["bug"].error == "ValueError: boom"
    assert by_target["damaged"].status == "partial" and by_target["damaged"].warnings == 3
    assert [e.target for e in events] == ["ok"] * 3 + ["gone"] * 2 + ["damaged"]


def test_hung_target_times_out_keeps_events_and_does_not_delay_others() -> None:
    started = time.monotonic()
    events, outcomes = run(
        Fake("hung", (3, 2), hang=True), Fake("fast", (1,)), timeout=0.5, concurrency=2
    )
    assert time.monotonic() - started < 3
    hung, fast = outcomes
    assert hung.status == "timeout" and hung.events == 2
    assert "0.5s" in hung.error  # type: ignore[operator]
    assert fast.status == "ok"
    assert len(events) == 3


def test_group_time_merges_newest_first() -> None:
    events, _ = run(
        Fake("a", (50, 40, 10), delay=0.01), Fake("b", (45, 41, 5)), Fake("c", ()), group="time"
    )
    assert [(e.target, e.time[-9:-8]) for e in events][:2] == [("a", "0"), ("b", "5")]
    times = [e.time for e in events]
    assert times == sorted(times, reverse=True) and len(times) == 6


def test_group_target_keeps_given_order_even_when_later_targets_finish_first() -> None:
    events, _ = run(Fake("slow", (3, 2, 1), delay=0.05), Fake("quick", (9, 8)))
    assert [e.target for e in events] == ["slow"] * 3 + ["quick"] * 2


def test_limit_is_per_target() -> None:
    sources = [Fake("a", tuple(range(100, 0, -1))), Fake("b", (5, 4, 3))]
    events, outcomes = asyncio.run(collect(sources, Query(limit=2)))
    assert [(e.target, e.record_id) for e in events] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert all(o.status == "ok" for o in outcomes)


def test_concurrency_bounds_running_targets() -> None:
    started = time.monotonic()
    run(*(Fake(str(n), (1,), delay=0.2) for n in range(4)), concurrency=2)
    assert time.monotonic() - started >= 0.39


def test_spool_spills_to_disk_and_keeps_order() -> None:
    async def go() -> list[int]:
        budget = Budget(limit=100)
        spools = [Spool(budget), Spool(budget)]
        for n in range(950):
            spools[n % 2].put(_event("t", n, n))
        assert budget.held <= 100 + 65 * 2
        for spool in spools:
            spool.close()
        return [e.record_id for spool in spools async for batch in spool.batches() for e in batch]  # type: ignore[misc]

    assert asyncio.run(go()) == list(range(0, 950, 2)) + list(range(1, 950, 2))


@pytest.mark.parametrize("group", ["target", "time"])
def test_empty_sweep(group: str) -> None:
    assert run(group=group) == ([], [])


def test_thread_pool_grows_with_concurrency() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from eventsweep import concurrency

    concurrency.reserve_threads(300)
    pool = concurrency.thread_pool()
    assert isinstance(pool, ThreadPoolExecutor) and pool._max_workers >= 308


def _encoded(event: Event) -> EncodedEvent:
    return EncodedEvent(event.time, orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE))


def test_encoded_event_decodes_on_first_use_and_equals_its_fields() -> None:
    plain = _event("t", 5, 42)
    encoded = _encoded(plain)
    assert object.__getattribute__(encoded, "time") == plain.time
    with pytest.raises(AttributeError):
        object.__getattribute__(encoded, "message")  # not decoded yet
    assert encoded.record_id == 42 and encoded.message == "m" and encoded.data == {}
    assert encoded == plain and plain == encoded and encoded.to_dict() == plain.to_dict()
    assert pickle.loads(pickle.dumps(_encoded(plain))) == plain
    with pytest.raises(AttributeError):
        _ = encoded.no_such_field


def test_an_event_made_from_its_fields_writes_its_line_when_read() -> None:
    """ssh:// and journal: entries: the fields are read from the dict, the line is written
    the first time something reads it (a hunt reads fields, a JSON Lines sink the line)."""
    plain = _event("t", 5, 42)
    for first in ("fields", "line"):
        made = EncodedEvent(plain.time, None, plain.to_dict())
        with pytest.raises(AttributeError):
            object.__getattribute__(made, "line")  # not written yet
        if first == "fields":
            assert made.message == "m" and made == plain
        assert made.line == _encoded(plain).line
        assert made.record_id == 42 and made == plain and made.to_dict() == plain.to_dict()
        assert pickle.loads(pickle.dumps(made)) == plain
    assert Batch([EncodedEvent(plain.time, None, plain.to_dict())]).jsonl() == _encoded(plain).line


def test_spool_spills_encoded_and_plain_events_alike() -> None:
    async def go() -> list[Event]:
        budget = Budget(limit=10)
        spool, other = Spool(budget), Spool(budget)
        other.extend([_event("o", n, n) for n in range(20)])
        for n in range(300):
            event = _event("t", n, n)
            spool.put(_encoded(event) if n % 3 else event)
        spool.close()
        other.close()
        assert len([e async for batch in other.batches() for e in batch]) == 20
        return [e async for batch in spool.batches() for e in batch]

    events = asyncio.run(go())
    assert [e.record_id for e in events] == list(range(300))
    assert [type(e) is EncodedEvent for e in events] == [bool(n % 3) for n in range(300)]


@dataclass(frozen=True)
class EncodedFake:
    """A source that yields its events as JSON lines in batches, as ssh:// and .evtx do."""

    target: str
    count: int

    async def events(self, query: Query, status: TargetStatus) -> AsyncIterator[list[Event]]:
        for start in range(0, self.count, 100):
            await asyncio.sleep(0)
            yield [_encoded(_event(self.target, n, n)) for n in range(start, start + 100)]


def _lines(batch: Batch) -> bytes:
    return batch.jsonl()


def test_chunks_hand_spilled_encoded_blocks_over_as_bytes() -> None:
    """Grouped by target, what waited on disk comes as the block of its JSON lines: the same
    bytes, in the same order, as the events of the batches one by one."""
    sources = [EncodedFake("a", 1500), EncodedFake("b", 1500), EncodedFake("c", 700)]

    async def both() -> tuple[list[Batch], list[Batch]]:
        raw = [batch async for batch in Sweep(sources, Query()).batches()]  # type: ignore[arg-type]
        return raw, [batch async for batch in Sweep(sources, Query()).batches()]  # type: ignore[arg-type]

    raw, batches = asyncio.run(both())
    assert any(batch.undecoded for batch in raw)  # later targets waited on disk
    assert all(type(event) is EncodedEvent for batch in batches for event in batch)
    expected = b"".join(_lines(batch) for batch in batches)
    assert b"".join(_lines(chunk) for chunk in raw) == expected
    records = [orjson.loads(line) for line in expected.splitlines()]
    sizes = (("a", 1500), ("b", 1500), ("c", 700))
    assert [(r["target"], r["record_id"]) for r in records] == [
        (target, n) for target, count in sizes for n in range(count)
    ]


def test_jsonl_sink_writes_encoded_lines_as_they_are() -> None:
    stream = io.StringIO()
    sink = JsonlSink(stream, SinkOptions())
    events = [_event("t", 1, 1), _encoded(_event("t", 2, 2))]
    sink.write(Batch(events))
    sink.write(events[1])
    lines = stream.getvalue().splitlines()
    assert [orjson.loads(line)["record_id"] for line in lines] == [1, 2, 2]
    assert lines[1] == lines[2] == events[1].line.decode().rstrip("\n")  # type: ignore[attr-defined]


def test_jsonl_sink_writes_bytes_under_a_text_stream_in_order() -> None:
    """On a file or stdout the lines go to the binary buffer as they are (no decoding and
    encoding again), after what was written as text before, with non-ASCII text intact."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    stream.write("before\n")
    sink = JsonlSink(stream, SinkOptions())
    event = _encoded(replace(_event("t", 1, 1), message="é ✓ \x00"))
    sink.write(Batch([event, _event("t", 2, 2)]))
    sink.close()
    first, *lines = raw.getvalue().split(b"\n")[:-1]
    assert first == b"before"
    assert lines[0] + b"\n" == event.line
    assert [orjson.loads(line)["record_id"] for line in lines] == [1, 2]
    assert orjson.loads(lines[0])["message"] == "é ✓ \x00"


@pytest.mark.parametrize("group", ["target", "time"])
def test_batches_hold_the_events_in_the_same_order(group: str) -> None:
    fakes = [Fake("a", (3, 1, 2)), Fake("b", (5, 4), delay=0.05)]

    async def both() -> tuple[list[Event], list[Event]]:
        first = [e async for e in Sweep(fakes, Query(), group=group).events()]
        second = Sweep(fakes, Query(), group=group)
        return first, [e async for batch in second.batches() for e in batch]

    first, second = asyncio.run(both())
    assert [e.time for e in first] == [e.time for e in second] and len(first) == 5


def test_a_sweep_left_early_releases_its_spilled_spools() -> None:
    async def go() -> Sweep:
        sweep = Sweep([Fake("a", (1,), delay=0.2), Fake("b", tuple(range(3000)))], Query())
        async for _ in sweep.batches():
            break
        return sweep

    sweep = asyncio.run(go())
    assert all(spool.released for spool in sweep._spools)


def test_outcome_line_shows_the_error_or_else_the_first_note() -> None:
    noted = Outcome("t", "partial", 3, 0.5, warnings=2, notes=("2 damaged", "other"))
    assert noted.line().endswith("warnings=2  2 damaged (+1 more)")
    failed = Outcome("t", "error", 0, 0.1, error="open: nope", notes=("x",))
    assert failed.line().endswith("open: nope") and "x" not in failed.line()
    assert Outcome("t", "ok", 1, 0.1).line().endswith("events=1 0.10s")


def _block(target: str, numbers: range) -> Batch:
    events = [_event(target, n, n) for n in numbers]
    return Batch.encoded([e.time for e in events], b"".join(_encoded(e).line for e in events))


def test_a_batch_head_is_its_first_events() -> None:
    block = _block("t", range(10))
    for count in (0, 1, 9, 10, 50):
        head = block.head(count)
        assert [e.record_id for e in head] == list(range(min(count, 10)))
        assert head.jsonl() == b"".join(_encoded(_event("t", n, n)).line for n in range(count)[:10])
    assert [e.record_id for e in Batch([_event("t", n, n) for n in range(5)]).head(2)] == [0, 1]


def test_spool_keeps_blocks_and_events_in_order_and_spills_blocks_as_they_are() -> None:
    async def go() -> tuple[list[Batch], int]:
        budget = Budget(limit=50)
        spool = Spool(budget)
        spool.add(_block("t", range(0, 200)))  # a lone block over the budget is kept
        assert spool._spilled == 0 and budget.held == 200
        spool.extend([_event("t", n, n) for n in range(200, 230)])  # then spilled with these
        spool.add(_block("t", range(230, 400)))
        spool.put(_event("t", 400, 400))
        spilled = spool._spilled
        spool.close()
        return [batch async for batch in spool.batches()], spilled

    batches, spilled = asyncio.run(go())
    assert spilled >= 1
    assert batches[0].undecoded and len(batches[0]) == 200  # the block came back whole
    assert [e.record_id for batch in batches for e in batch] == list(range(401))


@dataclass(frozen=True)
class BlockFake:
    """A source that yields blocks of encoded events, as .evtx workers' groups come."""

    target: str
    count: int

    async def events(self, query: Query, status: TargetStatus) -> AsyncIterator[Batch]:
        for start in range(0, self.count, 100):
            await asyncio.sleep(0)
            yield _block(self.target, range(start, min(start + 100, self.count)))


@pytest.mark.parametrize("group", ["target", "time"])
def test_blocks_go_to_the_outputs_as_they_are(group: str) -> None:
    sources = [BlockFake("a", 450), BlockFake("b", 300)]

    async def go(query: Query) -> tuple[list[Batch], list[Outcome]]:
        sweep = Sweep(sources, query, group=group)  # type: ignore[arg-type]
        batches = [batch async for batch in sweep.batches()]
        return batches, sweep.finished()

    batches, outcomes = asyncio.run(go(Query()))
    assert sum(map(len, batches)) == 750 and any(batch.undecoded for batch in batches)
    assert [(o.target, o.events) for o in outcomes] == [("a", 450), ("b", 300)]
    limited, outcomes = asyncio.run(go(Query(limit=150)))
    records = [(e.target, e.record_id) for batch in limited for e in batch]
    assert sorted(records) == sorted(
        [("a", n) for n in range(150)] + [("b", n) for n in range(150)]
    )
    assert [o.events for o in outcomes] == [150, 150]
