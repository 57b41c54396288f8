"""Benchmarks of .evtx at the sizes responders get (issue 15).

Run: ``python bench/bench_evtx_big.py [--rounds N] [--before DIR] [--big FILE] [--only TEXT]``.
Needs the 1 GB demo file (``eventsweep demo-data /tmp/evtx-big --size 1G``; made if missing, or
another given with ``--big``) and, for the measures of many files, makes the directory of
200 files of 5 MB under /tmp from its chunks (a chunk is self-contained: the file header with the
right count, then 80 chunks of the big file). ``--before DIR`` names a checkout of an earlier
eventsweep (e.g. ``git archive <commit> | tar -x -C DIR``) to compare with, interleaved.

``floor`` (bench/_evtx_floor.py): what any full sweep costs at the least on this machine's
cores: `evtx`'s render, then ``orjson.loads``, then ``orjson.dumps`` of each record, in one
process per core and nothing else.

Every measure is a fresh command (interpreter, imports, fork server, workers), its wall time
and the peak RSS of its whole process tree (bench/_measure.py, sampled every 20 ms). In each
round the contenders run one after the other, so a noisy machine hits them alike; ratios are
taken per round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._measure import PeakRss
from bench.bench_evtx import _cgroup_root
from eventsweep.formats.evtx import index
from eventsweep.formats.evtx.layout import CHUNK_SIZE, HEADER_SIZE
from eventsweep.formats.evtx.writer import file_header
from eventsweep.model import iso_from_epoch
from tests.testbed import corpus

ROOT = Path(__file__).resolve().parents[1]
BIG = Path("/tmp/evtx-big/DC01/Security.evtx")
MANY = Path("/tmp/evtx-200")
SMALL = corpus.CORPUS / corpus.SYNTHETIC
RAW = (
    "import sys\nfrom evtx import PyEvtxParser\n"
    "for r in PyEvtxParser(sys.argv[1], number_of_threads=1).records_json(): pass"
)


def _make_big(big: Path) -> None:
    if not big.exists():
        command = [sys.executable, "-m", "eventsweep.cli", "demo-data", str(big.parents[1])]
        subprocess.run([*command, "--size", "1G"], check=True, env=_env(ROOT))


def _make_many(path: Path, files: int = 200, chunks: int = 80) -> None:
    """200 files of 5 MB: the big file's chunks, 80 a file, each behind a clean header."""
    if len(list(MANY.glob("*.evtx"))) == files:
        return
    MANY.mkdir(exist_ok=True)
    with open(path, "rb") as big:
        for number in range(files):
            big.seek(HEADER_SIZE + number * chunks * CHUNK_SIZE)
            body = big.read(chunks * CHUNK_SIZE)
            header = file_header(chunks, 1 + number * chunks * 1000, dirty=False)
            (MANY / f"host{number:03}-Security.evtx").write_bytes(header + body)


def _env(tree: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(tree))


def run(tree: Path, command: list[str]) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS MiB of the tree, lines of output, CPU seconds of the tree or
    NaN) of a command. CPU comes from a cgroup v2 made for the run (root only), which counts
    the fork server's workers too: on a machine shared with other jobs, the steadier figure."""
    root = _cgroup_root()
    group = root / f"eventsweep-bench-{os.getpid()}" if root else None
    if group:
        group.mkdir(exist_ok=True)
    procs = str(group / "cgroup.procs") if group else None

    def enter() -> None:
        if procs:
            with open(procs, "w") as file:
                file.write(str(os.getpid()))

    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(tree),
        cwd=tree,  # python -m puts the working directory first on the path
        preexec_fn=enter,
    )
    assert process.stdout is not None
    with process.stdout, PeakRss(process.pid) as rss:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: process.stdout.read(1 << 20), b""))
        process.wait()
    wall = time.perf_counter() - started
    cpu = float("nan")
    if group:
        while (group / "cgroup.procs").read_text().strip():
            time.sleep(0.01)  # the fork server and workers leave just after the command
        usage = (group / "cpu.stat").read_text().split()
        cpu = int(usage[usage.index("usage_usec") + 1]) / 1e6
        group.rmdir()
    return wall, rss.peak / 2**20, lines, cpu


def sweep(*arguments: str) -> list[str]:
    command = [sys.executable, "-m", "eventsweep.cli", "sweep", *arguments, "--format", "jsonl"]
    command.append("--no-store")  # the reader alone (the store has its own bench)
    return [*command, "--timeout", "3600"]  # a loaded machine must not cut a sweep short


def newest(path: Path) -> float:
    """The newest write time in a file (POSIX seconds), from its newest chunk's records."""
    newest_slot = index.scan(str(path))[0][0].slot
    with open(path, "rb") as file:
        file.seek(HEADER_SIZE + newest_slot * CHUNK_SIZE)
        written = index.span(file.read(CHUNK_SIZE)).newest
    return (written - 116_444_736_000_000_000) / 10_000_000


def hour(path: Path, hours_back: float) -> list[str]:
    """``--since``/``--until`` for the hour ending ``hours_back`` before the file's newest
    record (the demo file ends when it was made: "the last hour" is the file's, not now's)."""
    end = newest(path) - hours_back * 3600
    return ["--since", iso_from_epoch(end - 3600), "--until", iso_from_epoch(end)]


def timeline(*targets: str) -> list[str]:
    return [sys.executable, str(ROOT / "bench/_timeline_sweep.py"), *targets]


def contenders(before: Path | None, path: Path = BIG) -> dict[str, tuple[Path, list[str]]]:
    big, many, small = str(path), str(MANY), str(SMALL)
    trees = {"after": ROOT} | ({"before": before} if before else {})
    found: dict[str, tuple[Path, list[str]]] = {
        "raw evtx, one thread, 1 GB": (ROOT, [sys.executable, "-c", RAW, big]),
    }
    floor = [sys.executable, str(ROOT / "bench/_evtx_floor.py"), big]
    for stage in ("render", "decode", "encode"):
        found[f"floor: 1 GB, {stage}, a process per core"] = (ROOT, [*floor, stage])
    for name, tree in trees.items():
        found[f"{name}: 1 GB --all, --group target"] = (tree, sweep(big, "--all"))
        found[f"{name}: 1 GB --all, --group time"] = (
            (tree, timeline(big))
            if name == "after"
            else (tree, sweep(big, "--all", "--group", "time"))
        )
        found[f"{name}: 200 × 5 MB --all, --group target"] = (tree, sweep(many, "--all"))
        if name == "after":
            found[f"{name}: 200 × 5 MB --all, --group time"] = (tree, timeline(many))
        found[f"{name}: 1 GB its last hour"] = (tree, sweep(big, *hour(path, 0)))
        found[f"{name}: 24 MB --since 1h"] = (tree, sweep(small, "--since", "1h"))
        found[f"{name}: 24 MB its last hour"] = (tree, sweep(small, *hour(SMALL, 0)))
        found[f"{name}: 1 GB one hour 3 days back"] = (tree, sweep(big, *hour(path, 71)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None)
    parser.add_argument("--only", default="", help="run only measures whose name contains this")
    parser.add_argument(
        "--big", type=Path, default=BIG, help="the 1 GB file (default: %(default)s)"
    )
    options = parser.parse_args()
    _make_big(options.big)
    measures = {
        k: v for k, v in contenders(options.before, options.big).items() if options.only in k
    }
    if any(str(MANY) in command for _, command in measures.values()):
        _make_many(options.big)
    walls: dict[str, list[float]] = {name: [] for name in measures}
    cpus: dict[str, list[float]] = {name: [] for name in measures}
    peaks: dict[str, list[float]] = {name: [] for name in measures}
    lines: dict[str, int] = {}
    load = os.getloadavg()[0]
    for _ in range(options.rounds):
        for name, (tree, command) in measures.items():
            wall, peak, count, cpu = run(tree, command)
            walls[name].append(wall)
            cpus[name].append(cpu)
            peaks[name].append(peak)
            lines[name] = count
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {load:.1f}")
    print("| measure | events | median wall | rounds | CPU, tree | peak RSS, tree |")
    print("|---|---:|---:|---|---:|---:|")
    for name in measures:
        rounds = ", ".join(f"{w:.2f}" for w in walls[name])
        print(
            f"| {name} | {lines[name]:,} | {statistics.median(walls[name]):.2f} s | {rounds} |"
            f" {statistics.median(cpus[name]):.2f} s | {max(peaks[name]):.0f} MiB |"
        )
    print("\nWall time:")
    _ratios(walls)
    print("\nCPU time of the process tree:")
    _ratios(cpus)


def _ratios(walls: dict[str, list[float]]) -> None:
    raw = walls.get("raw evtx, one thread, 1 GB")
    if raw:
        print("\n| the floor, per round | / raw |\n|---|---|")
        for name in [name for name in walls if name.startswith("floor: ")]:
            ratios = [a / b for a, b in zip(walls[name], raw, strict=True)]
            rounds = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"| {name[7:]} | {statistics.median(ratios):.2f}× ({rounds}) |")
    pairs = [
        ("1 GB --all, --group target", raw),
        ("1 GB --all, --group time", raw),
        ("1 GB its last hour", walls.get("after: 24 MB its last hour")),
        ("1 GB one hour 3 days back", walls.get("after: 24 MB its last hour")),
    ]
    print("\n| ratio, per round | after | before |\n|---|---|---|")
    for name, base in pairs:
        if not base:
            continue
        cells = []
        for tree in ("after", "before"):
            mine = walls.get(f"{tree}: {name}")
            other = (
                base
                if tree == "after" or base is raw
                else walls.get(f"{tree}: 24 MB its last hour")
            )
            if mine and other:
                ratios = [a / b for a, b in zip(mine, other, strict=True)]
                cells.append(
                    f"{statistics.median(ratios):.2f}× ({', '.join(f'{r:.2f}' for r in ratios)})"
                )
            else:
                cells.append("")
        against = "raw" if base is raw else "24 MB its last hour"
        print(f"| {name} / {against} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
