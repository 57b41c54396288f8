"""The store's commands as the README shows them (its "Store" section), each run as a user
types it, in a process of its own, against demo .evtx files and a journal made here."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventsweep.batch import Batch
from eventsweep.demo import generate
from eventsweep.model import Event, Query, iso_from_epoch
from eventsweep.sinks import SweepInfo
from eventsweep.store.reader import Filter, Reader
from eventsweep.store.writer import StoreWriter
from tests.testbed.journals import Entry, make_journal

ROOT = Path(__file__).resolve().parents[2]
NOW = int(time.time())

SWEEP = "eventsweep sweep -i fleet.txt --since 24h"
NEW = "eventsweep sweep -i fleet.txt --new"
FOLLOW = "eventsweep follow -i fleet.txt"
QUERY_ERRORS = "eventsweep query --since 7d --level error --grep 'disk' --format jsonl"
QUERY_TARGET = "eventsweep query --target 'ssh://web*' --event-id 4625 --group time"
SWEEPS = "eventsweep sweeps"
PRUNE = "eventsweep prune --before 90d"


def run(cwd: Path, text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    words = shlex.split(text)
    assert words[0] == "eventsweep"
    return subprocess.run(
        [sys.executable, "-m", "eventsweep.cli", *words[1:], *extra],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def entry(seconds_ago: int, text: str, priority: int = 6) -> Entry:
    return Entry((NOW - seconds_ago) * 1_000_000, text, priority=priority, host="web01")


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """fleet.txt: a day of demo .evtx files and a journal directory."""
    generate(tmp_path / "demo", hosts=2, days=1)
    make_journal(tmp_path / "journal", [entry(3600 - n, f"boot {n}") for n in range(5)])
    (tmp_path / "fleet.txt").write_text(
        f"# test fleet\n{tmp_path / 'demo'}\njournal:{tmp_path / 'journal'}\n"
    )
    return tmp_path


def jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_sweep_keeps_and_new_reads_only_what_arrived(fleet: Path, private_store: Path) -> None:
    first = run(fleet, SWEEP, "--format", "jsonl")
    assert first.returncode == 0, first.stderr
    printed = jsonl(first.stdout)
    reader = Reader(str(private_store))
    assert reader.count(Filter()) == len(printed) > 100
    assert run(fleet, SWEEP).stdout and reader.count(Filter()) == len(printed)  # once
    make_journal(fleet / "journal", [entry(10, "disk failing", 3), entry(5, "recovered")])
    new = run(fleet, NEW, "--format", "jsonl")
    assert new.returncode == 0
    assert [e["message"] for e in jsonl(new.stdout)] == ["recovered", "disk failing"]
    assert reader.count(Filter()) == len(printed) + 2


def test_no_store_and_store_path(fleet: Path, tmp_path: Path, private_store: Path) -> None:
    assert run(fleet, SWEEP, "--no-store").returncode == 0
    assert not private_store.exists()
    elsewhere = tmp_path / "cases" / "acme.db"
    assert run(fleet, SWEEP, "--store", str(elsewhere)).returncode == 0
    assert Reader(str(elsewhere)).count(Filter()) > 100
    refused = run(fleet, NEW, "--no-store")
    assert refused.returncode == 2 and "--new: needs the store" in refused.stderr


def test_query_by_level_and_text(fleet: Path) -> None:
    make_journal(fleet / "journal", [entry(60, "Disk full on /var", 3), entry(50, "disk ok", 6)])
    assert run(fleet, SWEEP).returncode == 0
    result = run(fleet, QUERY_ERRORS)
    assert result.returncode == 0, result.stderr
    events = jsonl(result.stdout)
    assert [e["message"] for e in events if e["target"] == f"journal:{fleet / 'journal'}"] == [
        "Disk full on /var"
    ]
    assert all(e["level"] == "error" for e in events)
    times = [str(e["time"]) for e in events]
    assert times == sorted(times, reverse=True)


def test_query_by_target_pattern_and_event_id(fleet: Path, private_store: Path) -> None:
    writer = StoreWriter(str(private_store))
    targets = ("ssh://web01", "ssh://db01", "win://web02")
    writer.open(SweepInfo("s", targets, Query()))
    writer.write(Batch([
        Event(iso_from_epoch(NOW - n), target, "H", "Security", n, 4625 if n % 2 else 4624,
              "audit_failure", "Security", None, f"logon {n}", {})
        for n in range(10) for target in targets
    ]))  # fmt: skip
    writer.close()
    result = run(fleet, QUERY_TARGET, "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert len(rows) == 1 + 5 and all('"ssh://web01"' in row for row in rows[1:])
    as_evtx = run(fleet, QUERY_TARGET, "--format", "evtx", "-o", "web.evtx")
    assert as_evtx.returncode == 0
    back = run(fleet, "eventsweep sweep web.evtx --all --no-store --format jsonl")
    assert len(jsonl(back.stdout)) == 5


def test_sweeps_lists_what_was_kept(fleet: Path) -> None:
    run(fleet, SWEEP)
    run(fleet, NEW, "--source", "nothing")
    result = run(fleet, SWEEPS)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert (
        lines[0].startswith("#2 ") and "sweep --new" in lines[0] and "--source nothing" in lines[0]
    )
    assert lines[1].startswith("#1 ") and "targets=7 ok=7 failed=0" in lines[1]
    one = run(fleet, SWEEPS, "--sweep", "1")
    assert one.stdout.count("  ok      ") == 7 and "stored=" in one.stdout
    as_json = jsonl(run(fleet, SWEEPS, "--format", "jsonl").stdout)
    assert [s["sweep"] for s in as_json] == [2, 1] and len(as_json[1]["outcomes"]) == 7  # type: ignore[arg-type]


def test_prune_keeps_the_last_90_days(fleet: Path, private_store: Path) -> None:
    old = Entry((NOW - 200 * 86400) * 1_000_000, "long ago")
    make_journal(fleet / "journal", [old])
    assert run(fleet, "eventsweep sweep -i fleet.txt --all").returncode == 0
    reader = Reader(str(private_store))
    before = reader.count(Filter())
    result = run(fleet, PRUNE)
    assert result.returncode == 0 and result.stderr.startswith("pruned 1 event(s) and 0 sweep(s)")
    assert reader.count(Filter()) == before - 1 and reader.count(Filter(text="long ago")) == 0


def test_follow_prints_new_events_newest_last_and_ends_with_the_outcomes(fleet: Path) -> None:
    words = shlex.split(FOLLOW)
    process = subprocess.Popen(
        [sys.executable, "-m", "eventsweep.cli", *words[1:], "--every", "0.5", "--format", "jsonl"],
        cwd=fleet,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        make_journal(fleet / "journal", [entry(2, "first new"), entry(1, "second new")])
        time.sleep(3)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    messages = [e["message"] for e in jsonl(out)]
    assert messages[-2:] == ["first new", "second new"]  # newest last
    assert "boot 4" not in messages  # an hour old: the first round reads the last 10m
    assert len([m for m in messages if m == "first new"]) == 1
    ended = [line.split()[0] for line in err.splitlines()]
    assert len(ended) == 7 and set(ended) <= {"ok", "interrupted"}  # Ctrl-C may cut a round
    assert "Traceback" not in err
