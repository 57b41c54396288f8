"""Text from targets is defused wherever it is printed: outcome lines, errors, notes, the table
(one function, eventsweep.text.defuse), with hostile file names swept through the CLI."""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import pytest

from eventsweep.cli import main
from eventsweep.errors import OpenError, UsageError, first_line
from eventsweep.model import Outcome
from eventsweep.sinks import SinkOptions
from eventsweep.sinks.table import TableSink
from eventsweep.text import DefusedFormatter, defuse
from tests.testbed.corpus import SMALL

# what a terminal would act on: ESC, BEL, CSI (8-bit), C0/C1, DEL, bidi, line separators
LIVE = ["\x1b", "\x07", "\x9b", "\x00", "\x85", "\x7f", "\u202e", "\u2066", "\u2028", "\r", "\n"]
FORGED = "x\nok      fake.evtx  events=99 0.01s\x1b]0;owned\x07\x1b[2J\u202e"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, é ✓ 日本", "plain text, é ✓ 日本"),
        ("a\x1b[2Jb", "a?b"),  # a CSI sequence: one "?"
        ("a\x1b]0;title\x07b", "a?b"),  # OSC to BEL
        ("a\x1b]0;title\x1b\\b", "a?b"),  # OSC to ST
        ("a\x1bPdata\x1b\\b", "a?b"),  # DCS
        ("a\x1b(0b", "a?0b"),  # ESC + one character
        ("a\x9b31mb", "a?31mb"),  # the 8-bit CSI
        ("tab\tnew\nline\r\nsep\u2028par\u2029", "tab new line  sep par "),
        ("\x00\x01\x7f\x85\x9f", "??? ?"),
        ("\u202eevil\u2066\u200f", "?evil??"),
        ("\x1b", "?"),
    ],
)
def test_defuse(text: str, expected: str) -> None:
    assert defuse(text) == expected


def test_defuse_cuts_to_a_limit() -> None:
    assert defuse("abcdef", 4) == "abc…" and defuse("abc", 4) == "abc"


def inert(text: str) -> bool:
    return not any(char in text for char in LIVE)


def test_outcome_line_defuses_target_error_and_note() -> None:
    hostile = Outcome(FORGED, "error", 0, 0.1, error=f"open: {FORGED}")
    noted = Outcome(FORGED, "partial", 3, 0.1, warnings=1, notes=(f"journalctl: {FORGED}",))
    for outcome in (hostile, noted):
        line = outcome.line()
        assert inert(line) and line.startswith(f"{outcome.status:<7} x ok ")


def test_error_texts_are_defused() -> None:
    assert inert(str(OpenError(f"no journal: {FORGED}"))) and inert(str(UsageError(FORGED)))


def test_one_first_line_for_texts_and_exceptions() -> None:
    assert first_line("\n  journalctl: hint  \nmore") == "journalctl: hint"
    assert first_line("") == "" and first_line(ValueError()) == "ValueError"
    assert first_line(ValueError("a\nb")) == "a" and first_line("x" * 400) == "x" * 300


def test_table_defuses_target_and_cells(corpus: Path, tmp_path: Path) -> None:
    from eventsweep.model import Event

    event = Event("2024-01-19T10:00:00.000000Z", FORGED, FORGED, "System", 1, 1, "error",
                  FORGED, None, FORGED, {})  # fmt: skip
    for group in ("target", "time"):
        stream = io.StringIO()
        sink = TableSink(stream, SinkOptions(group=group, width=400))
        sink.write(event)
        sink.close()
        assert inert(stream.getvalue().replace("\n", "")) and stream.getvalue().count("\n") in (
            2,
            3,
        )


def test_hostile_file_names_cannot_forge_outcome_lines(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path
) -> None:
    shutil.copy(corpus / SMALL, tmp_path / f"{FORGED}.evtx")  # a real file with that name
    (tmp_path / "bad\x1b[31m\n\x07.evtx").write_text("not an event log")
    outcomes = tmp_path / "outcomes.jsonl"
    code = main(["sweep", str(tmp_path), "--all", "--outcomes", str(outcomes)])
    out, err = capsys.readouterr()
    assert code == 1 and len(out.splitlines()) == 4
    lines = err.splitlines()
    assert len(lines) == 2 and all(inert(line) for line in lines)
    assert sorted(line.split()[0] for line in lines) == ["error", "ok"]
    assert not any(line.startswith("ok      fake") for line in lines)


def test_log_lines_are_defused() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(DefusedFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("eventsweep.test_text")
    logger.addHandler(handler)
    try:
        try:
            raise OSError(FORGED)
        except OSError as exc:
            logger.warning("target %s failed", FORGED, exc_info=exc)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("WARNING eventsweep.test_text: target x ok ")
    assert all(inert(line) for line in lines) and lines[1] == "Traceback (most recent call last):"
