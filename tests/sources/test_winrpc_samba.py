"""The win:// source against real Samba servers (smbd + samba-dcerpcd, started here).

Three instances side by side stand for three Windows servers; each System log holds records
of known times, ids, types, sources, computers, SIDs, data and strings (unicode, empty, none),
written straight into Samba's tdb (see tests/testbed/samba.py). What eventsweep returns is
compared field by field with what was written.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from impacket.ntlm import compute_nthash

from eventsweep.batch import Batch
from eventsweep.errors import AuthError, ConnectError, OpenError
from eventsweep.model import Event, Outcome, Query, TargetStatus, iso_from_epoch
from eventsweep.sources import Settings, Source, plan
from eventsweep.sources.winrpc import WinOptions
from eventsweep.sweep import collect
from tests.testbed import run
from tests.testbed.net import free_port, silent_listener
from tests.testbed.samba import LogRecord, Samba, bound_session, instance_root

pytestmark = pytest.mark.servers  # every test here starts or needs a real server

PASSWORD = "Root-pw-1"
NOBODY_PASSWORD = "Nobody-pw-2"
NOW = int(time.time()) // 60 * 60
LOGS = ("Application", "System", "Security", "Empty")
TYPES = (1, 2, 4, 0, 8, 16)
SOURCES = ("Service Control Manager", "Tcpip", "Ünïcödé-Quelle ✓", "Kernel-General")
STRINGS: tuple[tuple[str, ...], ...] = (
    (),
    ("",),
    ("value", "ünïcode ✓ 😀 中文"),
    ("a", "", "c"),
    ("x" * 300,),
)
LEVELS = {0: "info", 1: "error", 2: "warning", 4: "info", 8: "audit_success", 16: "audit_failure"}


def system_log(server: int, count: int = 240) -> list[LogRecord]:
    """Records every 150 s over the last 10 hours; every 10th generated out of order."""
    records = []
    for n in range(count):
        written = NOW - 36000 + 150 * n
        generated = written - 200 if n % 10 == 9 else written - n % 3
        records.append(
            LogRecord(
                time_generated=generated,
                time_written=written,
                event_id=(0x40000000 if n % 3 == 0 else 0) | (1000 + n % 50),
                event_type=TYPES[n % len(TYPES)],
                category=n % 7,
                source=SOURCES[n % len(SOURCES)],
                computer=f"HOST{server}.lab.example",
                strings=STRINGS[n % len(STRINGS)],
                sid="S-1-5-21-111-222-333-1001" if n % 2 else "",
                data=bytes(range(n % 7)),
            )
        )
    return records


def expected(record: LogRecord, number: int, target: str, log: str) -> dict[str, Any]:
    """The event a record must come back as (without collected_at)."""
    return {
        "time": iso_from_epoch(record.time_generated),
        "target": target,
        "computer": record.computer,
        "log": log,
        "record_id": number,
        "event_id": record.event_id & 0xFFFF,
        "level": LEVELS[record.event_type],
        "source": record.source,
        "category": record.category,
        "message": "; ".join(record.strings),
        "data": {
            "event_id_raw": record.event_id,
            "strings": list(record.strings),
            "user_sid": record.sid,
            "binary": record.data.hex(),
            "time_written": iso_from_epoch(record.written),
        },
    }


def shape(event: Event) -> dict[str, Any]:
    fields = event.to_dict()
    assert fields.pop("collected_at") >= iso_from_epoch(NOW - 60)
    return fields


@dataclass
class Server:
    samba: Samba
    system: list[LogRecord]
    numbers: list[int]

    def url(self, log: str = "System", user: str = "root") -> str:
        return self.samba.url(log, user)

    def expect(self, query: Query, target: str | None = None) -> list[dict[str, Any]]:
        target = target or self.url()
        pairs = zip(self.numbers, self.system, strict=True)
        wanted = [expected(r, n, target, "System") for n, r in pairs if query.in_window(
            iso_from_epoch(r.time_generated))]  # fmt: skip
        return wanted[::-1]


def start(root: Path, server: int, system_records: int = 240) -> Server:
    samba = Samba(root, logs=LOGS, users={"root": PASSWORD, "nobody": NOBODY_PASSWORD}).start()
    system = system_log(server, system_records)
    numbers = samba.write("System", system)
    samba.write("Application", [LogRecord(NOW - 4950 + 100 * n, source="App") for n in range(50)])
    samba.write("Security", [LogRecord(NOW - 10, event_type=8)], mode=0o660)
    return Server(samba, system, numbers)


@pytest.fixture(scope="module")
def servers() -> Iterator[list[Server]]:
    roots = [instance_root() for _ in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            started = list(pool.map(start, roots, range(3)))
        yield started
    finally:
        for root in roots:
            Samba(root).stop()
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSWEEP_PASSWORD", PASSWORD)
    monkeypatch.delenv("EVENTSWEEP_NTHASH", raising=False)


def sources(*targets: str, timeout: float = 10.0) -> list[Source]:
    return plan(list(targets), Settings.of(win=WinOptions(connect_timeout=timeout)))


async def read(target: str, query: Query, timeout: float = 10.0) -> list[Event]:
    (source,) = sources(target, timeout=timeout)
    events: list[Event] = []
    async for item in source.events(query, TargetStatus()):
        assert isinstance(item, list) and item  # one non-empty list per read buffer
        events.extend(item)
    return events


def window(since: int | None = None, until: int | None = None, **more: Any) -> Query:
    return Query(
        since=iso_from_epoch(since) if since is not None else None,
        until=iso_from_epoch(until) if until is not None else None,
        **more,
    )


def test_window_exact_every_field_newest_first(servers: list[Server]) -> None:
    server = servers[0]
    # 'since' falls on an out-of-order record's time: kept; its neighbours are checked too
    boundary = server.system[129].time_generated
    query = window(since=boundary, until=NOW - 3600)
    events = asyncio.run(read(server.url(), query))
    assert [shape(event) for event in events] == server.expect(query)
    ids = [cast(int, event.record_id) for event in events]  # every RPC record has a number
    assert ids == sorted(ids, reverse=True) and len(ids) > 50


def test_whole_log(servers: list[Server]) -> None:
    server = servers[1]
    events = asyncio.run(read(server.url(), Query()))
    assert [shape(event) for event in events] == server.expect(Query())


def test_default_session_is_encrypted(servers: list[Server]) -> None:
    assert _protection(servers[0].url()) == "encrypted (AES-128-CCM)"


def _protection(url: str) -> str:
    """How a session to ``url`` protects its messages, once bound."""
    session = bound_session(url)
    try:
        return session.protection
    finally:
        session.close()


def test_three_servers_side_by_side(servers: list[Server]) -> None:
    query = window(since=NOW - 7200)
    targets = [server.url() for server in servers]
    events, outcomes = run.sweep(targets, query=query)
    assert [(o.target, o.status, o.events) for o in outcomes] == [
        (server.url(), "ok", len(server.expect(query))) for server in servers
    ]
    for server in servers:
        got = [shape(e) for e in events if e.target == server.url()]
        assert got == server.expect(query)
        assert {e["computer"] for e in got} == {server.system[0].computer}


def test_filters_and_limit(servers: list[Server]) -> None:
    server = servers[2]
    query = window(levels=frozenset({"error", "audit_failure"}), event_ids=((1000, 1020),))
    events = asyncio.run(read(server.url(), query))
    assert [shape(e) for e in events] == [
        e for e in server.expect(Query()) if query.matches(Event(**e, collected_at=""))
    ]
    assert events and {e.level for e in events} <= {"error", "audit_failure"}
    limited = asyncio.run(read(server.url(), Query(limit=7)))
    assert [shape(e) for e in limited] == server.expect(Query())[:7]


def test_log_flag_reads_those_logs_merged(servers: list[Server]) -> None:
    server = servers[0]
    query = window(since=NOW - 3000, logs=("System", "application"))
    events = asyncio.run(read(server.url("Security"), query))
    assert {e.log for e in events} == {"System", "application"}
    for log in ("System", "application"):
        ids = [cast(int, e.record_id) for e in events if e.log == log]
        assert ids == sorted(ids, reverse=True)
    assert sum(e.log == "application" for e in events) == 30
    # merged newest first (System's few out-of-order records aside)
    in_order = [
        e.time for e in events if e.log == "application" or e.data["time_written"] <= e.time
    ]
    assert in_order == sorted(in_order, reverse=True)
    assert events[0].time == max(e.time for e in events)


def test_empty_log(servers: list[Server]) -> None:
    events, outcomes = run.sweep([servers[0].url("Empty")])
    assert events == [] and outcomes[0].status == "ok"


def one_outcome(target: str, timeout: float = 5.0) -> Outcome:
    _, outcomes = run.sweep([target], Settings.of(win=WinOptions(connect_timeout=timeout)))
    (outcome,) = outcomes
    assert outcome.error is not None and "\n" not in outcome.error
    assert PASSWORD not in outcome.line() and NOBODY_PASSWORD not in outcome.line()
    return outcome


def test_nt_hash_instead_of_password(
    servers: list[Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVENTSWEEP_PASSWORD")
    monkeypatch.setenv("EVENTSWEEP_NTHASH", compute_nthash(PASSWORD).hex())
    events = asyncio.run(read(servers[0].url(), window(since=NOW - 3600)))
    assert [shape(e) for e in events] == servers[0].expect(window(since=NOW - 3600))


def test_credentials_file(
    servers: list[Server], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EVENTSWEEP_PASSWORD")
    creds = tmp_path / "credentials"
    creds.write_text(f"[127.0.0.*]\nuser = root\npassword = {PASSWORD}\n")
    creds.chmod(0o600)
    target = f"win://127.0.0.1:{servers[1].samba.port}/System"  # the user comes from the file
    settings = Settings.of(win=WinOptions(connect_timeout=10, credentials_file=str(creds)))
    events, outcomes = run.sweep([target], settings, window(since=NOW - 3600))
    assert outcomes[0].status == "ok"
    assert [shape(e) for e in events] == servers[1].expect(window(since=NOW - 3600), target)


def test_wrong_password(servers: list[Server], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSWEEP_PASSWORD", "not-the-password")
    with pytest.raises(AuthError, match="logon failure as root"):
        asyncio.run(read(servers[0].url(), Query()))
    outcome = one_outcome(servers[0].url())
    assert outcome.status == "error" and str(outcome.error).startswith("auth: logon failure")


def test_unknown_log(servers: list[Server]) -> None:
    with pytest.raises(OpenError, match="no log 'Nope'"):
        asyncio.run(read(servers[0].url("Nope"), Query()))
    assert one_outcome(servers[0].url("Nope")).status == "error"


def test_access_denied(servers: list[Server], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSWEEP_PASSWORD", NOBODY_PASSWORD)
    with pytest.raises(OpenError, match="access denied to log 'Security' for nobody"):
        asyncio.run(read(servers[0].url("Security", user="nobody"), Query()))
    readable = asyncio.run(read(servers[0].url("Application", user="nobody"), Query()))
    assert len(readable) == 50


def test_closed_port() -> None:
    target = f"win://root@127.0.0.1:{free_port()}/System"
    with pytest.raises(ConnectError, match="connection refused"):
        asyncio.run(read(target, Query()))
    assert str(one_outcome(target).error).startswith("connect: connection refused")


def test_name_not_found() -> None:
    outcome = one_outcome("win://root@no-such-host.invalid/System")
    assert outcome.status == "error" and "host name not found" in str(outcome.error)


def test_silent_listener_times_out_in_time() -> None:
    with silent_listener() as listener:  # accepts TCP (the kernel does), never answers SMB
        target = f"win://root@127.0.0.1:{listener.getsockname()[1]}/System"
        started = time.monotonic()
        outcome = one_outcome(target, timeout=1.0)
        elapsed = time.monotonic() - started
    assert outcome.status == "timeout" and "no answer" in str(outcome.error)
    assert 0.9 < elapsed < 4.0  # the 1 s timeout, not the protocol's own (far longer)


@dataclass
class AfterFirst:
    """Reads ``inner`` and does ``act`` to the server once the first events have arrived."""

    inner: Source
    act: Callable[[], None]

    @property
    def target(self) -> str:
        return self.inner.target

    async def events(
        self, query: Query, status: TargetStatus
    ) -> AsyncGenerator[Event | list[Event] | Batch, None]:
        first = True
        async for item in self.inner.events(query, status):
            yield item
            if first:
                first = False
                self.act()


def _freeze(samba: Samba) -> None:
    for pid in samba.pids:
        os.killpg(pid, signal.SIGSTOP)


def test_stalled_server_ends_at_the_engine_deadline(tmp_path: Path) -> None:
    server = start(tmp_path, 8, system_records=3000)
    try:
        (inner,) = sources(server.url())
        started = time.monotonic()
        events, outcomes = asyncio.run(
            collect([AfterFirst(inner, lambda: _freeze(server.samba))], Query(), timeout=1.5)
        )
        elapsed = time.monotonic() - started
    finally:
        for pid in server.samba.pids:
            os.killpg(pid, signal.SIGCONT)
        server.samba.stop()
    (outcome,) = outcomes
    assert outcome.status == "timeout" and 0 < len(events) < 3000
    assert elapsed < 5.0  # the 1.5 s deadline, not a hang (loaded machines are slow to stop)


def test_server_killed_mid_read_is_partial(tmp_path: Path) -> None:
    server = start(tmp_path, 9, system_records=3000)
    try:
        (inner,) = sources(server.url())
        events, outcomes = asyncio.run(
            collect([AfterFirst(inner, server.samba.kill_smbd)], Query())
        )
    finally:
        server.samba.stop()
    (outcome,) = outcomes
    assert outcome.status == "partial" and outcome.error is not None
    assert outcome.error.startswith("read: server gone while reading log 'System'")
    assert 0 < len(events) < 3000 and outcome.events == len(events)
    assert [shape(e) for e in events] == server.expect(Query())[: len(events)]


@pytest.mark.parametrize(
    ("options", "protection"),
    [
        ({"server smb encrypt": "off", "server signing": "mandatory"}, "signed (AES-CMAC)"),
        ({"server max protocol": "SMB2_10", "server signing": "mandatory"},
         "signed (HMAC-SHA256)"),
        ({"server max protocol": "SMB2_02", "server signing": "mandatory"},
         "signed (HMAC-SHA256)"),
    ],
)  # fmt: skip
def test_signed_sessions(options: dict[str, str], protection: str) -> None:
    """The default session above is encrypted; signed ones take the other branch of the pipe."""
    samba = Samba(instance_root(), logs=("System",), users={"root": PASSWORD}, options=options)
    try:
        samba.start()
        written = system_log(5, 400)
        numbers = samba.write("System", written)
        assert _protection(samba.url()) == protection
        events = asyncio.run(read(samba.url(), Query()))
    finally:
        samba.stop()
        shutil.rmtree(samba.root, ignore_errors=True)
    assert [shape(e) for e in events] == Server(samba, written, numbers).expect(Query())


def test_cli_sweep(servers: list[Server], capfd: pytest.CaptureFixture[str]) -> None:
    from eventsweep import cli

    targets = [server.url("Security") for server in servers[:2]]
    since = iso_from_epoch(NOW - 3 * 3600)  # on a record's time: it is in
    argv = ["sweep", *targets, "--log", "System", "--since", since, "--format", "jsonl"]
    assert cli.main([*argv, "--no-progress", "--level", "error,warning"]) == 0
    out, err = capfd.readouterr()
    got = [json.loads(line) for line in out.splitlines()]
    for target, server in zip(targets, servers[:2], strict=True):
        wanted = [
            {**e, "target": target}
            for e in server.expect(Query(), target)
            if e["time"] >= since and e["level"] in ("error", "warning")
        ]
        assert len(wanted) > 10
        assert [{k: v for k, v in e.items() if k != "collected_at"} for e in got
                if e["target"] == target] == wanted  # fmt: skip
    assert err.count("ok ") == 2
