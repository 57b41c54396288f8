"""Benchmarks of the .evtx source (issue 2). Run: python bench/bench_evtx.py [--rounds N]

Every measure runs in rounds; in each round the contenders run one after the other, so a
noisy machine hits them alike, and ratios are taken per round.

1. Full sweep of the synthetic file to JSON Lines.
   - eventsweep as a library with a warm worker pool, the file as one target: events per
     CPU-second, CPU of this process and of the pool's workers together (psutil).
   - the eventsweep command, cold (interpreter start, imports, fork server, workers): events
     per second of wall time and per CPU-second of the whole process tree, read from a cgroup
     v2 made for the run (root only; "n/a" elsewhere).
   - peers, one thread each: the `evtx` package's raw JSON iteration; the same with
     json.loads; the same with orjson.loads.
2. "Last 1 hour" of the synthetic file: eventsweep (library: plan, read, parse, in an event
   loop that lives across calls, as in a long-lived program; asyncio.run would add ~0.3-0.5 ms
   of loop set-up per call) against a full parse filtered naively (records_json + orjson + a
   TimeCreated test).
3. Memory: 20 copies of the whole corpus (under /tmp) swept into JSON Lines; peak RSS of the
   process tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import psutil
from evtx import PyEvtxParser

from bench._measure import PeakRss
from eventsweep import concurrency
from eventsweep.query import build_query
from eventsweep.sinks import SinkOptions, open_output
from eventsweep.sources import Settings, plan
from eventsweep.sweep import Sweep, collect
from tests.testbed import corpus

CORPUS = corpus.CORPUS
SYNTHETIC = CORPUS / corpus.SYNTHETIC
HOUR = ("2024-01-17T20:20:00Z", "2024-01-17T21:20:00Z")
CLI = [sys.executable, "-m", "eventsweep.cli", "sweep"]


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _cgroup_root() -> Path | None:
    """A writable cgroup v2 hierarchy, or None."""
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if fields[2] == "cgroup2" and os.access(fields[1], os.W_OK):
                return Path(fields[1])
    return None


def cli_cold() -> tuple[int, float, float | None]:
    """The command on the synthetic file: (events, wall seconds, CPU seconds of its tree)."""
    command = [*CLI, str(SYNTHETIC), "--all", "--format", "jsonl"]
    root = _cgroup_root()
    group = root / f"eventsweep-bench-{os.getpid()}" if root else None
    if group:
        group.mkdir()
    procs = str(group / "cgroup.procs") if group else None

    def enter() -> None:
        if procs:
            with open(procs, "w") as file:
                file.write(str(os.getpid()))

    wall = time.perf_counter()
    result = subprocess.run(command, capture_output=True, check=True, preexec_fn=enter)
    wall = time.perf_counter() - wall
    cpu = None
    if group:
        while (group / "cgroup.procs").read_text().strip():
            time.sleep(0.01)  # the fork server and workers leave just after the command
        usage = (group / "cpu.stat").read_text().split()
        cpu = int(usage[usage.index("usage_usec") + 1]) / 1e6
        group.rmdir()
    return result.stdout.count(b"\n"), wall, cpu


def library_warm() -> tuple[int, float, float]:
    """The file as one target through the library into JSON Lines, the worker pool already
    running: (events, wall, CPU of this process and of the pool's workers)."""

    async def go() -> int:
        sink = open_output("jsonl", _Null(), SinkOptions())  # type: ignore[arg-type]
        sweep = Sweep(plan([str(SYNTHETIC)], Settings()), build_query(since=None))
        count = 0
        async for batch in sweep.batches():
            sink.write(batch)
            count += len(batch)
        return count

    asyncio.run(go())  # start (or keep) the pool
    workers = [psutil.Process(p) for p in concurrency.process_pool()._processes]  # type: ignore[attr-defined]
    me = psutil.Process()

    def cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in [me, *workers])

    before, wall = cpu(), time.perf_counter()
    count = asyncio.run(go())
    return count, time.perf_counter() - wall, cpu() - before


def one_thread(function: Callable[[], int]) -> tuple[int, float, float]:
    """(count, wall, CPU) of a single-threaded peer (CPU by thread_time: fine-grained)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    count = function()
    return count, time.perf_counter() - wall, time.thread_time() - cpu


def raw_json() -> int:
    return sum(1 for _ in PyEvtxParser(str(SYNTHETIC), number_of_threads=1).records_json())


def with_json_loads() -> int:
    records = PyEvtxParser(str(SYNTHETIC), number_of_threads=1).records_json()
    return sum(1 for record in records if json.loads(record["data"]))


def with_orjson_loads() -> int:
    records = PyEvtxParser(str(SYNTHETIC), number_of_threads=1).records_json()
    return sum(1 for record in records if orjson.loads(record["data"]))


def full_parse_window() -> int:
    since, until = (t.replace("Z", "") for t in HOUR)
    count = 0
    for record in PyEvtxParser(str(SYNTHETIC), number_of_threads=1).records_json():
        created = orjson.loads(record["data"])["Event"]["System"]["TimeCreated"]["#attributes"][
            "SystemTime"
        ]
        count += since <= created[:19] <= until
    return count


_LOOP = asyncio.new_event_loop()  # one loop for every call, as in a long-lived program


def eventsweep_window() -> int:
    query = build_query(since=HOUR[0], until=HOUR[1])
    events, _ = _LOOP.run_until_complete(collect(plan([str(SYNTHETIC)], Settings()), query))
    return len(events)


def peak_rss(command: list[str]) -> tuple[float, int]:
    """Peak RSS (MiB) of a command and all its children, sampled every 20 ms; and its lines."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    with process.stdout, PeakRss(process.pid) as rss:
        lines = sum(1 for _ in process.stdout)
        process.wait()
    return rss.peak / 2**20, lines


def _copies(count: int) -> list[str]:
    """``count`` copies of the corpus under /tmp: a sweep reads each real file once, so the
    corpus named 20 times would be read once."""
    root = Path("/tmp/eventsweep-bench-corpus")
    copies = [root / str(number) for number in range(count)]
    for copy in copies:
        if not copy.exists():
            shutil.copytree(CORPUS, copy)
    return [str(copy) for copy in copies]


def _row(name: str, values: list[float], unit: str) -> str:
    listed = ", ".join(f"{value:,.0f}" for value in values)
    return f"| {name} | {statistics.median(values):,.0f} {unit} | {listed} |"


def full_sweep(rounds: int) -> None:
    rates: dict[str, list[float]] = {
        "eventsweep library, warm pool (events per CPU-s, parent + workers)": [],
        "eventsweep library, warm pool (events per s, wall)": [],
        "eventsweep command, cold (events per s, wall)": [],
        "eventsweep command, cold (events per CPU-s, whole tree)": [],
        "evtx raw JSON, one thread (per CPU-s)": [],
        "evtx + json.loads, one thread (per CPU-s)": [],
        "evtx + orjson.loads, one thread (per CPU-s)": [],
    }
    names = list(rates)
    for _ in range(rounds):
        count, wall, cpu = library_warm()
        rates[names[0]].append(count / cpu)
        rates[names[1]].append(count / wall)
        count, wall, tree_cpu = cli_cold()
        rates[names[2]].append(count / wall)
        if tree_cpu:
            rates[names[3]].append(count / tree_cpu)
        peers = (raw_json, with_json_loads, with_orjson_loads)
        for name, peer in zip(names[4:], peers, strict=True):
            count, _, cpu = one_thread(peer)
            rates[name].append(count / cpu)
    print(f"\n## full sweep of the file, {count:,} events (median, then every round)")
    print("| measure | median | rounds |\n|---|---:|---|")
    for name, values in rates.items():
        print(_row(name, values, "") if values else f"| {name} | n/a | no writable cgroup v2 |")


def window(rounds: int) -> None:
    eventsweep_window()  # warm the thread pool once
    full: list[float] = []
    ours: list[float] = []
    for _ in range(rounds):
        for times, function in ((full, full_parse_window), (ours, eventsweep_window)):
            started = time.perf_counter()
            found = function()
            times.append(time.perf_counter() - started)
    ratios = [a / b for a, b in zip(full, ours, strict=True)]
    print(f"\n## last hour ({found} events)")
    print("| measure | median | rounds |\n|---|---:|---|")
    print(_row("full parse + filter (ms)", [t * 1000 for t in full], "ms"))
    print(_row("eventsweep window (µs)", [t * 1e6 for t in ours], "µs"))
    print(f"| ratio | {statistics.median(ratios):.1f}x | {', '.join(f'{r:.1f}' for r in ratios)} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {SYNTHETIC.name}")
    full_sweep(rounds)
    window(rounds * 3)
    concurrency.shutdown()
    mib, lines = peak_rss([*CLI, *_copies(20), "--all", "--format", "jsonl"])
    print(
        f"\n## memory: corpus x 20 = {lines:,} events to JSON Lines,"
        f" peak RSS of the process tree {mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
