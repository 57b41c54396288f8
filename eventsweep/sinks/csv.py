"""CSV (RFC 4180: every cell quoted) with a header row; ``data`` as JSON.

Cells are defused for spreadsheets: a cell that starts with what a spreadsheet would run as a
formula (``=``, ``+``, ``-``, ``@``, tab or CR) gets an apostrophe in front, and so does every
line inside a cell (after each CR, LF or CRLF): a reader that splits rows at line breaks,
quotes or not, sees no line that starts a formula. Every cell is quoted, so that a reader that
honours quotes sees the cell whole.
"""

from __future__ import annotations

import csv
import re
from typing import IO, Any

import orjson

from eventsweep.model import FIELDS, Event
from eventsweep.sinks import SinkOptions

_FORMULA = ("=", "+", "-", "@", "\t", "\r")
# a line start inside the text (after CRLF, CR or LF) followed by a formula character
_LIVE_LINE = re.compile(r"(\r\n|\r|\n)(?=[=+\-@\t\r])")


def neutralise(value: object) -> str:
    """The cell text of a value, defused if a spreadsheet would read it (or any line of it) as
    a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = orjson.dumps(value).decode()
    text = str(value)
    if "\n" in text or "\r" in text:
        text = _LIVE_LINE.sub(r"\1'", text)
    return "'" + text if text.startswith(_FORMULA) else text


class CsvSink:
    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        self._stream = stream
        self._writer = csv.writer(stream, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
        self._writer.writerow(FIELDS)

    def write(self, event: Event) -> None:
        self._writer.writerow([neutralise(value) for value in event.astuple()])

    def close(self) -> None:
        self._stream.flush()
