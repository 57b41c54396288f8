"""JSON Lines: one event object per line, fields in the documented order."""

from __future__ import annotations

from typing import IO, Any

import orjson

from eventsweep.model import Event
from eventsweep.sinks import SinkOptions


class JsonlSink:
    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        self._stream = stream

    def write(self, event: Event) -> None:
        # orjson serialises the dataclass natively, fields in their documented order
        self._stream.write(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE).decode())

    def close(self) -> None:
        self._stream.flush()
