"""CSV with a header row; ``data`` as JSON; cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or CR) are prefixed with an apostrophe."""

from __future__ import annotations

import csv
from typing import IO, Any

import orjson

from eventsweep.model import FIELDS, Event
from eventsweep.sinks import SinkOptions

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """The cell text of a value, defused if a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = orjson.dumps(value).decode()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


class CsvSink:
    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        self._stream = stream
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(FIELDS)

    def write(self, event: Event) -> None:
        self._writer.writerow([neutralise(value) for value in event.astuple()])

    def close(self) -> None:
        self._stream.flush()
