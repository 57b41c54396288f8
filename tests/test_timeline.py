"""The merged timeline: exactly newest first, ties in stream then arrival order, flat memory."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsweep import timeline as tl
from eventsweep.batch import Batch
from eventsweep.model import Event, json_line

T0 = "2024-01-01T00:00:00.000000Z"


def _time(second: int) -> str:
    return f"2024-01-01T00:{second // 60:02}:{second % 60:02}.000000Z"


def _event(second: int, stream: int, number: int) -> Event:
    return Event(_time(second), f"s{stream}", "pc", "log", number, 1, "info", "src", None, "m")


def _batch(events: list[Event], encoded: bool) -> Batch:
    if not encoded:
        return Batch(events)
    return Batch.encoded([e.time for e in events], b"".join(json_line(e) for e in events))


async def _stream(batches: list[Batch]) -> AsyncIterator[Batch]:
    for batch in batches:
        await asyncio.sleep(0)
        yield batch


def _merged(streams: list[list[Batch]]) -> list[tuple[str, str, int | None]]:
    async def go() -> list[tuple[str, str, int | None]]:
        found = []
        async for batch in tl.timeline([_stream(s) for s in streams]):
            found += [(e.time, e.target, e.record_id) for e in batch.events()]
        return found

    return asyncio.run(go())


_streams = st.lists(
    st.lists(st.lists(st.integers(0, 40), max_size=30), max_size=6), min_size=0, max_size=5
)


@settings(max_examples=150, deadline=None)
@given(_streams, st.booleans(), st.sampled_from([1, 200, 1 << 20]))
def test_equals_a_stable_sort(shape: list[list[list[int]]], encoded: bool, budget: int) -> None:
    """Against sorted(): newest first; ties in stream order, then arrival (a stable sort of the
    streams one after the other). A tiny budget spills nearly every batch to its own run."""
    streams, expected = [], []
    for index, batches in enumerate(shape):
        number, made = 0, []
        for seconds in batches:
            events = []
            for second in seconds:
                events.append(_event(second, index, number))
                number += 1
            expected += events
            made.append(_batch(events, encoded))
        streams.append(made)
    keyed = sorted(expected, key=lambda e: e.time, reverse=True)
    old = tl.RUN_BYTES
    tl.RUN_BYTES = budget
    try:
        got = _merged(streams)
    finally:
        tl.RUN_BYTES = old
    assert got == [(e.time, e.target, e.record_id) for e in keyed]


def test_encoded_batches_stay_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is decoded on the way: the merged batches are JSON lines again, byte for byte."""
    monkeypatch.setattr(tl, "RUN_BYTES", 3000)
    events = [[_event(s, i, s) for s in range(100, 0, -1)] for i in range(3)]
    lines = {json_line(e) for stream in events for e in stream}

    async def go() -> list[Batch]:
        streams = [_stream([_batch(s[:50], True), _batch(s[50:], True)]) for s in events]
        return [batch async for batch in tl.timeline(streams)]

    batches = asyncio.run(go())
    block = b"".join(batch.jsonl() for batch in batches)
    assert set(block.splitlines(keepends=True)) == lines
    assert all(batch._events is None for batch in batches)  # never decoded
    times = [t for batch in batches for t in batch.times()]
    assert times == sorted(times, reverse=True) and len(times) == 300


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("stop_after", [0, 1, 3])
def test_early_close_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_after: int
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tl, "RUN_BYTES", 5000)
    monkeypatch.setattr(tl, "OUT", 10)
    events = [_event(s % 3000, 0, s) for s in range(2000)]
    before = _fds()

    async def go() -> int:
        merged = tl.timeline(
            [_stream([_batch(events[i : i + 100], True) for i in range(0, 2000, 100)])]
        )
        taken = 0
        async for _ in merged:
            taken += 1
            if taken > stop_after:
                break
        await merged.aclose()
        return taken

    assert asyncio.run(go()) == stop_after + 1
    assert _fds() == before and list(tmp_path.iterdir()) == []


def test_memory_stays_flat_with_many_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run keeps one frame in memory while merged: at most runs × FRAME events held."""
    monkeypatch.setattr(tl, "RUN_BYTES", 20_000)
    seen: list[int] = []
    real = tl._Out.take

    def watching(out: tl._Out, cursor: tl._Cursor, end: int):  # type: ignore[no-untyped-def]
        seen.append(len(cursor.times))
        return real(out, cursor, end)

    monkeypatch.setattr(tl._Out, "take", watching)
    events = [_event((s * 7919) % 3600, 0, s) for s in range(20_000)]
    got = _merged([[_batch(events[i : i + 500], True) for i in range(0, 20_000, 500)]])
    assert [t for t, _, _ in got] == sorted((e.time for e in events), reverse=True)
    assert max(seen) <= tl.FRAME
