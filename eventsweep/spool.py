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
    """Events of one target, in the order the source gave them: lists of events, and blocks
    of encoded events (a :class:`~eventsweep.batch.Batch` as a source made it: an .evtx
    worker's group), each handed on as it came."""

    def __init__(self, budget: Budget | None = None) -> None:
        self._budget = budget or Budget()
        self._parts: list[Batch] = []  # in memory, in order
        self._open: list[Event] | None = None  # the last part's events, while events come
        self._held = 0  # events in _parts
        self._loaded: list[Batch] = []  # parts read back from the spill file, in order
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
        if self._open is None:
            self._open = []
            self._parts.append(Batch(self._open))
        self._open.extend(events)
        self._added(len(events))

    def add(self, batch: Batch) -> None:
        """A batch: its events, or a block of encoded ones as it is (handed on, or spilled,
        whole)."""
        if not batch.undecoded:
            self.extend(batch.events())
            return
        if self.released or not batch:
            return
        self._open = None
        self._parts.append(batch)
        self._added(len(batch))

    def _added(self, count: int) -> None:
        self._held += count
        self._budget.held += count
        over = self._budget.held > self._budget.limit and self._held > 64
        if over and (len(self._parts) > 1 or self._open is not None):
            self._spill()  # (a lone block is what the reader takes next: kept)
        self._ready.set()

    def close(self) -> None:
        if self._parts and self._budget.held > self._budget.limit:
            self._spill()
        self.closed = True
        self._ready.set()

    def release(self) -> None:
        """Drop whatever is still held (the reader has gone) and delete the spill file."""
        self._budget.held -= self._held
        self._parts, self._open, self._held, self._loaded = [], None, 0, []
        if self._file is not None:
            self._file.close()
        self.released = True

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed when drained
        self._file.seek(self._write_at)
        packed = [part.packed() for part in self._parts]
        pickle.dump(packed, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._write_at = self._file.tell()
        self._spilled += 1
        self._budget.held -= self._held
        self._parts, self._open, self._held = [], None, 0

    def _take(self) -> Batch:
        if not self._loaded and self._spilled and self._file is not None:
            self._file.seek(self._read_at)
            self._loaded = [Batch.unpacked(item) for item in pickle.load(self._file)]
            self._read_at = self._file.tell()
            self._spilled -= 1
        if self._loaded:
            return self._loaded.pop(0)
        if not self._parts:
            return Batch([])
        batch = self._parts.pop(0)
        if not self._parts:
            self._open = None  # the part taken was the one events went to
        self._held -= len(batch)
        self._budget.held -= len(batch)
        return batch

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
