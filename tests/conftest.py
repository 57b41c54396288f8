"""Shared settings for the tests: where the shared .evtx corpus lives (tests/testbed/corpus.py),
and which tests need a real server.

The ``servers`` marker (registered in pyproject.toml) goes on every test that starts Samba or
sshd or makes journal files with systemd-journal-remote: whole modules say so themselves
(``pytestmark``: test_winrpc_samba, test_ssh_source); the README's commands that need one mark
themselves (test_readme: their servers start on first use); elsewhere a test is marked when it
uses one of the fixtures in :data:`SERVER_FIXTURES`. ``pytest -m "not servers"`` runs the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.testbed.corpus import CORPUS

SERVER_FIXTURES = frozenset(
    (
        "fleet",  # sshd (tests/testbed/sshd.py)
        "servers",  # Samba (tests/testbed/samba.py)
        "journal_dir",  # systemd-journal-remote (tests/testbed/journals.py)
    )
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
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
