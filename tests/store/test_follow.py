"""``eventsweep follow`` streaming journals: ``journalctl --follow`` over one kept SSH connection
per host (and here, for ``journal:``), run as a user runs it, in a process of its own, against a
real sshd whose journals systemd-journal-remote appends to while the follow runs.

What is checked: each appended entry printed once, in order, within seconds; one connection
(sshd's own log counts the connections it accepted); a host killed and started again loses and
repeats nothing, and so does one that goes silent (keepalives); Ctrl-C and SIGTERM end with the
outcomes, the shell's exit status, no traceback and no process left; the store holds every
event once and a later ``--new`` resumes exactly after the last one; a follow starts after the
stored bookmark, and a journal replaced since is said and read from ``--since``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsweep.store.reader import Filter, Reader, bookmarks
from tests.testbed import sshd
from tests.testbed.journals import Entry, make_journal

ROOT = Path(__file__).resolve().parents[2]
WEB = "127.0.0.2"
T0 = (int(time.time()) - 1800) * 1_000_000  # the first entries: half an hour ago
WAIT = 20.0  # seconds an appended entry may take to be printed (a loaded, shared machine)


def entries(first: int, count: int, text: str) -> list[Entry]:
    """Entries numbered ``first``…, a second apart, newer with each number."""
    return [
        Entry(T0 + n * 1_000_000, f"{text} {n}", host="web01") for n in range(first, first + count)
    ]


class Follow:
    """``eventsweep follow`` running; its stdout's events and stderr's lines read as they come."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "eventsweep.cli", "follow", *argv, "--format", "jsonl"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.events: queue.Queue[dict[str, object]] = queue.Queue()
        self.seen: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_out(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        self.err.extend(self.process.stderr)

    def expect(self, messages: list[str]) -> None:
        """Wait until these messages were printed, next, in this order (nothing else between)."""
        deadline = time.monotonic() + WAIT
        got: list[str] = []
        while len(got) < len(messages):
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"got {got}, waited for {messages}; {self.err}") from None
            got.append(str(event["message"]))
        self.seen.extend(got)
        assert got == messages

    def wait_err(self, text: str) -> None:
        deadline = time.monotonic() + WAIT
        while not any(text in line for line in self.err):
            assert time.monotonic() < deadline, f"no {text!r} on stderr: {self.err}"
            time.sleep(0.1)

    def end(self, number: int = signal.SIGINT) -> int:
        """Signal it; its exit status, once its output is read to the end."""
        self.process.send_signal(number)
        code = self.process.wait(60)
        for reader in self._readers:
            reader.join(10)
        while not self.events.empty():  # nothing may come after what was expected
            self.seen.append(str(self.events.get()["message"]))
        return code

    def kill(self) -> None:
        """Whatever happened: the process gone, its pipes closed."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[sshd.Fleet]:
    with sshd.running(tmp_path / "fleet", [WEB], log_level="INFO") as running:
        make_journal(running.journal_dir(WEB), entries(0, 3, "before"))
        yield running


@pytest.fixture
def following(fleet: sshd.Fleet) -> Iterator[list[Follow]]:
    started: list[Follow] = []
    try:
        yield started
    finally:
        for follow in started:
            follow.kill()


def options(fleet: sshd.Fleet) -> list[str]:
    return ["--known-hosts", str(fleet.known_hosts), "--ssh-config", str(fleet.ssh_config)]


def start(fleet: sshd.Fleet, following: list[Follow], *extra: str) -> Follow:
    argv = [fleet.target(WEB), "--since", "1h", "--every", "0.5", *options(fleet), *extra]
    following.append(Follow(argv))
    return following[-1]


def test_follow_streams_appended_entries_over_one_connection(
    fleet: sshd.Fleet, following: list[Follow], private_store: Path
) -> None:
    follow = start(fleet, following)
    follow.expect([f"before {n}" for n in range(3)])  # the window, oldest first
    for first in (3, 5, 7):
        make_journal(fleet.journal_dir(WEB), entries(first, 2, "appended"))
        follow.expect([f"appended {first}", f"appended {first + 1}"])
    assert sshd.accepted(fleet) == 1  # one connection across the appends
    calls = (fleet.journals / "calls.log").read_text().splitlines()
    assert len(calls) == 1 and "--follow" in calls[0] and "--since=" in calls[0]
    assert follow.end() == 130
    assert follow.seen == [f"before {n}" for n in range(3)] + [f"appended {n}" for n in range(3, 9)]
    (line,) = follow.err  # the target's last outcome (the follow's events), nothing else
    assert line.startswith(f"ok      {fleet.target(WEB)}  events=9 ") and "Traceback" not in line
    target = fleet.target(WEB)
    reader = Reader(str(private_store))
    assert reader.count(Filter(targets=(target,))) == 9
    (kept,) = reader.sweeps(limit=5)  # the follow is one sweep, its outcome replaced by rounds
    assert kept.command == "follow" and kept.ended is not None and kept.stored == {target: 9}
    assert [(o.status, o.events) for o in kept.outcomes] == [("ok", 9)]
    (mark,) = bookmarks(str(private_store), [target])[target].values()
    assert mark.record_id == 9  # the last entry's sequence number: --new resumes after it
    new = sweep_new(fleet, target)
    assert new.returncode == 0 and new.stdout == ""
    make_journal(fleet.journal_dir(WEB), entries(9, 1, "later"))
    new = sweep_new(fleet, target)
    assert [json.loads(line)["message"] for line in new.stdout.splitlines()] == ["later 9"]


def sweep_new(fleet: sshd.Fleet, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eventsweep.cli", "sweep", target, "--new", *options(fleet)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_host_killed_and_started_again_loses_and_repeats_nothing(
    fleet: sshd.Fleet, following: list[Follow]
) -> None:
    follow = start(fleet, following)
    follow.expect([f"before {n}" for n in range(3)])
    make_journal(fleet.journal_dir(WEB), entries(3, 2, "up"))
    follow.expect(["up 3", "up 4"])
    sshd.kill(fleet)  # sshd and the connection's own process: the host is gone
    follow.wait_err("retrying in 0.5s (failure 1 in a row)")
    make_journal(fleet.journal_dir(WEB), entries(5, 3, "while down"))
    follow.wait_err("failure 2 in a row")  # the retry was refused: backoff
    sshd.restart(fleet)
    follow.expect([f"while down {n}" for n in range(5, 8)])
    follow.wait_err("reconnected after")
    make_journal(fleet.journal_dir(WEB), entries(8, 2, "back"))
    follow.expect(["back 8", "back 9"])
    assert follow.end(signal.SIGTERM) == 143
    assert follow.seen == (
        [f"before {n}" for n in range(3)]
        + ["up 3", "up 4"]
        + [f"while down {n}" for n in range(5, 8)]
        + ["back 8", "back 9"]
    )
    assert sshd.accepted(fleet) == 2  # the first connection and the one after the restart
    calls = (fleet.journals / "calls.log").read_text().splitlines()
    assert len(calls) == 2 and "--cursor=s=" in calls[1]  # resumed after the last entry seen
    failures = [line for line in follow.err if line.startswith("error ")]
    assert failures and all("retrying in" in line for line in failures)
    assert follow.err[-1].startswith("ok ") and "Traceback" not in "".join(follow.err)


def test_a_local_journal_is_followed_and_sigterm_leaves_no_process(
    tmp_path: Path, following: list[Follow]
) -> None:
    directory = make_journal(tmp_path / "journal", entries(0, 2, "local"))
    following.append(Follow([f"journal:{directory}", "--since", "1h", "--no-store"]))
    follow = following[-1]
    follow.expect(["local 0", "local 1"])
    make_journal(directory, entries(2, 2, "local"))
    follow.expect(["local 2", "local 3"])
    children = descendants(follow.process.pid)
    assert children  # journalctl --follow, kept
    assert follow.end(signal.SIGTERM) == 143
    assert follow.seen == [f"local {n}" for n in range(4)]
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    (line,) = follow.err
    assert line.startswith(f"ok      journal:{directory}") and "Traceback" not in line


def descendants(pid: int) -> list[int]:
    found = []
    for child in sshd.sessions(pid):
        found += [child, *descendants(child)]
    return found


def test_a_host_gone_silent_is_noticed_by_keepalives_and_reconnected(
    fleet: sshd.Fleet, following: list[Follow]
) -> None:
    follow = start(fleet, following, "--connect-timeout", "1")  # a keepalive a second
    follow.expect([f"before {n}" for n in range(3)])
    (listener,) = fleet.processes
    frozen = descendants(listener.pid)  # the connection's processes: it stops answering
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        make_journal(fleet.journal_dir(WEB), entries(3, 2, "after the silence"))
        follow.expect(["after the silence 3", "after the silence 4"])  # over a new connection
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGKILL)
    assert sshd.accepted(fleet) == 2
    assert follow.end() == 130
    assert any("connection lost" in line and "retrying in" in line for line in follow.err)


def sweep_once(target: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eventsweep.cli", "sweep", target, "--since", "1d"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_follow_starts_after_the_stored_bookmark(tmp_path: Path, following: list[Follow]) -> None:
    directory = make_journal(tmp_path / "journal", entries(0, 3, "swept"))
    sweep_once(f"journal:{directory}")
    make_journal(directory, entries(3, 2, "since the sweep"))
    following.append(Follow([f"journal:{directory}", "--since", "1h"]))
    following[-1].expect(["since the sweep 3", "since the sweep 4"])  # not the swept ones
    assert following[-1].end() == 130
    assert following[-1].seen == ["since the sweep 3", "since the sweep 4"]


def test_a_replaced_journal_is_said_and_read_from_since(
    tmp_path: Path, following: list[Follow]
) -> None:
    directory = make_journal(tmp_path / "journal", entries(0, 3, "old"))
    sweep_once(f"journal:{directory}")
    shutil.rmtree(directory)
    make_journal(directory, entries(10, 2, "new journal"))  # a new seqnum id: the cursor is gone
    following.append(Follow([f"journal:{directory}", "--since", "1h"]))
    follow = following[-1]
    follow.expect(["new journal 10", "new journal 11"])
    follow.wait_err("journal rotated, vacuumed or replaced: the bookmarked entry")
    assert follow.end() == 130
    assert follow.seen == ["new journal 10", "new journal 11"]
