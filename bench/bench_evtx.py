"""Benchmarks of the .evtx source (issue 2). Run: python bench/bench_evtx.py [--rounds N]

1. Full sweep of the synthetic file to JSON Lines through the CLI: events per CPU-second
   (parent and worker processes together), next to the raw `evtx` JSON iteration and
   records_json + json.loads, interleaved round by round.
2. "Last 1 hour" of the synthetic file through the library (warm worker pool) against a full
   parse filtered naively, interleaved: the ratio is the figure.
3. Memory: the whole corpus swept 20 times over into JSON Lines; peak RSS of the process tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import psutil
from evtx import PyEvtxParser

from eventsweep import concurrency
from eventsweep.query import build_query
from eventsweep.sources import Settings, plan
from eventsweep.sweep import collect

CORPUS = Path(
    os.environ.get("EVENTSWEEP_CORPUS", Path(__file__).resolve().parents[2] / "shared/corpus/evtx")
)
SYNTHETIC = CORPUS / "synthetic/synthetic_big_security.evtx"
HOUR = ("2024-01-17T20:20:00Z", "2024-01-17T21:20:00Z")


def cpu_of(function: Callable[[], int]) -> tuple[int, float, float]:
    """(events, wall seconds, CPU seconds of this process and its finished children)."""
    before, wall = os.times(), time.perf_counter()
    count = function()
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])
    return count, time.perf_counter() - wall, cpu


def cli_full_sweep() -> int:
    command = [
        sys.executable,
        "-m",
        "eventsweep.cli",
        "sweep",
        str(SYNTHETIC),
        "--all",
        "--format",
        "jsonl",
    ]
    result = subprocess.run(command, capture_output=True, check=False)
    return result.stdout.count(b"\n")


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def steady_state(copies: int) -> tuple[int, float, float]:
    """The synthetic file ``copies`` times through the library into JSON Lines with a warm
    worker pool: (events, wall, CPU of this process and of the pool's workers)."""
    from eventsweep.sinks import SinkOptions, open_sink
    from eventsweep.sweep import Sweep

    async def go() -> int:
        sink = open_sink("jsonl", _Null(), SinkOptions())  # type: ignore[arg-type]
        sweep = Sweep(plan([str(SYNTHETIC)] * copies, Settings()), build_query(since=None))
        count = 0
        async for event in sweep.events():
            sink.write(event)
            count += 1
        return count

    asyncio.run(go())  # start and warm the pool
    workers = [psutil.Process(p) for p in concurrency.process_pool()._processes]  # type: ignore[attr-defined]
    me = psutil.Process()

    def cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in [me, *workers])

    before, wall = cpu(), time.perf_counter()
    count = asyncio.run(go())
    return count, time.perf_counter() - wall, cpu() - before


def raw_json() -> int:
    return sum(1 for _ in PyEvtxParser(str(SYNTHETIC)).records_json())


def json_loads() -> int:
    return sum(1 for r in PyEvtxParser(str(SYNTHETIC)).records_json() if json.loads(r["data"]))


def full_parse_window() -> int:
    since, until = (t.replace("Z", "") for t in HOUR)
    count = 0
    for record in PyEvtxParser(str(SYNTHETIC)).records_json():
        created = orjson.loads(record["data"])["Event"]["System"]["TimeCreated"]["#attributes"][
            "SystemTime"
        ]
        count += since <= created[:19] <= until
    return count


def eventsweep_window() -> int:
    query = build_query(since=HOUR[0], until=HOUR[1])
    events, _ = asyncio.run(collect(plan([str(SYNTHETIC)], Settings()), query))
    return len(events)


def peak_rss(command: list[str]) -> tuple[float, int]:
    """Peak RSS (MiB) of a command and all its children, sampled every 20 ms; and its lines."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = [0]

    def drain() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            lines[0] += 1

    reader = threading.Thread(target=drain)
    reader.start()
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.02)
    reader.join()
    return peak / 2**20, lines[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {SYNTHETIC.name}")
    throughput: dict[str, list[float]] = {"evtx raw JSON": [], "evtx + json.loads": []}
    cold: list[float] = []
    for _ in range(rounds):
        count, wall, _ = cpu_of(cli_full_sweep)  # the CLI's workers' CPU is not visible here
        cold.append(count / wall)
        for name, function in (("evtx raw JSON", raw_json), ("evtx + json.loads", json_loads)):
            count, wall, _ = cpu_of(function)  # one busy thread: wall ≈ CPU, and finer-grained
            throughput[name].append(count / wall)
    print("\n## full sweep of the file (median of rounds)")
    print(f"| eventsweep CLI, cold, to JSON Lines | {statistics.median(cold):,.0f} events/s wall |")
    for name, values in throughput.items():
        print(f"| {name} (one thread) | {statistics.median(values):,.0f} per CPU-s |")
    steady = [steady_state(6) for _ in range(rounds)]
    best = statistics.median(count / cpu for count, _, cpu in steady)
    walls = statistics.median(count / wall for count, wall, _ in steady)
    print(f"| eventsweep library, warm pool, file x6 | {best:,.0f} per CPU-s ({walls:,.0f}/s) |")
    eventsweep_window()  # warm the worker pool once
    window: dict[str, list[float]] = {"full parse + filter": [], "eventsweep window": []}
    for _ in range(rounds):
        for name, function in (
            ("full parse + filter", full_parse_window),
            ("eventsweep window", eventsweep_window),
        ):
            count, wall, _ = cpu_of(function)
            window[name].append(wall)
    concurrency.shutdown()
    full, ours = (statistics.median(v) for v in window.values())
    print(
        f"\n## last hour ({count} events): full parse {full * 1000:.1f} ms,"
        f" eventsweep {ours * 1000:.1f} ms, ratio {full / ours:.1f}x"
    )
    targets = [str(CORPUS)] * 20
    mib, lines = peak_rss(
        [sys.executable, "-m", "eventsweep.cli", "sweep", *targets, "--all", "--format", "jsonl"]
    )
    print(
        f"\n## memory: corpus x 20 = {lines:,} events to JSON Lines,"
        f" peak RSS of the process tree {mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
