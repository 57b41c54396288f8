"""Shared settings for the tests: where the shared .evtx corpus lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The real public .evtx files are read from ../shared beside the repository, never copied in.
CORPUS = Path(
    os.environ.get("EVENTSWEEP_CORPUS", Path(__file__).resolve().parents[2] / "shared/corpus/evtx")
)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        raise RuntimeError(f"the .evtx corpus is missing at {CORPUS} (set EVENTSWEEP_CORPUS)")
    return CORPUS


def corpus_files() -> list[Path]:
    return sorted(CORPUS.rglob("*.evtx"))
