"""Sinks: where a sweep's events go. A sink takes events one at a time and is closed once.

Formats are registered by name with the dotted path of a factory ``(stream, options) -> Sink``,
imported only when chosen. Text formats write to a text stream; binary ones (evtx) to a path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from eventsweep.errors import UsageError
from eventsweep.model import Event


class Sink(Protocol):
    def write(self, event: Event) -> None: ...

    def close(self) -> None: ...


def write_all(sink: Sink, events: list[Event]) -> None:
    """Write a list of events: at once where the sink can (``write_many``), else one by one."""
    many = getattr(sink, "write_many", None)
    if many is not None:
        many(events)
        return
    for event in events:
        sink.write(event)


@dataclass(frozen=True, slots=True)
class SinkOptions:
    """What a sink may want to know about the sweep it writes."""

    group: str = "target"
    color: bool = False
    width: int | None = None


Factory = Callable[[IO[Any], SinkOptions], Sink]

FORMATS: dict[str, str] = {
    "table": "eventsweep.sinks.table:TableSink",
    "jsonl": "eventsweep.sinks.jsonl:JsonlSink",
    "csv": "eventsweep.sinks.csv:CsvSink",
    "evtx": "eventsweep.sinks.evtx:EvtxSink",
}
BINARY = frozenset({"evtx"})


def open_sink(name: str, stream: IO[Any], options: SinkOptions) -> Sink:
    """The sink for format ``name`` writing to ``stream`` (binary for BINARY formats)."""
    if name not in FORMATS:
        raise UsageError(f"--format: unknown format {name!r} (one of {', '.join(FORMATS)})")
    module_name, _, attribute = FORMATS[name].partition(":")
    factory: Factory = getattr(importlib.import_module(module_name), attribute)
    return factory(stream, options)
