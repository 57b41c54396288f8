"""A per-target buffer between a source and the output: never blocks the producer, stays small.

Producers append without waiting (a slow reader must never push a target past its timeout);
once the spools of a sweep together hold more than a budget of events, a spool that grows
pickles what it holds to an anonymous temporary file: memory stays flat while, say, target 2
finishes long before target 1 in the per-target layout. Events that arrived as JSON Lines
(:class:`~eventsweep.model.EncodedEvent`) are spilled as one block of those bytes (and their
times), which :meth:`Spool.chunks` hands to a JSON Lines writer as it is: when the hosts all
finish together, writing what waited is then a copy, not a walk over every event.
"""

from __future__ import annotations

import asyncio
import pickle
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from eventsweep.model import EncodedEvent, Event

Chunk = list[Event] | bytes  # bytes: the JSON Lines of a spilled block of encoded events
Spilled = list[Event] | tuple[list[str], bytes]  # events, or encoded events' times and lines

BUDGET = 1_000


class Budget:
    """How many events all the spools of a sweep may hold in memory together."""

    def __init__(self, limit: int = BUDGET) -> None:
        self.limit = limit
        self.held = 0


class Spool:
    """Events of one target, in the order the source gave them."""

    def __init__(self, budget: Budget | None = None) -> None:
        self._budget = budget or Budget()
        self._pending: list[Event] = []
        self._file: IO[bytes] | None = None
        self._write_at = 0
        self._read_at = 0
        self._spilled = 0
        self._ready = asyncio.Event()
        self.closed = False
        self.released = False

    def put(self, event: Event) -> None:
        self.extend([event])

    def extend(self, events: list[Event]) -> None:
        if self.released:
            return  # nobody reads any more
        self._pending.extend(events)
        self._budget.held += len(events)
        if self._budget.held > self._budget.limit and len(self._pending) > 64:
            self._spill()
        self._ready.set()

    def close(self) -> None:
        if self._pending and self._budget.held > self._budget.limit:
            self._spill()
        self.closed = True
        self._ready.set()

    def release(self) -> None:
        """Drop whatever is still held (the reader has gone) and delete the spill file."""
        self._budget.held -= len(self._pending)
        self._pending = []
        if self._file is not None:
            self._file.close()
        self.released = True

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed when drained
        self._file.seek(self._write_at)
        pickle.dump(_packed(self._pending), self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._write_at = self._file.tell()
        self._spilled += 1
        self._budget.held -= len(self._pending)
        self._pending = []

    def _take(self, raw: bool) -> Chunk:
        if self._spilled and self._file is not None:
            self._file.seek(self._read_at)
            item: Spilled = pickle.load(self._file)
            self._read_at = self._file.tell()
            self._spilled -= 1
            if not isinstance(item, tuple):
                return item
            times, block = item
            if raw:
                return block
            return list(map(EncodedEvent, times, block.splitlines(keepends=True)))
        batch, self._pending = self._pending, []
        self._budget.held -= len(batch)
        return batch

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Every batch until the producer closes the spool."""
        async for chunk in self._chunks(raw=False):
            assert type(chunk) is list
            yield chunk

    async def chunks(self) -> AsyncIterator[Chunk]:
        """The same events as :meth:`batches`, in the same order, except that a spilled block
        of encoded events comes as its JSON Lines bytes."""
        async for chunk in self._chunks(raw=True):
            yield chunk

    async def _chunks(self, raw: bool) -> AsyncIterator[Chunk]:
        while True:
            chunk = self._take(raw)
            if chunk:
                yield chunk
                continue
            if self.closed:
                break
            self._ready.clear()
            await self._ready.wait()
        if self._file is not None:
            self._file.close()


def _packed(events: list[Event]) -> Spilled:
    """Encoded events as their times and one block of their lines (a JSON line holds no
    line break: orjson escapes them), other events as they are (they pickle as tuples)."""
    if all(type(event) is EncodedEvent for event in events):
        return [event.time for event in events], b"".join([event.line for event in events])  # type: ignore[attr-defined]
    return events
