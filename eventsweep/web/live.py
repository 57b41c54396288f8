"""Sweeps started from the web: run through the one sweep call, watched live by any number of pages.

:class:`Sweeps` starts a sweep with :func:`eventsweep.runner.run`, the store writer and a
:class:`Tap` as its outputs and a :class:`LiveSweep` as its listener. The listener keeps each
target's state (waiting, running, then its outcome) and the events so far; the tap keeps the
newest events handed to the outputs. Watchers (the server-sent event streams) never slow the
sweep: the listener only updates counters and bumps a version number, and never waits on a
watcher. One clock per sweep with watchers (:meth:`LiveSweep._tick`) wakes on a new version, at
most once per :data:`TICK`, and publishes it (:class:`Publication`): the state and the events
that arrived since the last one, serialised once, as the very bytes of the server-sent events
that every watcher in step sends (the newest publication wins for a watcher that fell behind:
it skips to it, with the events it missed). A watcher wakes once per publication, no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
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

TICK = 0.25  # seconds between two publications (messages to one watcher), at least
RECENT = 100  # newest events a live sweep keeps for its watchers
SENT = 20  # newest events a message carries at most (the page shows the last RECENT)
KEPT = 20  # finished sweeps kept in memory for late watchers
PING = 15.0  # seconds without a publication before a watcher is sent a comment (keeps proxies open)
PING_FRAME = b": ping\n\n"


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
    published: Publication | None = None  # the newest publication to the watchers
    _next: asyncio.Event = field(default_factory=asyncio.Event)  # set on the next one
    _ticker: asyncio.Task[None] | None = None
    watching: int = 0  # watchers streaming now

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

    def publish(self) -> Publication:
        """The state and events now, for every watcher; wakes the watchers waiting."""
        events = tuple(self.recent)
        last = self.published.newest if self.published is not None else 0
        publication = Publication(
            self.version, self.snapshot(), events, last, final=not self.running
        )
        self.published = publication
        woken, self._next = self._next, asyncio.Event()
        woken.set()
        return publication

    async def publications(self, ping: float = PING) -> AsyncIterator[Publication | None]:
        """The publications from now on: the newest at once (made now if no clock runs and
        the state changed since; the clock is started for a running sweep), then each next one;
        the final one last. A watcher still sending when several came gets the newest only.
        ``None`` after ``ping`` seconds without one."""
        if self._ticker is None or self._ticker.done():  # no clock running: publish now
            if self.published is None or self.published.version != self.version:
                self.publish()
            if self._ticker is None and self.running:
                self._ticker = asyncio.get_running_loop().create_task(self._tick())
        last = None
        while True:
            publication = self.published
            assert publication is not None
            if publication is not last:
                last = publication
                yield publication
                if publication.final:
                    return
            else:
                try:
                    async with asyncio.timeout(ping):
                        await self._next.wait()
                except TimeoutError:
                    yield None

    async def _tick(self) -> None:
        """The watchers' clock: a publication per new version, one per :data:`TICK` at most,
        until the final one."""
        while True:
            assert self.published is not None
            await self.changed(self.published.version)
            if self.publish().final:
                return
            await asyncio.sleep(TICK)


@dataclass
class Publication:
    """What the watchers of a live sweep are sent next: the state (serialised once) and the
    events kept (``recent``) up to number ``newest``; :meth:`frame` is the server-sent events
    for a watcher that has shown up to event number ``shown``, built once per ``shown`` (the
    watchers in step all have shown ``last``, the newest of the previous publication)."""

    version: int
    state: bytes
    recent: tuple[tuple[int, dict[str, Any]], ...]
    last: int
    final: bool
    _frames: dict[int, bytes] = field(default_factory=dict)

    @property
    def newest(self) -> int:
        return self.recent[-1][0] if self.recent else self.last

    def frame(self, shown: int) -> bytes:
        """``state``, then ``events`` (the arrivals after ``shown``, oldest first, the newest
        :data:`SENT` of them) if any,
        then ``end`` if the sweep ended: one chunk of server-sent events."""
        found = self._frames.get(shown)
        if found is None:
            found = self._frames[shown] = self._build(shown)
        return found

    def _build(self, shown: int) -> bytes:
        parts = [sse("state", self.state)]
        fresh = [event for number, event in self.recent[-SENT:] if number > shown]
        if fresh:
            parts.append(sse("events", orjson.dumps(fresh)))
        if self.final:
            parts.append(sse("end", self.state))
        return b"".join(parts)


def sse(name: str, data: bytes) -> bytes:
    """One server-sent event (``data`` is JSON: one line, no line break to escape)."""
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


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


async def watch(live: LiveSweep, shown: int = 0, ping: float = PING) -> AsyncGenerator[bytes, None]:
    """The server-sent events of one watcher, a chunk per publication: ``state`` (the
    snapshot), ``events`` (the arrivals after number ``shown``, oldest first) and, once the
    sweep ended, ``end``; a comment after ``ping`` seconds of nothing. (A watcher that leaves
    is noticed by :func:`eventsweep.web.streams.respond`, which cancels this.)"""
    live.watching += 1
    try:
        async for publication in live.publications(ping):
            if publication is None:
                yield PING_FRAME
                continue
            yield publication.frame(shown)
            shown = max(shown, publication.newest)
    finally:
        live.watching -= 1
