"""A per-target buffer between a source and the output: never blocks the producer, stays small.

Producers append without waiting (a slow reader must never push a target past its timeout);
past a threshold the buffered events are pickled to an anonymous temporary file, so memory
stays flat while, say, target 2 finishes before target 1 in the per-target layout.
"""

from __future__ import annotations

import asyncio
import pickle
import tempfile
from collections.abc import AsyncIterator
from typing import IO

from eventsweep.model import Event

SPILL_AT = 4096


class Spool:
    """Events of one target, in the order the source gave them."""

    def __init__(self, spill_at: int = SPILL_AT) -> None:
        self._pending: list[Event] = []
        self._file: IO[bytes] | None = None
        self._write_at = 0
        self._read_at = 0
        self._spilled = 0
        self._spill_at = spill_at
        self._ready = asyncio.Event()
        self.closed = False

    def put(self, event: Event) -> None:
        self._pending.append(event)
        if len(self._pending) >= self._spill_at:
            self._spill()
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed when drained
        self._file.seek(self._write_at)
        pickle.dump(self._pending, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._write_at = self._file.tell()
        self._spilled += 1
        self._pending = []

    def _take(self) -> list[Event]:
        if self._spilled and self._file is not None:
            self._file.seek(self._read_at)
            batch: list[Event] = pickle.load(self._file)
            self._read_at = self._file.tell()
            self._spilled -= 1
            return batch
        batch, self._pending = self._pending, []
        return batch

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Every batch until the producer closes the spool."""
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
