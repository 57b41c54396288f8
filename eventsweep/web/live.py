"""Sweeps started from the web: run through the one sweep call, watched live by any number of pages.

:class:`Sweeps` starts a sweep with :func:`eventsweep.runner.run`, the store writer and a
:class:`Tap` as its outputs and a :class:`LiveSweep` as its listener. The listener keeps each
target's state (waiting, running, then its outcome) and the events so far; the tap keeps the
newest events handed to the outputs. Watchers (the server-sent event streams) never slow the
sweep: the listener only updates counters and bumps a version number; each watcher wakes on a
new version, at most :data:`TICK` times a second, and sends one snapshot serialised once per
version for everyone (:meth:`LiveSweep.snapshot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventsweep.batch import Batch
from eventsweep.errors import EventsweepError, first_line
from eventsweep.model import Event, Outcome, now_iso
from eventsweep.runner import OutputError, Planned, run
from eventsweep.sinks import Output, SweepInfo
from eventsweep.sweep import Ended, Progress, Read, Started

log = logging.getLogger(__name__)

TICK = 0.2  # seconds between two messages to one watcher, at least
RECENT = 100  # newest events a live sweep keeps for its watchers
KEPT = 20  # finished sweeps kept in memory for late watchers


@dataclass
class TargetState:
    target: str
    state: str = "waiting"  # waiting, running, then the outcome's status
    events: int = 0
    elapsed: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "state": self.state,
            "events": self.events,
            "elapsed": self.elapsed,
            "error": self.error,
        }


@dataclass
class LiveSweep:
    """One sweep started here: its targets' states, its newest events, its end."""

    id: str
    targets: list[TargetState]
    query: dict[str, Any]
    started: str = field(default_factory=now_iso)
    ended: str | None = None
    error: str | None = None  # the sweep itself failed (an output: the store)
    store_id: str | None = None  # the sweep's id in the store (SweepInfo.id)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    version: int = 0
    recent: deque[tuple[int, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=RECENT))
    arrived: int = 0  # events the tap has seen
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _cache: tuple[int, bytes] = (-1, b"")

    # the listener: called on the event loop by the sweep
    def __call__(self, progress: Progress) -> None:
        if isinstance(progress, Started):
            self.targets[progress.index].state = "running"
        elif isinstance(progress, Read):
            self.targets[progress.index].events = progress.events
        elif isinstance(progress, Ended):
            self._ended(self.targets[progress.index], progress.outcome)
        self.bump()

    @staticmethod
    def _ended(state: TargetState, outcome: Outcome) -> None:
        state.state, state.events = outcome.status, outcome.events
        state.elapsed, state.error = round(outcome.elapsed, 3), outcome.error

    def bump(self) -> None:
        self.version += 1
        self._wake.set()

    @property
    def running(self) -> bool:
        return self.ended is None

    def events_so_far(self) -> int:
        return sum(state.events for state in self.targets)

    def snapshot(self) -> bytes:
        """The sweep as JSON (serialised once per version, whoever asks)."""
        if self._cache[0] != self.version:
            self._cache = (self.version, orjson.dumps(self.to_dict()))
        return self._cache[1]

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for state in self.targets:
            counts[state.state] = counts.get(state.state, 0) + 1
        return {
            "id": self.id,
            "store_id": self.store_id,
            "started": self.started,
            "ended": self.ended,
            "running": self.running,
            "cancelled": self.stop.is_set(),
            "error": self.error,
            "query": self.query,
            "events": self.events_so_far(),
            "counts": counts,
            "targets": [state.to_dict() for state in self.targets],
        }

    @property
    def newest(self) -> int:
        """The number of the newest event kept (0: none yet)."""
        return self.recent[-1][0] if self.recent else 0

    def events_after(self, seen: int) -> list[tuple[int, dict[str, Any]]]:
        return [(number, event) for number, event in self.recent if number > seen]

    async def changed(self, seen: int) -> None:
        """Return once the version differs from ``seen`` (or the sweep ended)."""
        while self.version == seen and self.running:
            self._wake.clear()
            await self._wake.wait()


class Tap:
    """An output that keeps the newest events of a live sweep for its watchers (runs in the
    output's own thread; hands them to the event loop)."""

    PER_BATCH = 20

    def __init__(self, live: LiveSweep, loop: asyncio.AbstractEventLoop) -> None:
        self.live, self.loop = live, loop

    def open(self, sweep: SweepInfo) -> None:
        self.loop.call_soon_threadsafe(self._opened, sweep.id)

    def write(self, batch: Batch) -> None:
        events = batch.events()
        newest = [_shown(event) for event in events[-self.PER_BATCH :]]
        self.loop.call_soon_threadsafe(self._add, len(events), newest)

    def outcome(self, outcome: Outcome) -> None:
        del outcome

    def close(self) -> None:
        pass

    def _opened(self, store_id: str) -> None:
        self.live.store_id = store_id
        self.live.bump()

    def _add(self, count: int, newest: list[dict[str, Any]]) -> None:
        live = self.live
        first = live.arrived + count - len(newest)
        live.arrived += count
        for offset, event in enumerate(newest, start=1):
            live.recent.append((first + offset, event))
        live.bump()


def _shown(event: Event) -> dict[str, Any]:
    return {
        "time": event.time,
        "target": event.target,
        "computer": event.computer,
        "log": event.log,
        "event_id": event.event_id,
        "level": event.level,
        "source": event.source,
        "message": event.message[:300],
    }


OutputsFor = Callable[[], Sequence[Output]]


class Sweeps:
    """The sweeps this server started: running ones and the last few that ended."""

    def __init__(self) -> None:
        self.sweeps: dict[str, LiveSweep] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, planned: Planned, query: dict[str, Any], outputs: OutputsFor) -> LiveSweep:
        """Start a sweep now (on the running loop); returns at once."""
        live = LiveSweep(
            id=uuid.uuid4().hex[:12],
            targets=[TargetState(source.target) for source in planned.sources],
            query=query,
        )
        self.sweeps[live.id] = live
        task = asyncio.get_running_loop().create_task(self._run(live, planned, outputs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._forget_old()
        return live

    async def _run(self, live: LiveSweep, planned: Planned, outputs: OutputsFor) -> None:
        tap = Tap(live, asyncio.get_running_loop())
        try:
            await run(planned, [*outputs(), tap], [live], stop=live.stop)
        except OutputError as exc:
            live.error = f"the store failed: {exc}"
        except EventsweepError as exc:
            live.error = str(exc)
        except Exception as exc:  # one line for the page; the traceback in the log
            log.exception("sweep %s failed", live.id)
            live.error = f"internal error: {type(exc).__name__}: {first_line(exc)}"
        finally:
            live.ended = now_iso()
            live.bump()

    def get(self, sweep_id: str) -> LiveSweep | None:
        return self.sweeps.get(sweep_id)

    def running(self) -> list[LiveSweep]:
        return [live for live in self.sweeps.values() if live.running]

    def _forget_old(self) -> None:
        ended = [live for live in self.sweeps.values() if not live.running]
        for live in ended[: max(0, len(ended) - KEPT)]:
            del self.sweeps[live.id]

    async def close(self, grace: float = 5.0) -> None:
        """Stop every running sweep and wait (a little) for their outcomes."""
        for live in self.running():
            live.stop.set()
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._tasks), grace)


async def watch(live: LiveSweep, shown: int = 0) -> Any:
    """The server-sent events of one watcher: ``state`` (the snapshot) on every change,
    ``events`` (the arrivals after number ``shown``, oldest first) and ``end`` once the sweep
    ended. (A watcher that leaves is noticed by the response, which cancels this.)"""
    seen = -1
    while True:
        version = live.version
        if version != seen:
            seen = version
            yield {"event": "state", "data": live.snapshot().decode()}
            fresh = live.events_after(shown)
            if fresh:
                shown = fresh[-1][0]
                events = [event for _, event in fresh]
                yield {"event": "events", "data": orjson.dumps(events).decode()}
        if not live.running and live.version == seen:
            yield {"event": "end", "data": live.snapshot().decode()}
            return
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.changed(seen), 15.0)
        await asyncio.sleep(max(0.0, TICK - (time.monotonic() - started)))
