"""The same eventsweep command from two git revisions, interleaved round by round.

    python bench/compare_revisions.py OLD NEW [--new-only ARG] -- sweep FILE --all --format jsonl

Each revision is checked out once into a temporary work tree (``git worktree add``); in every
round the command runs once per revision, one after the other, with ``PYTHONPATH`` pointing at
that tree and stdout to /dev/null, so a noisy machine hits both alike. Prints each round's wall
times and the median of the per-round ratios NEW / OLD.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree(revision: str, where: Path) -> Path:
    path = where / revision.replace("/", "_")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(path), revision],
        check=True,
    )
    return path


def _wall(tree: Path, argv: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "eventsweep.cli", *argv],
        env=env,
        cwd=tree,  # python -m puts the working directory first on the path
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"{tree}: exit {result.returncode}: {result.stderr.decode()[-500:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--new-only",
        action="append",
        default=[],
        metavar="ARG",
        help="an argument given to NEW only (a flag OLD doesn't know, e.g. --no-store)",
    )
    words = sys.argv[1:]
    cut = words.index("--") if "--" in words else len(words)
    arguments = parser.parse_args(words[:cut])
    argv = words[cut + 1 :]
    with tempfile.TemporaryDirectory() as scratch:
        trees = [_tree(arguments.old, Path(scratch)), _tree(arguments.new, Path(scratch))]
        try:
            ratios = []
            for n in range(arguments.rounds):
                old = _wall(trees[0], argv)
                new = _wall(trees[1], [*argv, *arguments.new_only])
                ratios.append(new / old)
                print(f"round {n + 1}: old {old:.3f}s  new {new:.3f}s  new/old {new / old:.3f}")
            print(f"median new/old: {statistics.median(ratios):.3f}")
        finally:
            for tree in trees:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                    check=False,
                )


if __name__ == "__main__":
    main()
