"""The matcher alone, per event id: every SigmaHQ rule of the corpus against the first events of
a file (issue 14).

    python3 bench/bench_match.py --file /tmp/big/DC01/Security.evtx --events 60000
    python3 bench/bench_match.py --jsonl EVENTS.jsonl     # any sweep's JSON Lines (a journal's)
    python3 bench/bench_match.py --jsonl EVENTS.jsonl --rounds 7   # the least of 7 timed passes

The events are read once (a sweep to JSON Lines, then ``Event``s), matched once untimed (each
(log, provider, event id) key's rules are built the first time: a hunt's warm-up), then timed
(``--rounds`` passes: the least and the median; the machine only ever slows a pass down):
CPU µs per event, all together and for the busiest event ids (or sources, for a journal), with
how many rules each key admits and whether it is prefiltered. The detections are counted, so
two revisions can be compared (run each from its tree with PYTHONPATH).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_store import first_lines  # noqa: E402
from eventsweep.detect import load_rules  # noqa: E402
from eventsweep.model import Event  # noqa: E402
from tests.testbed.sigma import rule_sets  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="/tmp/big/DC01/Security.evtx")
    parser.add_argument("--jsonl", help="events as JSON Lines instead of --file")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=1, help="timed passes (the least is shown)")
    arguments = parser.parse_args()
    raw = (
        Path(arguments.jsonl).read_bytes().splitlines()[: arguments.events]
        if arguments.jsonl
        else first_lines(arguments.file, arguments.events)
    )
    events = [Event(**orjson.loads(line)) for line in raw if line.strip()]
    rules = load_rules(rule_sets())
    for event in events:
        rules.match(event)
    passes = []
    for _ in range(max(arguments.rounds, 1)):
        started = time.process_time()
        found = sum(len(rules.match(event)) for event in events)
        passes.append(time.process_time() - started)
    spent, median = min(passes), sorted(passes)[len(passes) // 2]
    print(f"{len(events)} events, {len(rules.rules)} rules: {spent / len(events) * 1e6:.1f} µs"
          f" an event ({len(events) / spent:,.0f}/s; median of {len(passes)}:"
          f" {median / len(events) * 1e6:.1f} µs), {found} detections")  # fmt: skip
    keys = collections.Counter((e.log, e.source, e.event_id) for e in events)
    for key, count in keys.most_common(8):
        chosen = [event for event in events if (event.log, event.source, event.event_id) == key]
        started = time.process_time()
        for event in chosen:
            rules.match(event)
        each = (time.process_time() - started) / count * 1e6
        bucket = rules._candidates[key]
        name = key[2] if key[2] is not None else key[1]
        print(f"  {name}: {count} events, {each:.1f} µs, {len(bucket.entries)} rules,"
              f" prefilter {bucket.prefilter is not None}")  # fmt: skip


if __name__ == "__main__":
    main()
