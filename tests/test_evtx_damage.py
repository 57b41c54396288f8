"""Damaged values cost a record, never the file; link loops end, each real file read once."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from eventsweep.formats.evtx.writer import EvtxWriter
from eventsweep.model import Event
from eventsweep.query import build_query
from eventsweep.sources import Settings, plan
from eventsweep.sources.evtx import EvtxSource
from eventsweep.sources.evtx_worker import valid_time
from tests.testbed import run

ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
TIMES = [f"2024-01-01T00:00:{second:02}.000000Z" for second in range(10)]
_RECORD = re.compile(rb"\*\*\x00\x00")
_FILETIME_VALUE = b"\x08\x00\x11\x00"  # a substitution descriptor: 8 bytes of type FILETIME


def _log() -> bytearray:
    """Ten records, one a second (made here with the package's writer)."""
    buffer = io.BytesIO()
    with EvtxWriter(buffer) as writer:
        for number, time in enumerate(TIMES, 1):
            writer.write(Event(time, "x", "pc", "Security", number, 4624, "info", "p", None, "m"))
    return bytearray(buffer.getvalue())


def _retyped(kind: int) -> bytes:
    """The fourth record's TimeCreated given another value type (a bit flip in the type byte
    turns the FILETIME into a float, text, hex or a number for the parser)."""
    data = _log()
    fourth = [match.start() for match in _RECORD.finditer(bytes(data))][3]
    at = data.find(_FILETIME_VALUE, fourth)
    data[at + 2] = kind
    return bytes(data)


@pytest.mark.parametrize("kind", [0x0B, 0x0C, 0x01, 0x10, 0x0A, 0x08])
def test_a_damaged_time_costs_that_record_only(tmp_path: Path, kind: int) -> None:
    path = tmp_path / "damaged.evtx"
    path.write_bytes(_retyped(kind))
    queries = [
        build_query(since=None),
        build_query(since="2024-01-01T00:00:02Z", until="2024-01-01T00:00:08Z"),
        build_query(since=None, levels=["info"], limit=5),
    ]
    for query in queries:
        events, outcomes = run.sweep([str(path)], query=query)
        assert outcomes[0].status == "partial" and outcomes[0].error is None, outcomes[0]
        assert all(ISO.fullmatch(event.time) for event in events)
        assert {event.time for event in events} <= set(TIMES)
        assert "damaged TimeCreated" in outcomes[0].notes[0]
    events, _ = run.sweep([str(path)], query=queries[0])
    assert sorted(event.time for event in events) == TIMES  # its write time stands in


@pytest.mark.parametrize(
    "text",
    [
        "6.99256576e-300",
        "6.99256576T697823e-.000000Z",
        "1.7160028e+34",
        "0x1da3c4578538380",
        "2024-13-01T00:00:00.000000Z",
        "2024-02-30T00:00:00.000000Z",
        "2024-01-01T24:00:00.000000Z",
        "2024-01-01T23:60:00.000000Z",
        "1600-12-31T23:59:59.999999Z",
        "0000-01-01T00:00:00.000000Z",
        "２０２４-01-01T00:00:00.000000Z",
        "",
        None,
        133485408030000000,
        "莀硓㱅ǚ",
    ],
)
def test_invalid_times_are_refused(text: object) -> None:
    assert valid_time(text) == ""


def test_valid_times_are_fixed_width() -> None:
    assert valid_time("2016-07-08T18:12:51.6816408Z") == "2016-07-08T18:12:51.681640Z"
    assert valid_time("2016-07-08 18:12:51Z") == "2016-07-08T18:12:51.000000Z"
    assert valid_time("1601-01-01T00:00:00.000000Z") == "1601-01-01T00:00:00.000000Z"
    assert valid_time("9999-12-31T23:59:59.999999Z") == "9999-12-31T23:59:59.999999Z"


# --- links --------------------------------------------------------------------------------


@pytest.fixture
def looped(tmp_path: Path) -> Path:
    """cases/a.evtx, cases/sub/b.evtx, links back up (two loops) and a link to a file."""
    cases = tmp_path / "cases"
    (cases / "sub").mkdir(parents=True)
    (cases / "a.evtx").write_bytes(bytes(_log()))
    (cases / "sub" / "b.evtx").write_bytes(bytes(_log()))
    (cases / "sub" / "up").symlink_to("..")
    (cases / "sub" / "here").symlink_to(".")
    (cases / "again.evtx").symlink_to("a.evtx")
    return cases


def _planned(targets: list[str]) -> list[EvtxSource]:
    sources = plan(targets, Settings())
    assert all(isinstance(source, EvtxSource) for source in sources)
    return sources  # type: ignore[return-value]


def _real(sources: list[EvtxSource]) -> list[str]:
    return sorted(os.path.basename(source.path) for source in sources)


def test_a_directory_through_link_loops_reads_each_file_once(looped: Path) -> None:
    sources = _planned([str(looped)])
    assert _real(sources) == ["a.evtx", "b.evtx"]
    assert all(source.path == os.path.realpath(source.path) for source in sources)


@pytest.mark.parametrize("pattern", ["**/*.evtx", "**", "*/**/*.evtx", "sub/**/*.evtx", "*.evtx"])
def test_a_glob_through_link_loops_ends_and_reads_each_file_once(
    looped: Path, pattern: str
) -> None:
    sources = _planned([str(looped / pattern)])
    # sub/up/a.evtx is a.evtx (through the link), again.evtx too
    assert _real(sources) == (["a.evtx"] if pattern == "*.evtx" else ["a.evtx", "b.evtx"])


def test_a_relative_glob_names_files_as_glob_does(
    looped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(looped)
    sources = _planned(["**/*.evtx"])
    assert sorted(source.target for source in sources) == ["a.evtx", "sub/b.evtx"]


def test_one_real_file_across_targets_is_read_once(looped: Path) -> None:
    targets = [str(looped / "again.evtx"), str(looped), str(looped / "**"), str(looped / "a.evtx")]
    sources = _planned(targets)
    assert _real(sources) == ["a.evtx", "b.evtx"]
    assert sources[0].target == str(looped / "again.evtx")  # the first path given is kept
    events, outcomes = run.sweep(targets, query=build_query(since=None))
    assert len(outcomes) == 2 and len(events) == 20
