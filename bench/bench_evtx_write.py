"""Benchmarks of the .evtx writer and demo-data (issue 5).

Run: python bench/bench_evtx_write.py [--rounds N] [--size 1G] [--work DIR]

1. Records per second through EvtxWriter.write alone (events built beforehand, then written to
   a file), for three kinds of events: demo Security events (a domain controller's 4624/4769…,
   ~20 data fields and a message), the public .evtx corpus as swept by eventsweep (events from
   another source, data only), and journald-like events (a few text fields, a message).
   Wall and CPU seconds; the median of the rounds.
2. A 1 GB demo file: ``eventsweep demo-data DIR --size 1G`` through the CLI (all 12 files of
   the default demo set, the largest grown to 1 GB), wall and CPU time of the process.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from random import Random

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsweep.demo import DAY_US, events, servers
from eventsweep.demo.catalog import MIXES
from eventsweep.formats.evtx.writer import EvtxWriter
from eventsweep.model import Event
from eventsweep.query import build_query
from tests.testbed import run
from tests.testbed.corpus import real_corpus_files


def demo_events(count: int) -> list[Event]:
    host = servers(1)[0]
    mix = MIXES[host.role]["Security"]
    return list(events(Random(1), host, "Security", mix, count, 0, 7 * DAY_US))


def corpus_events(count: int) -> list[Event]:
    files = [str(path) for path in real_corpus_files()]
    found, _ = run.sweep(files, query=build_query(since=None))
    return (found * (count // len(found) + 1))[:count]


def journal_events(count: int) -> list[Event]:
    return [
        Event(
            f"2025-06-01T{number // 3600 % 24:02}:{number // 60 % 60:02}:{number % 60:02}.000000Z",
            "journal:web01",
            "web01",
            "journal",
            number,
            None,
            "info",
            "sshd",
            None,
            f"Accepted publickey for deploy from 10.0.0.{number % 250} port {number % 60000} ssh2",
            {
                "_PID": str(1000 + number % 5000),
                "_SYSTEMD_UNIT": "ssh.service",
                "PRIORITY": "6",
                "_UID": "0",
                "_COMM": "sshd",
            },
        )
        for number in range(count)
    ]


def write_rate(items: list[Event], path: Path) -> tuple[float, float, int]:
    """Seconds wall, seconds CPU, bytes written for one pass over items."""
    wall, cpu = time.perf_counter(), time.process_time()
    with EvtxWriter(path) as writer:
        for item in items:
            writer.write(item)
    return time.perf_counter() - wall, time.process_time() - cpu, path.stat().st_size


def bench_rates(rounds: int, count: int, work: Path) -> list[str]:
    kinds: dict[str, Callable[[int], list[Event]]] = {
        "demo Security (DC)": demo_events,
        "corpus, as swept": corpus_events,
        "journald-like": journal_events,
    }
    rows = [
        "| events | records | records/s (wall) | records/s (CPU) | bytes/record |",
        "|---|---|---|---|---|",
    ]
    for name, build in kinds.items():
        items = build(count)
        results = [write_rate(items, work / "rate.evtx") for _ in range(rounds)]
        wall = statistics.median(result[0] for result in results)
        cpu = statistics.median(result[1] for result in results)
        size = results[0][2]
        rates = f"{count / wall:,.0f} | {count / cpu:,.0f}"
        rows.append(f"| {name} | {count:,} | {rates} | {size / count:.0f} |")
        print(rows[-1], flush=True)
    return rows


def bench_demo(size: str, work: Path) -> list[str]:
    target = work / "demo"
    shutil.rmtree(target, ignore_errors=True)
    command = [sys.executable, "-m", "eventsweep.cli", "demo-data", str(target), "--size", size]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    files = sorted(target.rglob("*.evtx"))
    largest = max(files, key=lambda path: path.stat().st_size)
    total = sum(path.stat().st_size for path in files)
    row = (
        f"| `eventsweep demo-data DIR --size {size}` | {largest.stat().st_size / 2**20:,.0f} MiB "
        f"| {total / 2**20:,.0f} MiB in {len(files)} files | {wall:.1f} s | {cpu:.1f} s |"
    )
    print(row, flush=True)
    shutil.rmtree(target, ignore_errors=True)
    return ["| command | largest file | all files | wall | CPU |", "|---|---|---|---|---|", row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=200_000, help="records per rate round")
    parser.add_argument("--size", default="1G", help="demo-data --size (default 1G)")
    parser.add_argument("--work", help="scratch directory (default: a temporary one)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=arguments.work) as scratch:
        work = Path(scratch)
        print(
            f"# {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
        )
        bench_rates(arguments.rounds, arguments.count, work)
        bench_demo(arguments.size, work)


if __name__ == "__main__":
    main()
