"""Fuzz: damaged copies of corpus files swept through the command line in three query modes.

The copies (seeded, made under tmp_path, never kept): truncated, bit-flipped, zeroed ranges,
chunks duplicated over or after others, and mixes of these; most cut to their first few chunks
to stay fast, a few big enough for the window index's bisection. Each mode is one command over
the whole directory. Wanted every time: no traceback, no hang, exit status 0 or 1, exactly one
outcome per file, every event's time a valid fixed-width ISO time.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from evtx import PyEvtxParser

from eventsweep.formats.evtx.layout import CHUNK_SIZE, HEADER_SIZE
from eventsweep.model import iso, parse_iso
from tests.testbed.corpus import CORPUS, SECURITY, SYNTHETIC

SMALL_COPIES = 300
BIG_COPIES = 3
ISO = re.compile(
    r"(1[6-9]|[2-9][0-9])[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z"
)
_ROOT = str(Path(__file__).resolve().parents[1])


def _bases() -> list[bytes]:
    """Small real files of the corpus (and the security sample), cut to four chunks."""
    files = sorted(p for p in CORPUS.rglob("*.evtx") if p.stat().st_size <= 2_200_000)
    return [p.read_bytes()[: HEADER_SIZE + 4 * CHUNK_SIZE] for p in files]


def _truncate(data: bytearray, rng: random.Random) -> None:
    del data[rng.randrange(len(data) + 1) :]


def _flip(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 60)):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _zero(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        if data:
            start = rng.randrange(len(data))
            length = rng.randint(1, 4096)
            data[start : start + length] = bytes(len(data[start : start + length]))


def _duplicate(data: bytearray, rng: random.Random) -> None:
    slots = (len(data) - HEADER_SIZE) // CHUNK_SIZE
    if slots < 1:
        return
    source = HEADER_SIZE + rng.randrange(slots) * CHUNK_SIZE
    chunk = data[source : source + CHUNK_SIZE]
    if rng.random() < 0.5:
        data += chunk
    else:
        target = HEADER_SIZE + rng.randrange(slots) * CHUNK_SIZE
        data[target : target + CHUNK_SIZE] = chunk


MUTATIONS = (_truncate, _flip, _zero, _duplicate)


def _copies(directory: Path) -> int:
    rng = random.Random(20261201)
    bases = _bases()
    made = 0
    for number in range(SMALL_COPIES):
        data = bytearray(bases[number % len(bases)])
        for mutate in rng.sample(MUTATIONS, rng.choice((1, 1, 2))):
            mutate(data, rng)
        (directory / f"small-{number:03}.evtx").write_bytes(bytes(data))
        made += 1
    big = (CORPUS / SYNTHETIC).read_bytes()
    for number in range(BIG_COPIES):
        data = bytearray(big)
        MUTATIONS[1 + number % 3](data, rng)  # flipped, zeroed, duplicated: the header kept
        (directory / f"big-{number}.evtx").write_bytes(bytes(data))
        made += 1
    return made


def _newest(path: Path) -> str:
    """The newest write time in a file (its TimeCreated is close to that)."""
    stamps = [str(r["timestamp"]) for r in PyEvtxParser(str(path)).records_json() if r]
    return max(stamps).replace(" UTC", "")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    directory = tmp_path_factory.mktemp("fuzz")
    return directory, _copies(directory)


def _window(newest: str) -> list[str]:
    end = parse_iso(newest)
    return ["--since", iso(end - timedelta(hours=6)), "--until", iso(end - timedelta(hours=1))]


MODES = {
    "all": lambda: ["--all"],
    "window": lambda: _window(_newest(CORPUS / SYNTHETIC)),
    "limit": lambda: ["--limit", "5", "--level", "error,warning,info,audit_success"],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_damaged_copies_in_three_query_modes(
    fuzzed: tuple[Path, int], tmp_path: Path, mode: str
) -> None:
    directory, count = fuzzed
    outcomes = tmp_path / "outcomes.jsonl"
    command = [sys.executable, "-m", "eventsweep.cli", "sweep", str(directory), *MODES[mode]()]
    command += ["--format", "jsonl", "--outcomes", str(outcomes), "--no-progress"]
    env = dict(os.environ, PYTHONPATH=_ROOT)
    done = subprocess.run(command, capture_output=True, timeout=120, env=env, cwd=_ROOT)
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")[-3000:]
    assert done.returncode in (0, 1), done.stderr.decode(errors="replace")[-3000:]
    ended = [json.loads(line) for line in outcomes.read_text().splitlines()]
    assert len(ended) == count
    assert sorted(o["target"] for o in ended) == sorted(str(p) for p in directory.iterdir())
    times = [json.loads(line)["time"] for line in done.stdout.splitlines()]
    assert all(ISO.fullmatch(time) for time in times), [t for t in times if not ISO.fullmatch(t)]
    assert sum(o["events"] for o in ended) == len(times)
    if mode == "all":
        assert times and {o["status"] for o in ended} >= {"ok", "partial"}


def test_the_security_sample_is_among_the_bases() -> None:
    assert any(
        (CORPUS / SECURITY).read_bytes()[: HEADER_SIZE + 4 * CHUNK_SIZE] == base
        for base in _bases()
    )
