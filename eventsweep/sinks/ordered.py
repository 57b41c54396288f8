"""Events put back in time order, oldest first, in little memory: an external sort.

A sweep gives events newest first, per target or merged; an event log file holds them oldest
first (readers, eventsweep's own included, take the highest record numbers as the newest).
Events are kept in memory up to ``run`` of them, then sorted and pickled to an anonymous
temporary file in batches; ``sorted()`` merges the runs. Ties keep their arrival order.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterator
from typing import IO

from eventsweep.model import Event

RUN = 100_000
BATCH = 2_000


def _time(event: Event) -> str:
    return event.time


class TimeOrder:
    """Collects events; ``sorted()`` gives them back oldest first, once."""

    def __init__(self, run: int = RUN) -> None:
        self._run = run
        self._pending: list[Event] = []
        self._runs: list[IO[bytes]] = []

    def add(self, event: Event) -> None:
        self._pending.append(event)
        if len(self._pending) >= self._run:
            self._spill()

    def sorted(self) -> Iterator[Event]:
        """Every event added, oldest first; closes the temporary files when exhausted."""
        self._pending.sort(key=_time)
        try:
            yield from heapq.merge(*map(_replay, self._runs), self._pending, key=_time)
        finally:
            self.close()

    def close(self) -> None:
        for file in self._runs:
            file.close()
        self._runs, self._pending = [], []

    def _spill(self) -> None:
        self._pending.sort(key=_time)
        file = tempfile.TemporaryFile()  # noqa: SIM115 - kept open until sorted() ends
        for start in range(0, len(self._pending), BATCH):
            pickle.dump(self._pending[start : start + BATCH], file, pickle.HIGHEST_PROTOCOL)
        file.seek(0)
        self._runs.append(file)
        self._pending = []


def _replay(file: IO[bytes]) -> Iterator[Event]:
    while True:
        try:
            batch: list[Event] = pickle.load(file)
        except EOFError:
            return
        yield from batch
