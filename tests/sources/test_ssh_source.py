"""The ssh:// source against a real OpenSSH sshd on loopback and real journal files."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from eventsweep.model import Event, Outcome, Query, iso_from_epoch_us
from eventsweep.query import build_query
from eventsweep.sources import Settings
from tests.testbed import run, sshd
from tests.testbed.journals import Entry, make_journal
from tests.testbed.net import free_port, silent_listener

pytestmark = pytest.mark.servers  # every test here starts or needs a real server

T0 = 1_700_000_000_000_000
WEB = "127.0.0.2"  # a journal of its own
DB = "127.0.0.3"  # another journal
BARE = "127.0.0.4"  # no journalctl on PATH
EMPTY = "127.0.0.5"  # journalctl, but no journal directory
ODD = "127.0.0.6"  # identifiers made of shell syntax
ADDRESSES = [WEB, DB, BARE, EMPTY, ODD]

WEB_ENTRIES = [
    Entry(T0, "Failed password for root from 10.0.0.1", priority=5, identifier="sshd", host="web"),
    Entry(T0 + 1, "Accepted publickey for admin", priority=6, identifier="sshd", host="web"),
    Entry(T0 + 10, "(root) CMD (run-parts)", priority=6, identifier="CRON", host="web"),
    Entry(T0 + 20, "disk almost full", priority=4, identifier=None, unit="monitor.service",
          comm="monitor", host="web"),
    Entry(T0 + 30, b"raw \xff\xfe bytes", priority=3, identifier="kernel", host="web"),
    Entry(T0 + 40, "first\nsecond\nthird", priority=2, identifier="app", host="web"),
    Entry(T0 + 50, "y" * 10_000, priority=7, identifier="app", host="web"),
]  # fmt: skip
DB_ENTRIES = [Entry(T0 + i * 1000, f"db {i}", priority=i % 8, host="db") for i in range(40)]
HOSTILE = (
    "; touch {m}",
    "$(touch {m})",
    "`touch {m}`",
    "'; touch {m}; '",
    '"; touch {m}; "',
    "x\ntouch {m}",
    "a && touch {m} || b",
    "| touch {m}",
    "; rm -rf /",
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.Fleet]:
    directory = tmp_path_factory.mktemp("fleet")
    with sshd.running(directory, ADDRESSES, no_journalctl=[BARE]) as running:
        make_journal(running.journal_dir(WEB), WEB_ENTRIES)
        make_journal(running.journal_dir(DB), DB_ENTRIES)
        make_journal(running.journal_dir("local"), WEB_ENTRIES[:2])  # read under sudo
        yield running


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory, fleet: sshd.Fleet) -> Path:
    """The directory hostile values would create files in, and the ODD host's journal."""
    directory = tmp_path_factory.mktemp("markers")
    entries = [
        Entry(T0 + i, f"hostile {i}", identifier=template.format(m=directory / f"m{i}"))
        for i, template in enumerate(HOSTILE)
    ]
    make_journal(fleet.journal_dir(ODD), entries)
    return directory


def sweep(
    targets: list[str], settings: Settings, query: Query | None = None, timeout: float = 30.0
) -> tuple[list[Event], list[Outcome]]:
    return run.sweep(targets, settings, query, timeout=timeout)


def errors(outcomes: list[Outcome]) -> list[str | None]:
    return [outcome.error for outcome in outcomes]


def test_entries_come_back_as_written(fleet: sshd.Fleet) -> None:
    targets = [fleet.target(WEB), fleet.target(DB)]
    events, outcomes = sweep(targets, fleet.settings())
    assert [o.status for o in outcomes] == ["ok", "ok"]
    web = [event for event in events if event.target == targets[0]]
    newest_first = sorted(WEB_ENTRIES, key=lambda entry: -entry.time_us)
    assert [event.message for event in web] == [entry.text for entry in newest_first]
    assert [event.time for event in web] == [iso_from_epoch_us(e.time_us) for e in newest_first]
    assert [event.level for event in web] == [
        "verbose", "critical", "error", "warning", "info", "info", "info"]  # fmt: skip
    assert [event.source for event in web] == [
        "app", "app", "kernel", "monitor.service", "CRON", "sshd", "sshd"]  # fmt: skip
    assert {event.computer for event in web} == {"web"}
    assert [event.record_id for event in web] == list(range(len(WEB_ENTRIES), 0, -1))
    assert all(e.log == "journal" and e.event_id is None and e.category is None for e in web)
    db = [event for event in events if event.target == targets[1]]
    assert [event.message for event in db] == [f"db {i}" for i in range(39, -1, -1)]


def test_filters_are_pushed_to_the_server(fleet: sshd.Fleet) -> None:
    log = fleet.journals / "calls.log"
    log.write_text("")
    query = Query(
        since=iso_from_epoch_us(T0 + 1),
        until=iso_from_epoch_us(T0 + 40),
        levels=frozenset({"critical", "error", "warning"}),
        limit=2,
    )
    events, _ = sweep([fleet.target(WEB)], fleet.settings(), query)
    assert [event.message for event in events] == ["first\nsecond\nthird", "raw \ufffd\ufffd bytes"]
    (call,) = log.read_text().splitlines()
    assert call == (
        f"{WEB} --output=json --all --reverse --no-pager "
        "--since=2023-11-14 22:13:20.000001 UTC --until=2023-11-14 22:13:20.000040 UTC "
        "--priority=0..4 --lines=2"
    )


def test_sources_are_matched_case_insensitively_on_exact_server_values(
    fleet: sshd.Fleet,
) -> None:
    log = fleet.journals / "calls.log"
    log.write_text("")
    query = build_query(since=None, sources=["cron", "Monitor.service"], grep="CMD|disk")
    events, _ = sweep([fleet.target(WEB)], fleet.settings(), query)
    assert [event.message for event in events] == ["disk almost full", "(root) CMD (run-parts)"]
    calls = log.read_text().splitlines()
    assert sorted(calls[:3]) == [
        f"{WEB} --field=SYSLOG_IDENTIFIER",
        f"{WEB} --field=_COMM",
        f"{WEB} --field=_SYSTEMD_UNIT",
    ]
    assert calls[3].endswith(" SYSLOG_IDENTIFIER=CRON + _SYSTEMD_UNIT=monitor.service")


def test_hostile_values_never_run_on_the_server(fleet: sshd.Fleet, markers: Path) -> None:
    names = [template.format(m=markers / f"m{i}") for i, template in enumerate(HOSTILE)]
    query = build_query(since=None, sources=names)
    hostile_options = [
        "journalctl=" + "journalctl%3B touch " + str(markers / "j1"),
        "journalctl=" + "%24(touch " + str(markers / "j2") + ")",
        "args=" + "%22%3B touch " + str(markers / "a1") + "%3B %22",
        "args=" + "'%60touch " + str(markers / "a2") + "%60'",
        "args=" + "x%0Atouch " + str(markers / "a3"),
        "journalctl=" + "journalctl%0Atouch " + str(markers / "j3"),
    ]
    targets = [fleet.target(ODD)] + [fleet.target(ODD, option) for option in hostile_options]
    events, outcomes = sweep(targets, fleet.settings(), query)
    # a value with a newline can't be told apart in ``journalctl -F``'s output: not found
    found = sorted(name for name in names if "\n" not in name)
    assert sorted(event.source for event in events if event.target == targets[0]) == found
    assert outcomes[0].status == "ok"
    assert [outcome.status for outcome in outcomes[1:]] == ["error"] * 6
    assert list(markers.iterdir()) == []


def test_sudo_runs_journalctl_through_sudo(fleet: sshd.Fleet) -> None:
    target = fleet.target(WEB, f"sudo=1&journalctl={fleet.wrapper}")
    events, outcomes = sweep([target], fleet.settings())
    assert outcomes[0].status == "ok"
    assert [event.message for event in events] == [entry.text for entry in WEB_ENTRIES[1::-1]]


def test_journalctl_failures(fleet: sshd.Fleet) -> None:
    targets = [fleet.target(BARE), fleet.target(EMPTY), fleet.target(WEB, "args=--bogus")]
    _, outcomes = sweep(targets, fleet.settings())
    assert errors(outcomes) == [
        "open: journalctl not found on the host "
        "(exit 127: bash: line 1: journalctl: command not found)",
        f"open: no journal: Failed to open {fleet.journals}/{EMPTY}: No such file or directory",
        "read: journalctl failed (exit 1): /usr/bin/journalctl: unrecognized option '--bogus'",
    ]


def test_connection_failures(fleet: sshd.Fleet, tmp_path: Path) -> None:
    closed = free_port()
    silent = silent_listener()
    port = silent.getsockname()[1]
    with silent:
        targets = [f"ssh://root@127.0.0.1:{closed}", f"ssh://root@127.0.0.1:{port}"]
        _, outcomes = sweep(targets, fleet.settings(connect_timeout=1.0))
    assert errors(outcomes) == [
        "connect: connection refused",
        "connect: no SSH answer within 1s (connect timeout)",
    ]
    assert outcomes[1].elapsed < 1.9  # one timeout for the TCP connect and the SSH handshake


def test_a_host_the_config_routes_is_reached_as_it_says(fleet: sshd.Fleet, tmp_path: Path) -> None:
    """``web`` is no host name: it is reached only through the config's HostName and Port
    (asyncssh connects itself; a TCP connection opened beforehand would fail)."""
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host web\n    HostName {WEB}\n    Port {fleet.port}\n"
        f"Host *\n    IdentityFile {fleet.client_key}\n    IdentitiesOnly yes\n"
    )
    known = tmp_path / "known_hosts"
    alias = f"[web]:{fleet.port},[{WEB}]:"
    known.write_text(fleet.known_hosts.read_text().replace(f"[{WEB}]:", alias, 1))
    settings = fleet.settings(ssh_config=str(config), known_hosts=str(known))
    events, outcomes = sweep(["ssh://root@web", "ssh://root@unknown-host.invalid"], settings)
    assert outcomes[0].status == "ok", outcomes[0].error
    assert sorted(e.message for e in events) == sorted(e.text for e in WEB_ENTRIES)
    assert errors(outcomes)[1] == "connect: host name not found: unknown-host.invalid"


def test_wrong_client_key_is_an_auth_error(fleet: sshd.Fleet, tmp_path: Path) -> None:
    sshd.keygen(tmp_path / "other_key")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n    IdentityFile {tmp_path}/other_key\n    IdentitiesOnly yes\n")
    _, outcomes = sweep([fleet.target(WEB)], fleet.settings(ssh_config=str(config)))
    assert errors(outcomes) == [
        "auth: authentication failed as root: no key or agent identity was accepted"
    ]


@pytest.fixture
def auth_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """asyncssh's auth messages (its debug level 2 names the server's answers)."""
    asyncssh.set_debug_level(2)
    caplog.set_level(logging.DEBUG, logger="asyncssh")
    try:
        yield caplog
    finally:
        asyncssh.set_debug_level(1)


def auth_steps(caplog: pytest.LogCaptureFixture) -> list[str]:
    steps = ("Trying public key auth", "Signing request", "Remaining auth methods", "succeeded")
    return [step for record in caplog.records for step in steps if step in record.getMessage()]


def test_a_key_file_is_signed_at_once(
    fleet: sshd.Fleet, auth_log: pytest.LogCaptureFixture
) -> None:
    """No "none" request and no unsigned offer first: two round trips fewer than asyncssh's
    own sequence (the server's list of methods would show as "Remaining auth methods")."""
    events, outcomes = sweep([fleet.target(WEB)], fleet.settings())
    assert outcomes[0].status == "ok" and len(events) == len(WEB_ENTRIES)
    assert auth_steps(auth_log) == ["Signing request", "succeeded"]


def _sweep_with_config(fleet: sshd.Fleet, tmp_path: Path, first: str) -> None:
    """Sweep WEB with an ssh_config whose ``Host *`` holds ``first``, then the fleet's key."""
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host *\n    {first}\n    IdentityFile {fleet.client_key}\n    IdentitiesOnly yes\n"
    )
    events, outcomes = sweep([fleet.target(WEB)], fleet.settings(ssh_config=str(config)))
    assert outcomes[0].status == "ok" and len(events) == len(WEB_ENTRIES)


def test_a_refused_key_file_moves_on_to_the_next(
    fleet: sshd.Fleet, tmp_path: Path, auth_log: pytest.LogCaptureFixture
) -> None:
    sshd.keygen(tmp_path / "other_key")
    _sweep_with_config(fleet, tmp_path, f"IdentityFile {tmp_path}/other_key")
    assert auth_steps(auth_log) == [
        "Signing request", "Remaining auth methods", "Signing request", "succeeded"]  # fmt: skip


def test_a_method_preferred_to_publickey_keeps_asyncssh_s_sequence(
    fleet: sshd.Fleet, tmp_path: Path, auth_log: pytest.LogCaptureFixture
) -> None:
    _sweep_with_config(fleet, tmp_path, "PreferredAuthentications keyboard-interactive,publickey")
    assert auth_steps(auth_log) == [
        "Remaining auth methods", "Trying public key auth", "Signing request",
        "succeeded"]  # fmt: skip


def test_an_agent_key_is_offered_before_it_signs(
    fleet: sshd.Fleet,
    tmp_path: Path,
    auth_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Signing with an agent's key may ask the user (a touch, a confirmation): the server is
    asked first whether it would take the key, as asyncssh and OpenSSH do."""
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(["ssh-add", "-q", str(fleet.client_key)], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        config = tmp_path / "ssh_config"
        config.write_text("# keys from the agent only\n")
        events, outcomes = sweep([fleet.target(WEB)], fleet.settings(ssh_config=str(config)))
    finally:
        agent.terminate()
        agent.wait()
    assert outcomes[0].status == "ok", outcomes[0].error
    assert len(events) == len(WEB_ENTRIES)
    assert auth_steps(auth_log) == ["Trying public key auth", "Signing request", "succeeded"]


def test_unknown_host_key_is_refused_unless_accepted(fleet: sshd.Fleet, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    settings = fleet.settings(known_hosts=str(empty))
    _, outcomes = sweep([fleet.target(WEB)], settings)
    assert errors(outcomes) == [
        f"auth: host key unknown: {WEB} is not in known_hosts "
        "(add its key, or pass --accept-unknown-hosts)"
    ]
    accepting = fleet.settings(known_hosts=str(empty), accept_unknown_hosts=True)
    events, outcomes = sweep([fleet.target(WEB)], accepting)
    assert outcomes[0].status == "ok" and len(events) == len(WEB_ENTRIES)
    assert empty.read_text() == ""  # accepted for this sweep, never saved


def test_changed_host_key_is_refused_even_when_accepting(fleet: sshd.Fleet, tmp_path: Path) -> None:
    other = sshd.keygen(tmp_path / "other_host_key")
    known = tmp_path / "known_hosts"
    known.write_text(f"[{WEB}]:{fleet.port} {other}\n")
    for accept in (False, True):
        settings = fleet.settings(known_hosts=str(known), accept_unknown_hosts=accept)
        _, outcomes = sweep([fleet.target(WEB)], settings)
        assert errors(outcomes) == [
            f"auth: host key changed: the key of {WEB} does not match known_hosts "
            "(refused even with --accept-unknown-hosts)"
        ]


def test_a_query_no_journal_entry_can_match_needs_no_connection() -> None:
    closed = free_port()
    query = build_query(since=None, event_ids=["4624"])
    events, outcomes = sweep([f"ssh://127.0.0.1:{closed}"], Settings(), query)
    assert (events, outcomes[0].status) == ([], "ok")


def test_the_sweep_deadline_stops_a_hanging_host(fleet: sshd.Fleet) -> None:
    hang = fleet.directory / "bin" / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 30\n")
    hang.chmod(0o755)
    _, outcomes = sweep([fleet.target(WEB, f"journalctl={hang}")], fleet.settings(), timeout=1.0)
    assert outcomes[0].status == "timeout"
    assert outcomes[0].elapsed < 5
