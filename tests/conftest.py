"""Shared settings for the tests: where the shared .evtx corpus lives (tests/testbed/corpus.py),
and which tests need a real peer.

The ``servers`` marker (registered in pyproject.toml) goes on every test that needs a real peer:
a server or browser the tests start (Samba, sshd, journal files made by systemd-journal-remote,
uvicorn, chromium), or the shared corpora beside the repository (../shared: the .evtx files,
SigmaHQ's rules and samples). Whole modules say so themselves (``pytestmark``); the README's
commands that need one mark themselves; elsewhere a test is marked when it uses one of the
fixtures in :data:`PEER_FIXTURES` or its module reads the shared corpora. ``pytest -m "not
servers"`` runs the rest, in seconds, on any machine.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.testbed.corpus import CORPUS

PEER_FIXTURES = frozenset(
    (
        "fleet",  # sshd (tests/testbed/sshd.py)
        "servers",  # Samba (tests/testbed/samba.py)
        "journal_dir",  # systemd-journal-remote (tests/testbed/journals.py)
        "corpus",  # the shared .evtx corpus
    )
)
SHARED = ("tests.testbed.corpus", "tests.testbed.sigma", "testbed import corpus")


@functools.cache
def _reads_shared(path: str) -> bool:
    text = Path(path).read_text(encoding="utf-8")
    return any(name in text for name in SHARED)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PEER_FIXTURES.intersection(getattr(item, "fixturenames", ())) or _reads_shared(
            str(item.path)
        ):
            item.add_marker(pytest.mark.servers)


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
