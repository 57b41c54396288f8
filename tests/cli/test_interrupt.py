"""Interruption, as a user causes it: Ctrl-C on a terminal, SIGTERM, a reader that leaves
(``| head -1``), and ``--timeout`` bounding the whole command. Every target still gets one
outcome, ``--outcomes`` is written, the exit status is the shell's, and nothing is left behind:
no traceback, no process, no temporary file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.testbed.corpus import SYNTHETIC
from tests.testbed.net import silent_listener

COMMAND = [sys.executable, "-m", "eventsweep.cli"]


@pytest.fixture
def hung() -> Iterator[socket.socket]:
    sock = silent_listener()
    try:
        yield sock
    finally:
        sock.close()


def _case(tmp_path: Path, corpus: Path, copies: int = 3) -> list[str]:
    """A few copies of the 24 MB file (parsing keeps the workers busy) and a host that never
    answers (the sweep can't end before the signal)."""
    folder = tmp_path / "case"
    folder.mkdir()
    for n in range(copies):
        shutil.copyfile(corpus / SYNTHETIC, folder / f"copy{n}.evtx")
    return [str(folder)]


def _start(
    tmp_path: Path, argv: list[str], stdout: int | None = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(temp), "EVENTSWEEP_PASSWORD": "x"}
    return subprocess.Popen(
        [*COMMAND, *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                child = int(entry.name)
                found |= {child} | _descendants(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for_workers(process: subprocess.Popen[bytes]) -> set[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = _descendants(process.pid)
        if len(found) >= 3:  # the fork server and its workers
            time.sleep(0.3)  # parsing is under way
            return _descendants(process.pid)
        time.sleep(0.05)
    raise AssertionError("the sweep never started its workers")


def _check_ended_cleanly(
    process: subprocess.Popen[bytes], children: set[int], tmp_path: Path, sent: float
) -> str:
    _, err = process.communicate(timeout=10)
    assert time.monotonic() - sent < 2.5  # "stop within 2 s" (plus the test's own reading)
    stderr = err.decode()
    assert "Traceback" not in stderr, stderr
    time.sleep(0.3)
    assert not [pid for pid in children if _alive(pid)]
    assert list((tmp_path / "tmp").iterdir()) == []
    return stderr


def _outcomes(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(("number", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_sweep_with_every_outcome(
    tmp_path: Path, corpus: Path, hung: socket.socket, number: int, status: int
) -> None:
    host = f"win://u@127.0.0.1:{hung.getsockname()[1]}"
    outcomes = tmp_path / "outcomes.jsonl"
    argv = ["sweep", *_case(tmp_path, corpus), host, "--all", "--format", "jsonl"]
    process = _start(
        tmp_path, [*argv, "-o", str(tmp_path / "out.jsonl"), "--outcomes", str(outcomes)]
    )
    children = _wait_for_workers(process)
    # Ctrl-C reaches the whole foreground process group; kill(1) only the command
    os.killpg(process.pid, number) if number == signal.SIGINT else process.send_signal(number)
    stderr = _check_ended_cleanly(process, children, tmp_path, time.monotonic())
    assert process.returncode == status
    written = _outcomes(outcomes)
    assert len(written) == 4 and len({o["target"] for o in written}) == 4
    statuses = {o["target"]: o["status"] for o in written}
    assert statuses[host] == "interrupted"
    assert stderr.count("interrupted ") >= 1 and host in stderr


def test_a_reader_that_leaves_ends_the_sweep_with_outcomes(
    tmp_path: Path, corpus: Path, hung: socket.socket
) -> None:
    host = f"win://u@127.0.0.1:{hung.getsockname()[1]}"
    outcomes = tmp_path / "outcomes.jsonl"
    argv = ["sweep", *_case(tmp_path, corpus), host, "--all", "--outcomes", str(outcomes)]
    process = _start(tmp_path, argv, stdout=subprocess.PIPE)
    assert process.stdout is not None
    first = process.stdout.readline()  # | head -1
    assert json.loads(first)["log"] == "Security"
    children = _descendants(process.pid)
    process.stdout.close()
    _check_ended_cleanly(process, children, tmp_path, time.monotonic())
    assert process.returncode == 141
    assert len(_outcomes(outcomes)) == 4


def test_sigterm_lets_a_pipe_reader_see_the_end(
    tmp_path: Path, corpus: Path, hung: socket.socket
) -> None:
    """No process of the sweep keeps the caller's stdout open after it ends."""
    host = f"win://u@127.0.0.1:{hung.getsockname()[1]}"
    process = _start(tmp_path, ["sweep", *_case(tmp_path, corpus), host, "--all"], subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    while process.stdout.read(1 << 20):  # end of file once every holder is gone
        assert time.monotonic() - sent < 5
    process.stdout.close()
    _, err = process.communicate(timeout=5)
    assert process.returncode == 143 and b"Traceback" not in err


def test_timeout_bounds_the_whole_command(tmp_path: Path, hung: socket.socket) -> None:
    """A connect that would take 60 s more: the command ends at its --timeout."""
    port = hung.getsockname()[1]
    targets = [f"win://u@127.0.0.1:{port}", f"ssh://127.0.0.1:{port}"]
    started = time.monotonic()
    process = _start(tmp_path, ["sweep", *targets, "--timeout", "1", "--connect-timeout", "60"])
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - started < 5  # start-up + 1 s, not 60
    assert process.returncode == 1
    lines = err.decode().splitlines()
    assert sorted(line.split()[0] for line in lines) == ["timeout", "timeout"]


def _marked(mark: str) -> list[int]:
    """The processes whose environment holds ``mark`` (a sweep's, and all it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return found


def test_sigkill_leaves_no_worker_behind(tmp_path: Path, corpus: Path) -> None:
    """A sweep killed outright (no chance to stop its workers) leaves no process running:
    the fork server and every parsing worker end with it."""
    mark = f"EVENTSWEEP_TEST_MARK={os.getpid()}-{time.monotonic_ns()}"
    argv = [*COMMAND, "sweep", *_case(tmp_path, corpus), "--all", "--no-store", "-o", os.devnull]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, mark.split("=")[0]: mark.split("=")[1]},
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while len(_marked(mark)) < 3 and process.poll() is None:  # the parent, a server, a worker
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.05)
    assert process.poll() is None, "the sweep ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while _marked(mark):
        assert time.monotonic() < deadline, f"left running: {_marked(mark)}"
        time.sleep(0.1)
