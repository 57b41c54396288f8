"""The README's "Web application" commands, run as a user types them: the demo data swept into
the store, then ``eventsweep serve`` answering on loopback (on a free port through
``EVENTSWEEP_PORT``: the README's default 8080 and 8443 are not taken in the tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.cli.test_readme import README, readme_commands
from tests.testbed.net import free_port

pytestmark = pytest.mark.servers

EVENTSWEEP = [sys.executable, "-m", "eventsweep.cli"]
ROOT = Path(__file__).resolve().parents[2]
QUICK = "eventsweep demo-data demo && eventsweep sweep demo --since 7d && eventsweep serve"
CASE = (
    "eventsweep serve --store cases/acme.db --port 8443 --token-file token "
    "--inventory-dir inventories"
)


def words(command: str) -> list[str]:
    parts = command.split()
    assert parts[0] == "eventsweep"
    return [*EVENTSWEEP, *parts[1:]]


@contextmanager
def background(argv: list[str], cwd: Path, env: dict[str, str], port: int) -> Iterator[str]:
    process = subprocess.Popen(argv, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/static/style.css")
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def environment(tmp_path: Path, port: int) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "EVENTSWEEP_PORT": str(port),
            "EVENTSWEEP_STORE": str(tmp_path / "store" / "events.db")}  # fmt: skip


def test_the_readme_shows_these_commands() -> None:
    texts = [command.text for command in readme_commands(README.read_text())]
    assert QUICK in texts and CASE in texts


def test_quick_start_serves_the_demo(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, port)
    *first, serve = QUICK.split(" && ")
    for command in first:
        done = subprocess.run(words(command), cwd=tmp_path, env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
    with background(words(serve), tmp_path, env, port) as url:
        page = httpx.get(url + "/", params={"since": "24h", "event_id": "4625",
                                              "target": "*DC01*"})  # fmt: skip
        assert page.status_code == 200 and "An account failed to log on" in page.text
        assert "DC01" in page.text


def test_a_case_store_with_a_token_and_inventories(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "cases").mkdir()
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "dcs.txt").write_text("demo/DC01\n")
    token = tmp_path / "token"
    token.write_text("a-case-token-of-enough-length\n")
    token.chmod(0o600)
    argv = [str(port) if part == "8443" else part for part in words(CASE)]
    with background(argv, tmp_path, environment(tmp_path, port), port) as url:
        assert httpx.get(url + "/api/inventories").status_code == 401
        bearer = {"authorization": "Bearer a-case-token-of-enough-length"}
        listed = httpx.get(url + "/api/inventories", headers=bearer).json()
        assert listed == [{"name": "0:dcs.txt", "label": "inventories/dcs.txt"}]
        assert "No events stored yet" in httpx.get(url + "/", headers=bearer).text
