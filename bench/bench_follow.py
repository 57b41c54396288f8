"""``eventsweep follow`` on an ssh:// host: from an entry appended to the journal to its line
on stdout, and the SSH connections made, streaming (this tree) against polling (a baseline
tree's follow, e.g. main before streaming, at ``--every``).

A real sshd on loopback (tests/testbed/sshd.py, LogLevel INFO: its log counts the connections
it accepts) with one journal; in each round every variant runs in turn: ``follow`` starts, its
first window is read, then ``--appends`` entries are appended one at a time with
systemd-journal-remote, each waited for on stdout (the latency: from just before the append
starts to the line read; the append itself, ~10 ms, is included), then SIGINT.

    python bench/bench_follow.py --baseline /work/main --rounds 5 --appends 10 --every 1
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.testbed import sshd  # noqa: E402
from tests.testbed.journals import Entry, make_journal  # noqa: E402

HOST = "127.0.0.2"


def follow_once(
    fleet: sshd.Fleet, tree: Path, first: int, appends: int, every: float
) -> tuple[list[float], int]:
    """One follow run: each append's latency (seconds) and the connections it made."""
    before = sshd.accepted(fleet)
    argv = [
        sys.executable, "-m", "eventsweep.cli", "follow", fleet.target(HOST), "--since", "1h",
        "--every", str(every), "--format", "jsonl", "--no-store",
        "--known-hosts", str(fleet.known_hosts), "--ssh-config", str(fleet.ssh_config),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tree)}
    process = subprocess.Popen(
        argv, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )  # cwd: python -m imports from it first
    assert process.stdout is not None
    try:
        process.stdout.readline()  # the window's first entry: it is following
        while sshd.accepted(fleet) == before:
            time.sleep(0.01)
        time.sleep(every)  # the window read, whatever it was
        latencies = []
        for n in range(first, first + appends):
            text = f"bench entry {n}"
            started = time.perf_counter()
            stamp = int(time.time() * 1_000_000)
            make_journal(fleet.journal_dir(HOST), [Entry(stamp, text, host="web01")])
            while text.encode() not in process.stdout.readline():
                pass
            latencies.append(time.perf_counter() - started)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    return latencies, sshd.accepted(fleet) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a tree whose follow polls")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--appends", type=int, default=10)
    parser.add_argument("--every", type=float, default=1.0)
    args = parser.parse_args()
    variants = {"streaming (this tree)": ROOT, f"polling ({args.baseline})": args.baseline}
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in variants}
    with (
        tempfile.TemporaryDirectory() as scratch,
        sshd.running(Path(scratch), [HOST], log_level="INFO") as fleet,
    ):
        now = int(time.time())
        make_journal(
            fleet.journal_dir(HOST), [Entry((now - 60) * 1_000_000, "start", host="web01")]
        )
        first = 0
        for round_ in range(args.rounds):
            for name, tree in variants.items():
                latencies, connections = follow_once(fleet, tree, first, args.appends, args.every)
                first += args.appends
                results[name].append((statistics.median(latencies), connections))
                median = statistics.median(latencies) * 1000
                print(f"round {round_ + 1} {name}: median {median:.0f} ms,"
                      f" max {max(latencies) * 1000:.0f} ms, {connections} connection(s)",
                      flush=True)  # fmt: skip
    streaming, polling = (results[name] for name in variants)
    ratios = [s[0] / p[0] for s, p in zip(streaming, polling, strict=True)]
    print(f"latency streaming / polling, per round: {', '.join(f'{r:.3f}' for r in ratios)};"
          f" median {statistics.median(ratios):.3f}")  # fmt: skip
    for name, rows in results.items():
        print(f"{name}: median latency {statistics.median(r[0] for r in rows) * 1000:.0f} ms,"
              f" connections per run {[r[1] for r in rows]}")  # fmt: skip


if __name__ == "__main__":
    main()
