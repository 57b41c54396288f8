"""Shared settings for the tests: where the shared .evtx corpus lives (tests/testbed/corpus.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.testbed.corpus import CORPUS


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        raise RuntimeError(f"the .evtx corpus is missing at {CORPUS} (set EVENTSWEEP_CORPUS)")
    return CORPUS
