"""Benchmark of the Sigma matcher (issue 14). Run: python bench/bench_hunt.py [--rounds N]
[--demo BYTES] [--file PATH]...

Every SigmaHQ rule of the shared corpus (rules, rules-emerging-threats, rules-threat-hunting:
the Windows ones are those that can match these events) is loaded from the compiled-rule cache
(the default one, or ``$EVENTSWEEP_CACHE``; the first run fills it). Then, in rounds, over the
synthetic Security file (33,915 events) and, with ``--demo BYTES``, a demo Security log grown
to about that size:

1. sweep alone: the file streamed through ``Sweep.batches`` (the engine a hunt runs), events
   counted;
2. sweep + match in the parent: the same stream, every event matched against the rule set as
   it arrives (detections counted, not kept: memory stays flat), as hunts did before;
3. sweep matched in the workers: the .evtx source given the rule set (``EvtxOptions(rules=)``),
   matching in the processes that parse, only the detections coming back;
4. whole commands, as a user runs them: ``eventsweep sweep FILE --all --no-store --format
   jsonl -o /dev/null`` against ``eventsweep hunt FILE --rules …(the three rule sets) --all
   --no-store --format jsonl -o /dev/null`` (interpreter start, imports and the cached rule
   load included), one after the other in each round;
5. match alone: the events of one sweep, held in a list, matched (their fields are decoded
   from the worker's JSON on first access, which a hunt pays too): events per second (files
   under 100 MB only: a list of a 1 GB file's events would not fit in memory).

The phases run one after the other in each round (a noisy machine hits them alike); the
ratios are per round, against the sweep alone of the same round. Peak RSS is the whole process
tree's (bench/_measure.py), sampled over each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from bench._measure import PeakRss
from eventsweep import concurrency
from eventsweep.demo import generate
from eventsweep.detect import RuleSet, load_rules
from eventsweep.detect.workers import RuleRef, shared
from eventsweep.model import Event, Query
from eventsweep.sources import Settings, plan
from eventsweep.sources.evtx import EvtxOptions
from eventsweep.sweep import Sweep
from tests.testbed import corpus
from tests.testbed.run import sweep
from tests.testbed.sigma import evtx_corpus, rule_sets

SYNTHETIC = evtx_corpus() / corpus.SYNTHETIC
HELD = 100_000_000  # bytes of .evtx whose events phase 5 may hold in a list


ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "eventsweep.cli"]
TIMEOUT = 3600  # seconds a phase may take (the engine's default, 60, is below a 1 GB hunt)


async def _stream(path: Path, rules: RuleSet | None, ref: RuleRef | None) -> tuple[int, int]:
    settings = Settings.of(evtx=EvtxOptions(rules=ref, every=False))
    run = Sweep(plan([str(path)], settings), Query(), timeout=TIMEOUT)
    run.start()
    events = detections = 0
    async for batch in run.batches():
        events += len(batch)
        if ref is not None:
            detections += sum(len(getattr(event, "detections", ())) for event in batch)
        elif rules is not None:
            match = rules.match
            detections += sum(len(match(event)) for event in batch)
    events = sum(outcome.events for outcome in run.finished())  # those matched away too
    return events, detections


def timed_stream(
    path: Path, rules: RuleSet | None, ref: RuleRef | None = None
) -> tuple[float, int, int, int]:
    """Seconds, events, detections and peak RSS of one streamed sweep (matched in the parent
    with ``rules``, in the workers with ``ref``, or not at all)."""
    with PeakRss(os.getpid()) as rss:
        started = time.perf_counter()
        events, detections = asyncio.run(_stream(path, rules, ref))
        seconds = time.perf_counter() - started
    concurrency.shutdown()  # each phase starts its workers afresh, as a command does
    return seconds, events, detections, rss.peak


def timed_command(argv: list[str]) -> float:
    """Wall seconds of one whole command (its output to /dev/null), which must succeed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr[-2000:].decode(errors="replace")
        raise SystemExit(f"{' '.join(argv)}: exit status {done.returncode}\n{tail}")
    return seconds


def commands(path: Path) -> tuple[list[str], list[str]]:
    """The sweep and the hunt of one file, as a user types them."""
    common = [str(path), "--all", "--no-store", "--format", "jsonl", "-o", os.devnull]
    common += ["--timeout", str(TIMEOUT)]
    rules = [word for folder in rule_sets() for word in ("--rules", folder)]
    return [*COMMAND, "sweep", *common], [*COMMAND, "hunt", *common, *rules]


def match_only(events: list[Event], rules: RuleSet) -> float:
    started = time.perf_counter()
    for event in events:
        rules.match(event)
    return time.perf_counter() - started


def windows_rules(rules: RuleSet) -> int:
    return sum(any(not variant.linux for variant in rule.variants) for rule in rules.rules)


def bench_file(path: Path, rules: RuleSet, rounds: int) -> None:
    print(f"\n## {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    rules.match(sweep([str(path)], query=Query(limit=1))[0][0])  # no cold start measured
    ratios, alone, both, workers, by_command = [], [], [], [], []
    swept, hunt = commands(path)
    with shared(rules) as ref:
        for number in range(rounds):
            plain = timed_stream(path, None)
            hunted = timed_stream(path, rules)
            inside = timed_stream(path, None, ref)
            ratios.append((hunted[0] / plain[0], inside[0] / plain[0]))
            alone.append(plain)
            both.append(hunted)
            workers.append(inside)
            whole = (timed_command(swept), timed_command(hunt))
            by_command.append(whole)
            print(
                f"round {number + 1}: sweep {plain[0]:.2f} s ({plain[1]} events, "
                f"{plain[3] / 1e6:.0f} MB peak); match in the parent {hunted[0]:.2f} s "
                f"({hunted[2]} detections, {hunted[3] / 1e6:.0f} MB peak), ratio "
                f"{ratios[-1][0]:.2f}; in the workers {inside[0]:.2f} s ({inside[1]} events, "
                f"{inside[2]} detections, {inside[3] / 1e6:.0f} MB peak), ratio "
                f"{ratios[-1][1]:.2f}; commands: sweep {whole[0]:.2f} s, hunt {whole[1]:.2f} s,"
                f" ratio {whole[1] / whole[0]:.2f}"
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
        f"sweep alone median {statistics.median(p[0] for p in alone):.2f} s; matched in the"
        f" parent median {statistics.median(h[0] for h in both):.2f} s, ratio median"
        f" {statistics.median(r[0] for r in ratios):.2f}; in the workers median"
        f" {statistics.median(w[0] for w in workers):.2f} s, ratio median"
        f" {statistics.median(r[1] for r in ratios):.2f}"
    )
    print(
        f"commands: sweep median {statistics.median(c[0] for c in by_command):.2f} s, hunt"
        f" median {statistics.median(c[1] for c in by_command):.2f} s, ratio median"
        f" {statistics.median(c[1] / c[0] for c in by_command):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--demo", type=int, default=0, help="also a demo Security log of BYTES")
    parser.add_argument(
        "--file", action="append", default=[], help="also this .evtx file (repeatable)"
    )
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic file")
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
    if not options.no_synthetic:
        bench_file(SYNTHETIC, rules, options.rounds)
    for name in options.file:
        bench_file(Path(name), rules, options.rounds)
    if options.demo:
        with tempfile.TemporaryDirectory() as directory:
            files = generate(directory, hosts=1, size=options.demo, end="2024-01-20T00:00:00Z")
            biggest = max(files, key=lambda path: path.stat().st_size)
            bench_file(biggest, rules, options.rounds)


if __name__ == "__main__":
    main()
