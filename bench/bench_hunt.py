"""Benchmark of the Sigma matcher (issue 14). Run: python bench/bench_hunt.py [--rounds N]

Every SigmaHQ rule of the shared corpus (rules, rules-emerging-threats, rules-threat-hunting:
the Windows ones are those that can match these events) is loaded from the compiled-rule cache
(the default one, or ``$EVENTSWEEP_CACHE``; the first run fills it). Then, in rounds, over the
synthetic Security file (33,915 events) and, with ``--demo BYTES``, a demo Security log grown
to about that size:

1. sweep alone: the file streamed through ``Sweep.batches`` (the engine a hunt runs), events
   counted;
2. sweep + match: the same stream, every event matched against the rule set as it arrives
   (detections counted, not kept: memory stays flat);
3. match alone: the events of one sweep, held in a list, matched (their fields are decoded
   from the worker's JSON on first access, which a hunt pays too): events per second (files
   under 100 MB only: a list of a 1 GB file's events would not fit in memory).

The two sweeps run one after the other in each round (a noisy machine hits both alike); the
ratio is per round. Peak RSS is the whole process tree's (bench/_measure.py), sampled over
each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from bench._measure import PeakRss
from eventsweep.demo import generate
from eventsweep.detect import RuleSet, load_rules
from eventsweep.model import Event, Query
from eventsweep.sources import Settings, plan
from eventsweep.sweep import Sweep
from tests.testbed import corpus
from tests.testbed.run import sweep
from tests.testbed.sigma import evtx_corpus, rule_sets

SYNTHETIC = evtx_corpus() / corpus.SYNTHETIC
HELD = 100_000_000  # bytes of .evtx whose events phase 3 may hold in a list


async def _stream(path: Path, rules: RuleSet | None) -> tuple[int, int]:
    run = Sweep(plan([str(path)], Settings()), Query())
    run.start()
    events = detections = 0
    async for batch in run.batches():
        events += len(batch)
        if rules is not None:
            match = rules.match
            detections += sum(len(match(event)) for event in batch)
    return events, detections


def timed_stream(path: Path, rules: RuleSet | None) -> tuple[float, int, int, int]:
    """Seconds, events, detections and peak RSS of one streamed sweep (matched or not)."""
    with PeakRss(os.getpid()) as rss:
        started = time.perf_counter()
        events, detections = asyncio.run(_stream(path, rules))
        seconds = time.perf_counter() - started
    return seconds, events, detections, rss.peak


def match_only(events: list[Event], rules: RuleSet) -> float:
    started = time.perf_counter()
    for event in events:
        rules.match(event)
    return time.perf_counter() - started


def windows_rules(rules: RuleSet) -> int:
    return sum(any(not variant.linux for variant in rule.variants) for rule in rules.rules)


def bench_file(path: Path, rules: RuleSet, rounds: int) -> None:
    print(f"\n## {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    rules.match(sweep([str(path)])[0][0])  # a first event: nothing measured is a cold start
    ratios, alone, both = [], [], []
    for number in range(rounds):
        plain = timed_stream(path, None)
        hunted = timed_stream(path, rules)
        ratios.append(hunted[0] / plain[0])
        alone.append(plain)
        both.append(hunted)
        print(
            f"round {number + 1}: sweep {plain[0]:.2f} s ({plain[1]} events, "
            f"{plain[3] / 1e6:.0f} MB peak), sweep+match {hunted[0]:.2f} s "
            f"({hunted[2]} detections, {hunted[3] / 1e6:.0f} MB peak), ratio {ratios[-1]:.2f}"
        )
    if path.stat().st_size < HELD:
        rates = []
        for _ in range(rounds):
            fresh, _ = sweep([str(path)])  # undecoded events each round, as a hunt gets them
            rates.append(len(fresh) / match_only(fresh, rules))
        print(
            f"match alone: median {statistics.median(rates):,.0f} events/s "
            f"(rounds: {', '.join(f'{rate:,.0f}' for rate in rates)}; {len(fresh)} events)"
        )
    print(
        f"sweep alone median {statistics.median(p[0] for p in alone):.2f} s, sweep+match "
        f"median {statistics.median(h[0] for h in both):.2f} s, ratio median "
        f"{statistics.median(ratios):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--demo", type=int, default=0, help="also a demo Security log of BYTES")
    options = parser.parse_args()
    print(f"# bench_hunt: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{psutil.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")  # fmt: skip
    started = time.perf_counter()
    load_rules(rule_sets())  # fills the cache on a first run
    first = time.perf_counter() - started
    started = time.perf_counter()
    rules = load_rules(rule_sets())
    warm = time.perf_counter() - started
    print(
        f"rules: {len(rules.rules)} loaded ({windows_rules(rules)} Windows), "
        f"{len(rules.problems)} reported; first load {first:.2f} s, warm load {warm:.2f} s; "
        f"RSS {psutil.Process().memory_info().rss / 1e6:.0f} MB"
    )
    bench_file(SYNTHETIC, rules, options.rounds)
    if options.demo:
        with tempfile.TemporaryDirectory() as directory:
            files = generate(directory, hosts=1, size=options.demo, end="2024-01-20T00:00:00Z")
            biggest = max(files, key=lambda path: path.stat().st_size)
            bench_file(biggest, rules, options.rounds)


if __name__ == "__main__":
    main()
