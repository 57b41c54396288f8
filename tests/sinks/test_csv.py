"""CSV: every cell quoted (RFC 4180), and every line a reader can see starts inert."""

from __future__ import annotations

import csv
import io
import re

import pytest

from eventsweep.model import FIELDS, Event
from eventsweep.sinks import SinkOptions
from eventsweep.sinks.csv import CsvSink, neutralise

FORMULA = ("=", "+", "-", "@", "\t", "\r")
PAYLOADS = [
    "Login failed for bob\r=cmd|' /C calc'!A0",
    "a\n=1+1",
    "a\r\n+SUM(A1)",
    "x\n\n-2",
    "\r\r@x",
    "first\n\tsecond",
    'quoted "\n=HYPERLINK("x")',
    "=plain",
]


def event(text: str) -> Event:
    return Event("2024-01-19T10:00:00.000000Z", text, text, "System", 1, 1, "error", text,
                 None, text, {"k": text})  # fmt: skip


def written(events: list[Event]) -> str:
    stream = io.StringIO(newline="")
    sink = CsvSink(stream, SinkOptions())
    for item in events:
        sink.write(item)
    sink.close()
    return stream.getvalue()


def test_every_cell_is_quoted() -> None:
    text = written([event("ok")])
    header, row = text.splitlines()
    assert header == ",".join(f'"{name}"' for name in FIELDS)
    assert row.startswith('"2024-01-19T10:00:00.000000Z","ok","ok"') and row.endswith('"')


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_reader_sees_the_row_whole_and_no_line_starts_a_formula(payload: str) -> None:
    text = written([event(payload)])
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert header == list(FIELDS) and len(row) == len(FIELDS)
    for cell in row:
        assert not cell.startswith(FORMULA)
        assert not any(line.startswith(FORMULA) for line in re.split(r"\r\n|\r|\n", cell))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_raw_lines_start_inert(payload: str) -> None:
    """As a reader that splits rows at every CR or LF (quotes or not) sees them."""
    for line in re.split(r"\r\n|\r|\n", written([event(payload)])):
        assert not line.lstrip('"').startswith(FORMULA), line


def test_neutralise_keeps_harmless_text() -> None:
    assert neutralise("a\nb\r\nc") == "a\nb\r\nc" and neutralise("x\n=1") == "x\n'=1"
    assert neutralise({"k": "=1"}) == '{"k":"=1"}'
