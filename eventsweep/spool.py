"""A per-target buffer between a source and the output: never blocks the producer, stays small.

Producers append without waiting (a slow reader must never push a target past its timeout);
once the spools of a sweep together hold more than a budget of events, a spool that grows
pickles what it holds to an anonymous temporary file: memory stays flat while, say, target 2
finishes long before target 1 in the per-target layout. Events that arrived as JSON Lines
(:class:`~eventsweep.model.EncodedEvent`) are spilled as one block of those bytes (and their
times), which come back as one :class:`~eventsweep.batch.Batch` holding those bytes: when the
hosts all finish together, writing what waited as JSON Lines is a copy, not a walk over every
event.
"""

from __future__ import annotations

import asyncio
import pickle
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from eventsweep.batch import Batch
from eventsweep.model import Event

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
        packed = Batch(self._pending).packed()
        pickle.dump(packed, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._write_at = self._file.tell()
        self._spilled += 1
        self._budget.held -= len(self._pending)
        self._pending = []

    def _take(self) -> Batch:
        if self._spilled and self._file is not None:
            self._file.seek(self._read_at)
            item = pickle.load(self._file)
            self._read_at = self._file.tell()
            self._spilled -= 1
            return Batch.unpacked(item)
        batch, self._pending = self._pending, []
        self._budget.held -= len(batch)
        return Batch(batch)

    async def batches(self) -> AsyncIterator[Batch]:
        """Every batch until the producer closes the spool (a spilled block of encoded events
        comes back as their JSON Lines, undecoded)."""
        while True:
            batch = self._take()
            if batch:
                yield batch
                continue
            if self.closed:
                break
            self._ready.clear()
            await self._ready.wait()
        if self._file is not None:
            self._file.close()
