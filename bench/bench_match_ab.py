"""The matcher of two revisions in one process, timed in turn (issue 14).

    python3 bench/bench_match_ab.py --base a8511c2 --jsonl /tmp/s/win.jsonl --jsonl J.jsonl
    python3 bench/bench_match_ab.py --base HEAD~3 --file Security.evtx --events 60000

The base revision's package is taken from git (``git archive``) into a temporary directory and
imported as ``eventsweep_base`` (its own imports renamed to it), beside the work tree's
``eventsweep``. Each side loads every SigmaHQ rule of the corpus and matches the events once
untimed (its keys' rules built), then the two are timed one pass after the other, ``--rounds``
times: on a machine whose speed swings, passes seconds apart in one process see the same
machine, which separate runs do not. Shown per input: the least and the median CPU µs per
event of each side, their ratio, and each side's detections (the same rules must match the
same events: a difference is printed).
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_store import first_lines  # noqa: E402
from tests.testbed.sigma import rule_sets  # noqa: E402

BASE = "eventsweep_base"


def base_package(revision: str, into: Path) -> None:
    """The revision's ``eventsweep`` package as ``eventsweep_base`` under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "eventsweep"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "eventsweep").rename(into / BASE)
    for path in (into / BASE).rglob("*.py"):
        text = path.read_text()
        text = re.sub(r"\beventsweep(?=[.\s])", BASE, text)
        path.write_text(text)


def side(package: str, inputs: list[list[bytes]]) -> tuple[Any, list[list[Any]], list[int]]:
    """A package's rule set, each input's events, and the detections of the untimed pass."""
    detect: ModuleType = importlib.import_module(f"{package}.detect")
    model: ModuleType = importlib.import_module(f"{package}.model")
    rules = detect.load_rules(rule_sets())
    events = [[model.Event(**orjson.loads(line)) for line in lines] for lines in inputs]
    found = [sum(len(rules.match(event)) for event in chunk) for chunk in events]
    return rules, events, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="a git revision")
    parser.add_argument("--file", action="append", default=[], help=".evtx (repeatable)")
    parser.add_argument("--jsonl", action="append", default=[], help="JSON Lines (repeatable)")
    parser.add_argument("--events", type=int, default=60_000, help="per input, at most")
    parser.add_argument("--rounds", type=int, default=9)
    arguments = parser.parse_args()
    names = [*arguments.file, *arguments.jsonl]
    inputs = [first_lines(path, arguments.events) for path in arguments.file]
    inputs += [
        [line for line in Path(path).read_bytes().splitlines()[: arguments.events] if line]
        for path in arguments.jsonl
    ]
    with tempfile.TemporaryDirectory() as directory:
        base_package(arguments.base, Path(directory))
        sys.path.insert(0, directory)
        sides = {"base": side(BASE, inputs), "work": side("eventsweep", inputs)}
        passes: dict[tuple[str, int], list[float]] = {}
        for _ in range(arguments.rounds):
            for label, (rules, events, _) in sides.items():
                for number, chunk in enumerate(events):
                    started = time.process_time()
                    for event in chunk:
                        rules.match(event)
                    spent = (time.process_time() - started) / len(chunk) * 1e6
                    passes.setdefault((label, number), []).append(spent)
    print(f"# base {arguments.base} against the work tree, {arguments.rounds} rounds in turn")
    for number, name in enumerate(names):
        base, work = passes[("base", number)], passes[("work", number)]
        found = [sides[label][2][number] for label in ("base", "work")]
        same = "" if found[0] == found[1] else "  DIFFERENT DETECTIONS"
        print(
            f"{name} ({len(inputs[number])} events): base {min(base):.1f} µs"
            f" (median {statistics.median(base):.1f}), work {min(work):.1f} µs"
            f" (median {statistics.median(work):.1f}), work / base {min(work) / min(base):.2f};"
            f" detections {found[0]} / {found[1]}{same}"
        )


if __name__ == "__main__":
    main()
