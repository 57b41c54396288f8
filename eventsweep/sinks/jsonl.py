"""JSON Lines: one event object per line, fields in the documented order."""

from __future__ import annotations

from typing import IO, Any

from eventsweep.batch import Batch
from eventsweep.model import Event, Outcome
from eventsweep.sinks import SinkOptions, SweepInfo


class JsonlSink:
    """An output writing each batch's JSON Lines (:meth:`Batch.jsonl`: what a worker encoded
    is written as it is). Bytes go to the stream's binary buffer when it has one (a file,
    stdout): the lines are UTF-8 already, and decoding them for a text stream to encode again
    cost as much as the writing."""

    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        del options
        self._stream = stream
        self._binary: IO[bytes] | None = getattr(stream, "buffer", None)
        if self._binary is not None:
            stream.flush()  # anything written as text so far goes first

    def open(self, sweep: SweepInfo) -> None:
        del sweep

    def write(self, batch: Batch | Event) -> None:
        """A batch (as the sweep call hands them), or one event."""
        self._write((batch if isinstance(batch, Batch) else Batch([batch])).jsonl())

    def outcome(self, outcome: Outcome) -> None:
        del outcome

    def _write(self, data: bytes) -> None:
        if self._binary is not None:
            self._binary.write(data)
        else:
            self._stream.write(data.decode())

    def close(self) -> None:
        if self._binary is not None:
            self._binary.flush()
        self._stream.flush()
