"""Every flag the store, hunt, follow and serve commands added: a bad value is one line naming
the flag, exit status 2, no traceback; and the flags no other test runs, working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eventsweep import cli
from eventsweep.demo import generate
from tests.testbed.net import free_port

END = "2024-01-20T00:00:00Z"
COMMAND = [sys.executable, "-m", "eventsweep.cli"]
ROOT = Path(__file__).resolve().parents[2]
RULE = """\
title: Failed logon
id: 6a1d2c3b-0000-4000-8000-000000000001
status: test
level: medium
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "demo"
    generate(folder, hosts=1, days=1, end=END)
    return folder


@pytest.fixture
def rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EVENTSWEEP_CACHE", str(tmp_path / "cache"))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules/failed.yml").write_text(RULE)
    return tmp_path / "rules"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


BAD = [
    ("follow", "--every", "0"),
    ("follow", "--every", "nan"),
    ("follow", "--rounds", "0"),
    ("query", "--sweep", "no-such-sweep"),
    ("sweeps", "--last", "0"),
    ("sweeps", "--sweep", "999"),
    ("prune", "--before", "soon"),
    ("prune", "--before", ""),
    ("serve", "--port", "0"),
    ("serve", "--port", "70000"),
    ("serve", "--host", "no such host name"),
    ("serve", "--token-file", "/no/such/token"),
    ("serve", "--inventory-dir", "/no/such/dir"),
    ("serve", "--demo-dir", ""),
    ("hunt", "--rule-level", "urgent"),
    ("hunt", "--rule-status", "bogus"),
    ("hunt", "--tag", ""),
    ("hunt", "--rules", "/no/such/rules"),
    ("hunt", "--store", "/etc/passwd"),
    ("hunt", "--target", "ssh://web*"),  # only with --stored
    ("hunt", "--sweep", "1"),  # only with --stored
]


@pytest.mark.parametrize(("command", "flag", "value"), BAD)
def test_a_bad_value_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    demo: Path,
    rules: Path,
    command: str,
    flag: str,
    value: str,
) -> None:
    code, _, _ = _run(capsys, "sweep", str(demo), "--since", "2024-01-19T23:00:00Z", "--until", END)
    assert code == 0  # the store exists, with one sweep
    targets = [str(demo)] if command in ("follow", "hunt") else []
    given = ["--rules", str(rules)] if command == "hunt" and flag != "--rules" else []
    code, _, err = _run(capsys, command, *targets, *given, flag, value)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("eventsweep: ") and flag in err and "Traceback" not in err


def test_query_oldest_first_and_sweeps_last(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    for since in ("2024-01-19T20:00:00Z", "2024-01-19T22:00:00Z"):
        code, _, _ = _run(capsys, "sweep", str(demo), "--since", since, "--until", END)
        assert code == 0
    code, out, _ = _run(capsys, "query", "--format", "jsonl")
    newest = [json.loads(line)["time"] for line in out.splitlines()]
    code, out, _ = _run(capsys, "query", "--format", "jsonl", "--oldest-first")
    oldest = [json.loads(line)["time"] for line in out.splitlines()]
    assert newest == sorted(newest, reverse=True) and oldest == sorted(newest) and oldest
    code, out, _ = _run(capsys, "sweeps", "--last", "1", "--format", "jsonl")
    (last,) = [json.loads(line) for line in out.splitlines()]
    code, out, _ = _run(capsys, "sweeps", "--format", "jsonl")
    assert code == 0 and len(out.splitlines()) == 2 and json.loads(out.splitlines()[0]) == last


def test_serve_writes_the_demo_where_told(tmp_path: Path) -> None:
    from eventsweep.cli.serve import config_of

    argv = ["serve", "--store", str(tmp_path / "s.db"), "--demo-dir", str(tmp_path / "d")]
    config = config_of(cli.build_parser("serve").parse_args(argv), None)
    assert config.demo_dir == str(tmp_path / "d")


@pytest.mark.servers
def test_serve_binds_host_and_answers_allowed_names(tmp_path: Path) -> None:
    port = free_port("127.0.0.2")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVENTSWEEP_STORE": str(tmp_path / "s.db")}
    argv = [*COMMAND, "serve", "--host", "127.0.0.2", "--port", str(port)]
    argv += ["--allow-host", "logs.example"]
    server = subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.2:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/static/style.css")
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert httpx.get(base + "/", headers={"Host": "logs.example"}).status_code == 200
        assert httpx.get(base + "/", headers={"Host": "other.example"}).status_code == 421
    finally:
        server.terminate()
        server.wait(timeout=30)
