"""Outputs through the command line: every format to a file, an output that names an input,
outputs that can't be written, a terminal that can't show a character, the last line of
defence."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventsweep import cli, runner
from eventsweep.cli import sweep as sweep_command
from eventsweep.demo import generate
from tests.testbed.corpus import SMALL

COMMAND = [sys.executable, "-m", "eventsweep.cli"]
END = "2024-01-20T00:00:00Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "demo"
    generate(folder, end=END)
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["jsonl", "csv", "table", "evtx"])
def test_every_format_writes_a_file_with_o(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path, name: str
) -> None:
    out = tmp_path / f"events.{name}"
    window = ["--since", "2024-01-19T18:00:00Z", "--until", END]
    code, stdout, err = _run(capsys, "sweep", str(demo), *window, "--format", name, "-o", str(out))
    assert code == 0 and stdout == ""
    total = sum(int(line.split("events=")[1].split()[0]) for line in err.splitlines())
    assert total > 100
    if name == "jsonl":
        assert len(out.read_text().splitlines()) == total
    elif name == "csv":
        assert len(list(csv.reader(io.StringIO(out.read_text())))) == total + 1
    elif name == "table":
        assert out.read_text().count("\n") >= total
    else:
        code, stdout, _ = _run(capsys, "sweep", str(out), "--all", "--format", "jsonl")
        assert code == 0 and len(stdout.splitlines()) == total


def test_an_output_naming_an_input_is_refused_and_the_input_kept(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path
) -> None:
    evidence = tmp_path / "evidence.evtx"
    evidence.write_bytes((corpus / SMALL).read_bytes())
    before = evidence.read_bytes()
    for flag in ("-o", "--outcomes"):
        code, out, err = _run(capsys, "sweep", str(tmp_path), "--all", flag, str(evidence))
        assert code == 2 and out == "" and len(err.splitlines()) == 1
        assert "is one of the inputs" in err and evidence.read_bytes() == before


def test_an_outcomes_file_that_cannot_be_written_is_refused_before_the_sweep(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path
) -> None:
    code, out, err = _run(
        capsys, "sweep", str(corpus / SMALL), "--all", "--outcomes", str(tmp_path / "no/such")
    )
    assert code == 2 and out == ""
    assert err.startswith("eventsweep: --outcomes ") and len(err.splitlines()) == 1


def test_a_failed_write_names_the_flag_and_keeps_the_outcomes(corpus: Path, tmp_path: Path) -> None:
    outcomes = tmp_path / "outcomes.jsonl"
    result = subprocess.run(
        [*COMMAND, "sweep", str(corpus), "--all", "-o", "/dev/full", "--outcomes", str(outcomes)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("eventsweep: -o /dev/full: cannot write (No space left on device)")
    written = [json.loads(line) for line in outcomes.read_text().splitlines()]
    assert len(written) == len(list(corpus.rglob("*.evtx")))


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "x"])
@pytest.mark.parametrize("flag", ["--timeout", "--connect-timeout", "--concurrency"])
def test_bad_numbers_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], corpus: Path, flag: str, value: str
) -> None:
    code, out, err = _run(capsys, "sweep", str(corpus / SMALL), flag, value)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and flag in err


def test_a_terminal_that_cannot_show_a_character_gets_it_escaped(tmp_path: Path) -> None:
    generate(tmp_path / "demo", end=END)
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    for name in ("table", "csv", "jsonl"):
        result = subprocess.run(
            [*COMMAND, "sweep", str(tmp_path / "demo"), "--all", "--format", name, "--limit", "50"],
            capture_output=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0 and b"Traceback" not in result.stderr
        assert len(result.stdout.splitlines()) >= 50


def test_an_internal_error_is_one_line_exit_70_with_the_outcomes_so_far(
    capsys: pytest.CaptureFixture[str], corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner.run

    async def broken(*args: object, **options: object) -> object:
        await real(*args, **options)  # type: ignore[arg-type]
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(sweep_command, "run", broken)
    code, _, err = _run(capsys, "sweep", str(corpus / SMALL), "--all", "--format", "jsonl")
    assert code == 70
    lines = err.splitlines()
    assert lines[0].startswith(f"ok      {corpus / SMALL}  events=4 ")
    assert lines[-1] == (
        "eventsweep: internal error: ZeroDivisionError: boom; run with --debug for the traceback"
    )
