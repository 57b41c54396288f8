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


@pytest.fixture(autouse=True)
def private_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test's sweeps go to a store of its own, never the user's (subprocesses too)."""
    path = tmp_path_factory.mktemp("store") / "events.db"
    monkeypatch.setenv("EVENTSWEEP_STORE", str(path))
    return path
