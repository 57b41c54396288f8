"""One timeline from many targets' batches: every event, exactly newest first, in little memory.

:func:`timeline` is an external merge sort. It reads every stream to its end (a stream may hold
its newest event last), sorting what it holds into a run and writing the run to an anonymous
temporary file whenever the events held pass a budget (about :data:`RUN_BYTES` of JSON text);
then it merges the runs. Events that arrive encoded (:meth:`Batch.encoded`: times and JSON
lines) stay so from end to end: a run keeps each line's bytes, and the merged batches are
encoded again, so the parent process never decodes an event.

The merge takes from one run as long as it stays ahead of every other (a gallop, as timsort
does), so runs that do not overlap in time (one big file, read newest chunk first) are copied
in slices rather than event by event. Ties (equal times) keep the order of the streams, then
the order of arrival within a stream. Times are the fixed-width ISO text of the model, which
compare as text.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from typing import IO

from eventsweep.batch import Batch
from eventsweep.model import EncodedEvent, Event

RUN_BYTES = 16 << 20  # JSON text held in memory before a run is sorted and spilled
FRAME = 256  # events per frame of a spilled run (what a run keeps in memory while merged)
OUT = 4096  # events per merged batch
_EVENT_BYTES = 600  # what an unencoded event is taken to weigh towards RUN_BYTES
_STREAM = 1 << 40  # rank = stream index * _STREAM + arrival: ties in the stated order
_INVERT = str.maketrans("0123456789", "9876543210")

Item = bytes | Event  # an encoded event's line, or an event as it came
Frame = tuple[list[str], list[Item], list[int]]  # times, items, ranks: sorted newest first


async def timeline(streams: Sequence[AsyncIterator[Batch]]) -> AsyncGenerator[Batch, None]:
    """Every event of every stream, exactly newest first by ``time`` (see the module docstring).

    Each stream is one target's batches in the order its source gave them. Nothing is yielded
    before every stream has ended. Temporary files are removed when the generator ends, also
    when the consumer stops early (``aclose()``).
    """
    runs = _Runs()
    try:
        for index, stream in enumerate(streams):
            arrival = index * _STREAM
            async for batch in stream:
                arrival = runs.add(batch, arrival)
        for merged in runs.merged():
            yield merged
    finally:
        runs.close()


class _Runs:
    """Sorted runs: spilled to temporary files, and the one being filled in memory."""

    def __init__(self) -> None:
        self._times: list[str] = []
        self._items: list[Item] = []
        self._ranks: list[int] = []
        self._bytes = 0
        self._files: list[IO[bytes]] = []

    def add(self, batch: Batch, arrival: int) -> int:
        """Hold a batch's events, ranked from ``arrival`` on; return the next rank."""
        if not batch:
            return arrival
        packed = batch.packed()
        if isinstance(packed, tuple):
            times, block = packed
            self._items += block.splitlines(keepends=True)
            self._bytes += len(block)
        else:
            times = [event.time for event in packed]
            self._items += packed
            self._bytes += _EVENT_BYTES * len(packed)
        self._times += times
        self._ranks += range(arrival, arrival + len(times))
        if self._bytes > RUN_BYTES:
            self._spill()
        return arrival + len(times)

    def _sorted(self) -> Frame:
        """The held events, newest first; ties in rank order (held in rank order: stable)."""
        times, items, ranks = self._times, self._items, self._ranks
        self._times, self._items, self._ranks, self._bytes = [], [], [], 0
        if times == sorted(times, reverse=True):
            return times, items, ranks
        order = sorted(range(len(times)), key=times.__getitem__, reverse=True)
        return [times[i] for i in order], [items[i] for i in order], [ranks[i] for i in order]

    def _spill(self) -> None:
        times, items, ranks = self._sorted()
        file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._files.append(file)
        for start in range(0, len(times), FRAME):
            end = start + FRAME
            frame = (times[start:end], items[start:end], ranks[start:end])
            pickle.dump(frame, file, protocol=pickle.HIGHEST_PROTOCOL)
        file.seek(0)

    def merged(self) -> Iterator[Batch]:
        frames = [_replay(file) for file in self._files]
        if self._times:
            held = self._sorted()
            frames.append(iter([held]))
        cursors = [cursor for cursor in map(_Cursor, frames) if cursor.times]
        yield from _merge(cursors)

    def close(self) -> None:
        for file in self._files:
            file.close()
        self._files = []
        self._times, self._items, self._ranks = [], [], []


def _replay(file: IO[bytes]) -> Iterator[Frame]:
    while True:
        try:
            frame: Frame = pickle.load(file)
        except EOFError:
            return
        yield frame


class _Cursor:
    """A run being merged: its current frame and where in it."""

    __slots__ = ("at", "frames", "items", "ranks", "times")

    def __init__(self, frames: Iterator[Frame]) -> None:
        self.frames = frames
        self.times: list[str] = []
        self.items: list[Item] = []
        self.ranks: list[int] = []
        self.at = 0
        self.advance()

    def advance(self) -> None:
        """Load the next frame (``times`` empty once the run has ended)."""
        self.times, self.items, self.ranks = next(self.frames, ([], [], []))
        self.at = 0

    def key(self) -> tuple[str, int]:
        """The heap key of the next event: newest time first, then the lower rank."""
        return self.times[self.at].translate(_INVERT), self.ranks[self.at]

    def ahead(self, time: str, rank: int) -> int:
        """Where, from ``at``, this frame's events stop coming before (time, rank): found by
        galloping, then bisecting (the frame is in merge order)."""
        times, ranks, start = self.times, self.ranks, self.at
        size = len(times)

        def before(index: int) -> bool:
            there = times[index]
            return there > time or (there == time and ranks[index] < rank)

        step, low = 1, start  # times[low] is before (the caller knows it of ``at``)
        high = start + 1
        while high < size and before(high):
            low, high = high, high + step
            step *= 2
        high = min(high, size)
        while low + 1 < high:  # before(low), not before(high) or high == size
            middle = (low + high) // 2
            if before(middle):
                low = middle
            else:
                high = middle
        return low + 1


def _merge(cursors: list[_Cursor]) -> Iterator[Batch]:
    heap = [(cursor.key(), number) for number, cursor in enumerate(cursors)]
    heapq.heapify(heap)
    out = _Out()
    while heap:
        _, number = heapq.heappop(heap)
        cursor = cursors[number]
        if heap:
            rival = cursors[heap[0][1]]
            end = cursor.ahead(rival.times[rival.at], rival.ranks[rival.at])
        else:
            end = len(cursor.times)
        yield from out.take(cursor, end)
        if cursor.at == len(cursor.times):
            cursor.advance()
        if cursor.times:
            heapq.heappush(heap, (cursor.key(), number))
    yield from out.flush()


class _Out:
    """Slices of runs, gathered into batches of about OUT events."""

    def __init__(self) -> None:
        self.times: list[str] = []
        self.items: list[Item] = []

    def take(self, cursor: _Cursor, end: int) -> Iterator[Batch]:
        self.times += cursor.times[cursor.at : end]
        self.items += cursor.items[cursor.at : end]
        cursor.at = end
        if len(self.times) >= OUT:
            yield from self.flush()

    def flush(self) -> Iterator[Batch]:
        if not self.times:
            return
        times, items = self.times, self.items
        self.times, self.items = [], []
        if all(type(item) is bytes for item in items):
            yield Batch.encoded(times, b"".join(items))  # type: ignore[arg-type]
        else:
            yield Batch([_event(time, item) for time, item in zip(times, items, strict=True)])


def _event(time: str, item: Item) -> Event:
    return EncodedEvent(time, item) if isinstance(item, bytes) else item
