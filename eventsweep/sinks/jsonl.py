"""JSON Lines: one event object per line, fields in the documented order."""

from __future__ import annotations

from typing import IO, Any

from eventsweep.model import EncodedEvent, Event, json_line
from eventsweep.sinks import SinkOptions


def _line(event: Event) -> bytes:
    if type(event) is EncodedEvent:  # already JSON, made by a worker process
        return event.line
    return json_line(event)


class JsonlSink:
    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        self._stream = stream

    def write(self, event: Event) -> None:
        self._stream.write(_line(event).decode())

    def write_many(self, events: list[Event]) -> None:
        self._stream.write(b"".join([_line(event) for event in events]).decode())

    def close(self) -> None:
        self._stream.flush()
