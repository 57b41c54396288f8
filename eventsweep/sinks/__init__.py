"""Outputs: where a sweep's events and outcomes go. One interface, several at once.

An :class:`Output` is opened with the sweep's description, receives its events in order, a
:class:`~eventsweep.batch.Batch` at a time, and each target's outcome once that target's last
event has been handed to it, then is closed once. Its methods may block: the sweep call runs
each output in a thread of its own, off the event loop. table, jsonl, csv and evtx are outputs
chosen by name (the registry below, imported only when chosen); the store is another.

A format that only wants events (table, csv, evtx) is written as an :class:`EventWriter`
(``write(event)``, ``close()``) and wrapped by :class:`Events`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from eventsweep.batch import Batch
from eventsweep.errors import UsageError
from eventsweep.model import Event, Outcome, Query, now_iso


@dataclass(frozen=True, slots=True)
class SweepInfo:
    """What an output is told about the sweep it receives."""

    id: str
    targets: tuple[str, ...]  # one per source, as planned (a directory's files, one by one)
    query: Query
    group: str = "target"
    started: str = field(default_factory=now_iso)


class Output(Protocol):
    def open(self, sweep: SweepInfo) -> None: ...

    def write(self, batch: Batch) -> None: ...

    def outcome(self, outcome: Outcome) -> None: ...

    def close(self) -> None: ...


class EventWriter(Protocol):
    def write(self, event: Event) -> None: ...

    def close(self) -> None: ...


class Events:
    """An output made of an event writer: events one at a time; nothing else wanted."""

    def __init__(self, writer: EventWriter) -> None:
        self.writer = writer

    def open(self, sweep: SweepInfo) -> None:
        del sweep

    def write(self, batch: Batch) -> None:
        write = self.writer.write
        for event in batch.events():
            write(event)

    def outcome(self, outcome: Outcome) -> None:
        del outcome

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True, slots=True)
class SinkOptions:
    """What a format may want to know about the sweep it writes."""

    group: str = "target"
    color: bool = False
    width: int | None = None


Factory = Callable[[IO[Any], SinkOptions], Any]

FORMATS: dict[str, str] = {
    "table": "eventsweep.sinks.table:TableSink",
    "jsonl": "eventsweep.sinks.jsonl:JsonlSink",
    "csv": "eventsweep.sinks.csv:CsvSink",
    "evtx": "eventsweep.sinks.evtx:EvtxSink",
}
BINARY = frozenset({"evtx"})


def _factory(name: str) -> Factory:
    if name not in FORMATS:
        raise UsageError(f"--format: unknown format {name!r} (one of {', '.join(FORMATS)})")
    module_name, _, attribute = FORMATS[name].partition(":")
    factory: Factory = getattr(importlib.import_module(module_name), attribute)
    return factory


def open_sink(name: str, stream: IO[Any], options: SinkOptions) -> EventWriter:
    """The writer for format ``name`` on ``stream`` (binary for BINARY formats), taking events
    one at a time."""
    writer: EventWriter = _factory(name)(stream, options)
    return writer


def open_output(name: str, stream: IO[Any], options: SinkOptions) -> Output:
    """Format ``name`` as an output of the sweep call."""
    made = _factory(name)(stream, options)
    if hasattr(made, "outcome"):
        output: Output = made
        return output
    return Events(made)
