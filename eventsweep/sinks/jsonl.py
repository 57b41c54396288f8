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
    """Writes bytes to the stream's binary buffer when it has one (a file, stdout): the lines
    are UTF-8 already, and decoding them for a text stream to encode again cost as much as
    the writing."""

    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        self._stream = stream
        self._binary: IO[bytes] | None = getattr(stream, "buffer", None)
        if self._binary is not None:
            stream.flush()  # anything written as text so far goes first

    def write(self, event: Event) -> None:
        self._write(_line(event))

    def write_many(self, events: list[Event]) -> None:
        self._write(b"".join([_line(event) for event in events]))

    def write_chunk(self, chunk: list[Event] | bytes) -> None:
        """A chunk of :meth:`~eventsweep.sweep.Sweep.chunks`: events, or JSON Lines made
        elsewhere (a spilled block of encoded events), written as they are."""
        if isinstance(chunk, bytes):
            self._write(chunk)
        else:
            self.write_many(chunk)

    def _write(self, data: bytes) -> None:
        if self._binary is not None:
            self._binary.write(data)
        else:
            self._stream.write(data.decode())

    def close(self) -> None:
        if self._binary is not None:
            self._binary.flush()
        self._stream.flush()
