"""The store under stress: SIGKILL at random moments, two writers at once, reading while a
sweep writes, a full disk. Sweeps run as the command (``python3 -m eventsweep.cli``)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eventsweep.store.writer as writer_module
from eventsweep.cli import main
from eventsweep.demo import generate
from eventsweep.store.reader import Filter, Reader

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    generate(directory, seed=3, hosts=2, days=3, end="2024-05-01T12:00:00Z")
    return directory


@pytest.fixture(scope="module")
def expected(demo: Path) -> set[tuple[str, int]]:
    """Every (target, record id) of the demo files, read without the store."""
    result = command("sweep", str(demo), "--all", "--no-store", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    keys = [_key(json.loads(line)) for line in result.stdout.splitlines()]
    assert len(keys) == len(set(keys)) > 10_000
    return set(keys)


def _key(event: dict[str, object]) -> tuple[str, int]:
    return str(event["target"]), int(event["record_id"])  # type: ignore[call-overload]


def environment(store: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "EVENTSWEEP_STORE": str(store)}


def command(*argv: str, store: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = environment(store) if store else {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "eventsweep.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def started(store: Path, *argv: str, errors: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "eventsweep.cli", "sweep", *argv, "-o", os.devnull],
        env=environment(store),
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )


def stored_keys(store: Path) -> list[tuple[str, int]]:
    connection = sqlite3.connect(store)
    try:
        return [(target, record) for target, record in connection.execute(
            "SELECT target, json_extract(doc, '$.record_id') FROM events")]  # fmt: skip
    finally:
        connection.close()


def integrity(store: Path) -> str:
    connection = sqlite3.connect(store)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def test_sigkill_at_random_moments_then_new_stores_every_event_once(
    demo: Path, expected: set[tuple[str, int]], tmp_path: Path
) -> None:
    store = tmp_path / "events.db"
    chance = random.Random(12)
    for _ in range(4):
        process = started(store, str(demo), "--all", "--new", errors=subprocess.DEVNULL)
        time.sleep(chance.uniform(0.2, 2.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if store.exists():
            assert integrity(store) == "ok"
            keys = stored_keys(store)
            assert len(keys) == len(set(keys)) and set(keys) <= expected
    finished = command("sweep", str(demo), "--all", "--new", "-o", os.devnull, store=store)
    assert finished.returncode == 0, finished.stderr
    keys = stored_keys(store)
    assert len(keys) == len(expected) and set(keys) == expected
    assert integrity(store) == "ok"
    again = command("sweep", str(demo), "--all", "--new", "--format", "jsonl", store=store)
    assert again.returncode == 0 and again.stdout == ""  # every bookmark committed


def test_two_sweeps_write_one_store_at_once(
    demo: Path, expected: set[tuple[str, int]], tmp_path: Path
) -> None:
    store = tmp_path / "events.db"
    processes = [started(store, str(demo), "--all") for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    keys = stored_keys(store)
    assert len(keys) == len(expected) and set(keys) == expected
    sweeps = Reader(str(store)).sweeps()
    assert len(sweeps) == 2 and all(s.ended and s.failed == 0 for s in sweeps)
    assert sum(sum(s.stored.values()) for s in sweeps) == len(expected)


def test_query_while_a_sweep_writes_sees_only_committed_data(
    demo: Path, expected: set[tuple[str, int]], tmp_path: Path
) -> None:
    store = tmp_path / "events.db"
    process = started(store, str(demo), "--all", errors=subprocess.DEVNULL)
    counts: list[int] = []
    try:
        while process.poll() is None:
            if store.exists():
                try:
                    reader = Reader(str(store))
                except Exception:  # not created yet
                    continue
                page = reader.events(Filter(), size=20)
                assert all(stored.event.to_dict()["record_id"] for stored in page.events)
                counts.append(reader.count(Filter()))
            time.sleep(0.05)
    finally:
        process.wait()
    assert process.returncode == 0
    assert counts == sorted(counts)  # committed batches only ever add
    assert Reader(str(store)).count(Filter()) == len(expected)


def test_a_full_store_ends_the_sweep_with_a_clear_error_and_keeps_what_was_committed(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "events.db"
    real = writer_module.connect

    def small(path: str) -> sqlite3.Connection:
        connection = real(path)
        connection.execute("PRAGMA max_page_count = 1500")  # 6 MB: the disk is full
        return connection

    monkeypatch.setattr(writer_module, "connect", small)
    code = main(["sweep", str(demo), "--all", "--store", str(store), "-o", os.devnull])
    err = capsys.readouterr().err
    assert code == 1
    assert f"eventsweep: --store {store}: cannot write (database or disk is full)" in err
    assert "the sweep was stopped" in err and "Traceback" not in err
    assert integrity(store) == "ok"
    kept = stored_keys(store)
    assert kept and len(kept) == len(set(kept))


def test_events_of_every_source_shape_survive_hostile_text(tmp_path: Path) -> None:
    """Through the command: an .evtx file whose event text is SQL, quotes and NULs."""
    from eventsweep.model import Event
    from eventsweep.sinks.evtx import EvtxWriter

    hostile = ["'; DROP TABLE events; --", '") OR 1=1 --', "a\x00b", "%s %d ?1 :x", "\\'"]
    path = tmp_path / "hostile.evtx"
    with EvtxWriter(path) as out:
        for n, text in enumerate(hostile):
            out.write(Event(f"2024-01-01T00:00:0{n}.000000Z", "", "PC", "App", n + 1, 1, "error",
                            text, 0, text, {text or "x": text}))  # fmt: skip
    store = tmp_path / "events.db"
    swept = command("sweep", str(path), "--all", "--format", "jsonl", store=store)
    assert swept.returncode == 0, swept.stderr
    queried = command("query", "--format", "jsonl", store=store)
    assert queried.returncode == 0
    assert queried.stdout == swept.stdout  # the same JSON lines, byte for byte
    tables = sqlite3.connect(store).execute("SELECT count(*) FROM sweeps").fetchone()[0]
    assert tables == 1
