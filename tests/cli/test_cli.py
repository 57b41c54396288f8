"""The command line, run as a user runs it: flags, exit statuses, formats, outcomes."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from eventsweep.cli import build_parser, main
from eventsweep.model import FIELDS, Event
from eventsweep.sinks import SinkOptions
from eventsweep.sinks.csv import CsvSink, neutralise
from eventsweep.sinks.table import TableSink
from tests.testbed.corpus import SECURITY, SMALL

COMMAND = [sys.executable, "-m", "eventsweep.cli"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own (after ``prefix``), its output captured as text."""
    return subprocess.run([*prefix, *COMMAND, *argv], capture_output=True, text=True, check=False)


def test_jsonl_events_have_the_documented_shape(
    capsys: pytest.CaptureFixture[str], corpus: Path
) -> None:
    code, out, err = run(capsys, "sweep", str(corpus / SMALL), "--all", "--format", "jsonl")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 4 and all(tuple(row) == FIELDS for row in rows)
    assert rows[0]["time"].endswith("Z") and isinstance(rows[0]["record_id"], int)
    assert err.splitlines()[-1].startswith(f"ok      {corpus / SMALL}  events=4 ")


def test_piped_output_defaults_to_jsonl_and_stdout_holds_only_data(
    capsys: pytest.CaptureFixture[str], corpus: Path
) -> None:
    code, out, _ = run(capsys, "sweep", str(corpus / SMALL), "--all")
    assert code == 0 and all(json.loads(line)["log"] == "Security" for line in out.splitlines())


def test_failures_give_exit_1_and_one_line_each(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.evtx"
    bad.write_text("hello")
    outcomes = tmp_path / "outcomes.jsonl"
    code, out, err = run(
        capsys, "sweep", str(corpus / SMALL), str(bad), "--all", "--outcomes", str(outcomes)
    )
    assert code == 1 and len(out.splitlines()) == 4
    assert (
        err.splitlines()
        == [line for line in err.splitlines() if line.startswith(("ok ", "error "))]
        and len(err.splitlines()) == 2
    )
    assert "Traceback" not in err
    written = [json.loads(line) for line in outcomes.read_text().splitlines()]
    assert [(o["status"], o["events"]) for o in written] == [("ok", 4), ("error", 0)]
    assert written[1]["error"].startswith("open: not an EVTX event log")


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--since", "yesterday"], "--since"),
        (["--until", "2024-13-01T00:00Z"], "--until"),
        (["--level", "loud"], "--level"),
        (["--event-id", "1-x"], "--event-id"),
        (["--grep", "("], "--grep"),
        (["--limit", "0"], "--limit"),
        (["--format", "xml"], "--format"),
        (["--group", "host"], "--group"),
        (["--timeout", "-1"], "--timeout"),
        (["--concurrency", "zero"], "--concurrency"),
        (["win://"], "win"),
        (["nosuch://x"], "nosuch"),
        (["-i", "/nonexistent/targets.txt"], "-i"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], corpus: Path, argv: list[str], flag: str
) -> None:
    code, out, err = run(capsys, "sweep", str(corpus / SMALL), *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and flag in err and err.startswith("eventsweep: ")


def test_targets_file_skips_comments_and_blank_lines(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(f"# the case files\n\n{corpus / SMALL}\n   \n{corpus / SECURITY}  \n")
    code, out, err = run(capsys, "sweep", "-i", str(listing), "--all", "--limit", "1")
    assert code == 0 and len(out.splitlines()) == 2 and len(err.splitlines()) == 2


def test_group_time_is_one_timeline(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    code, out, _ = run(
        capsys,
        "sweep",
        str(corpus / "omerbenamram__evtx/samples"),
        "--all",
        "--limit",
        "20",
        "--group",
        "time",
    )
    times = [json.loads(line)["time"] for line in out.splitlines()]
    targets = {json.loads(line)["target"] for line in out.splitlines()}
    assert code in (0, 1)
    assert times == sorted(times, reverse=True) and len(targets) > 5


def test_every_command_and_flag_has_help() -> None:
    parser = build_parser()
    for action in parser._subparsers._group_actions[0].choices.values():  # type: ignore[union-attr]
        assert action.description or action.format_usage()
        for flag in action._actions:
            assert flag.help, flag.dest


def test_unreadable_file_is_an_error(tmp_path: Path, corpus: Path) -> None:
    secret = tmp_path / "locked.evtx"
    secret.write_bytes((corpus / SMALL).read_bytes())
    secret.chmod(0)
    # root reads any file: drop the two capabilities that let it (setpriv, util-linux)
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    result = run_process("sweep", str(secret), "--all", prefix=drop)
    assert result.returncode == 1 and result.stdout == ""
    assert "Permission denied" in result.stderr and "Traceback" not in result.stderr


# --- sinks: attacker-controlled text is never interpreted ---------------------------------

HOSTILE = Event(
    time="2024-01-19T10:00:00.000000Z",
    target="t",
    computer="=cmd|' /C calc'!A0",
    log="System",
    record_id=1,
    event_id=1,
    level="error",
    source="+SUM(1,2)",
    category=None,
    message="[bold red]x[/] \x1b[2J\x1b]0;owned\x07 line\nbreak \u202eevil",
    data={"k": "@x"},
)


def test_csv_neutralises_formulas() -> None:
    stream = io.StringIO()
    sink = CsvSink(stream, SinkOptions())
    sink.write(HOSTILE)
    sink.close()
    header, row = list(csv.reader(io.StringIO(stream.getvalue())))
    cells = dict(zip(header, row, strict=True))
    assert cells["computer"] == "'=cmd|' /C calc'!A0" and cells["source"] == "'+SUM(1,2)"
    assert [neutralise(v) for v in ("-1", "@a", "\tx", "\rx", "ok", None)] == [
        "'-1",
        "'@a",
        "'\tx",
        "'\rx",
        "ok",
        "",
    ]


def test_table_shows_markup_and_escapes_as_plain_text() -> None:
    stream = io.StringIO()
    sink = TableSink(stream, SinkOptions(color=True, width=400))
    sink.write(HOSTILE)
    sink.close()
    text = stream.getvalue()
    assert "[bold red]x[/]" in text and "\x1b[2J" not in text and "\x07" not in text
    assert "\u202e" not in text and "line break" in text


def test_debug_shows_the_cause_only_when_asked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.evtx"
    bad.write_text("hello")
    quiet = run_process("sweep", str(bad))
    loud = run_process("--debug", "sweep", str(bad))
    assert quiet.returncode == loud.returncode == 1
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
    assert "NotEvtx" in loud.stderr


def test_progress_on_a_terminal_goes_to_stderr_only(corpus: Path) -> None:
    import pty

    master, slave = pty.openpty()
    result = subprocess.run(
        [*COMMAND, "sweep", str(corpus), "--all", "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=slave,
        check=False,
    )
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    progress = re.compile(rb"targets \d+/39  events \d+")
    assert progress.search(screen) and not progress.search(result.stdout)
    assert all(json.loads(line) for line in result.stdout.splitlines())


def test_ci_runs_the_readme_test_command() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.strip() for line in block.splitlines() if line.strip()]
    assert len(commands) == 2  # one installs and sweeps demo data, one runs every test
    ci = [line.strip() for line in (root / ".ci/run").read_text().splitlines()]
    assert commands[1] in ci
