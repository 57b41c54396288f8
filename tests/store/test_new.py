"""``--new`` against the real sources the suite starts: only what arrived since the last sweep
of each target; a cleared, rotated or replaced log is noticed, said, and read from --since.

Journals are made and appended to with systemd-journal-remote (tests/testbed/journals.py),
.evtx files written with EvtxWriter, Samba logs written straight into their tdb while the
server runs (tests/testbed/samba.py), and ssh:// reads a real sshd's journals.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsweep.cli import main
from eventsweep.model import Event, iso_from_epoch
from eventsweep.sinks.evtx import EvtxWriter
from eventsweep.store.reader import Filter, Reader
from tests.testbed import sshd
from tests.testbed.journals import Entry, make_journal
from tests.testbed.samba import LogRecord, Samba, instance_root

NOW = int(time.time()) // 60 * 60
T0 = (NOW - 3 * 3600) * 1_000_000  # journal entries: three hours ago on


def sweep(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, list[dict[str, object]], str]:
    code = main(["sweep", *argv, "--format", "jsonl"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def messages(events: list[dict[str, object]]) -> list[object]:
    return [event["message"] for event in events]


def entries(first: int, count: int, text: str = "entry") -> list[Entry]:
    return [
        Entry(T0 + n * 1_000_000, f"{text} {n}", host="host1") for n in range(first, first + count)
    ]


# ---- journal: -----------------------------------------------------------------------------


def test_journal_new_returns_exactly_the_appended_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], private_store: Path
) -> None:
    directory = make_journal(tmp_path / "journal", entries(0, 20))
    target = f"journal:{directory}"
    code, events, _ = sweep(capsys, target, "--since", "1d")
    assert code == 0 and len(events) == 20
    code, events, err = sweep(capsys, target, "--new")
    assert code == 0 and events == [] and "events=0" in err
    make_journal(directory, entries(20, 5, "appended"))
    code, events, _ = sweep(capsys, target, "--new", "--since", "1m")  # older than the window
    assert messages(events) == [f"appended {n}" for n in range(24, 19, -1)]  # newest first
    code, events, _ = sweep(capsys, target, "--new", "--level", "error")
    assert events == []
    assert Reader(str(private_store)).count(Filter(targets=(target,))) == 25


def test_a_rotated_journal_is_reported_and_read_from_since(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = make_journal(tmp_path / "journal", entries(0, 10))
    target = f"journal:{directory}"
    sweep(capsys, target, "--since", "1d")
    shutil.rmtree(directory)
    make_journal(directory, entries(100, 3, "after rotation"))  # a new seqnum id
    code, events, err = sweep(capsys, target, "--new", "--since", "1d")
    assert code == 0 and len(events) == 3
    assert "journal rotated, vacuumed or replaced: the bookmarked entry" in err
    assert "read from --since instead" in err


# ---- ssh:// -------------------------------------------------------------------------------

WEB = "127.0.0.2"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.Fleet]:
    with sshd.running(tmp_path_factory.mktemp("fleet"), [WEB]) as running:
        make_journal(running.journal_dir(WEB), entries(0, 30))
        yield running


@pytest.mark.servers
def test_ssh_new_resumes_at_the_cursor_on_the_host(
    fleet: sshd.Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    target = fleet.target(WEB)
    options = ["--known-hosts", str(fleet.known_hosts), "--ssh-config", str(fleet.ssh_config)]
    code, events, _ = sweep(capsys, target, "--since", "1d", *options)
    assert code == 0 and len(events) == 30
    make_journal(fleet.journal_dir(WEB), entries(30, 4, "new on web"))
    code, events, _ = sweep(capsys, target, "--new", *options)
    assert code == 0 and messages(events) == [f"new on web {n}" for n in range(33, 29, -1)]
    calls = (fleet.journals / "calls.log").read_text().splitlines()
    assert "--cursor=s=" in calls[-1] and "--since" not in calls[-1]


# ---- .evtx ---------------------------------------------------------------------------------


def evtx_events(first: int, count: int, text: str = "record") -> list[Event]:
    return [
        Event(
            time=iso_from_epoch(NOW - 7200 + n),
            target="",
            computer="WS01",
            log="Application",
            record_id=900_000 + n,  # EventRecordID; the record headers count 1, 2, 3…
            event_id=1000 + n % 5,
            level="info",
            source="Test",
            category=0,
            message=f"{text} {n}",
            data={"n": n},
        )
        for n in range(first, first + count)
    ]


def write_evtx(path: Path, events: list[Event]) -> None:
    with EvtxWriter(path) as writer:
        for event in events:
            writer.write(event)


def test_evtx_new_parses_only_what_the_file_gained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Application.evtx"
    old = evtx_events(0, 3000)  # several chunks
    write_evtx(path, old)
    code, events, _ = sweep(capsys, str(path), "--since", "1d")
    assert code == 0 and len(events) == 3000
    code, events, _ = sweep(capsys, str(path), "--new")
    assert events == []
    write_evtx(path, old + evtx_events(3000, 100, "gained"))  # the same records, and more
    code, events, err = sweep(capsys, str(path), "--new", "--since", "1m")
    assert code == 0 and messages(events) == [f"gained {n}" for n in range(3099, 2999, -1)]
    assert "read from --since" not in err


def test_an_evtx_file_replaced_is_reported_and_read_from_since(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Application.evtx"
    write_evtx(path, evtx_events(0, 50))
    sweep(capsys, str(path), "--since", "1d")
    cleared = evtx_events(0, 10, "after clearing")  # ids start again: record 50 is gone
    write_evtx(path, cleared)
    code, events, err = sweep(capsys, str(path), "--new", "--since", "1d")
    assert code == 0 and len(events) == 10
    assert "log cleared or replaced" in err and "read from --since instead" in err
    # the same number of records, other ones: record 50 is another record
    write_evtx(path, evtx_events(0, 10, "after clearing"))
    sweep(capsys, str(path), "--new", "--since", "1d")
    moved = [
        Event(**{**e.to_dict(), "time": iso_from_epoch(NOW - 3600 + i)})
        for i, e in enumerate(evtx_events(0, 10, "moved"))
    ]
    write_evtx(path, moved)
    code, events, err = sweep(capsys, str(path), "--new", "--since", "1d")
    assert len(events) == 10 and "is another record than the bookmark's" in err


# ---- win:// ----------------------------------------------------------------------------------

PASSWORD = "Root-pw-1"


@pytest.fixture
def samba(monkeypatch: pytest.MonkeyPatch) -> Iterator[Samba]:
    monkeypatch.setenv("EVENTSWEEP_PASSWORD", PASSWORD)
    root = instance_root()
    server = Samba(root, users={"root": PASSWORD}).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def records(first: int, count: int, text: str = "record") -> list[LogRecord]:
    return [
        LogRecord(NOW - 3600 + n, event_id=7000 + n % 3, strings=(f"{text} {n}",))
        for n in range(first, first + count)
    ]


@pytest.mark.servers
def test_win_new_reads_back_to_the_bookmark_only(
    samba: Samba, capsys: pytest.CaptureFixture[str]
) -> None:
    samba.write("System", records(0, 200))
    code, events, _ = sweep(capsys, samba.url(), "--since", "1d")
    assert code == 0 and len(events) == 200
    code, events, _ = sweep(capsys, samba.url(), "--new")
    assert events == []
    samba.write("System", records(200, 7, "new"))
    code, events, err = sweep(capsys, samba.url(), "--new", "--since", "1m")
    assert code == 0, err
    assert messages(events) == [f"new {n}" for n in range(206, 199, -1)]
    assert [event["record_id"] for event in events] == list(range(207, 200, -1))


@pytest.mark.servers
def test_a_cleared_win_log_is_reported_and_read_from_since(
    samba: Samba, capsys: pytest.CaptureFixture[str]
) -> None:
    samba.write("System", records(0, 50))
    sweep(capsys, samba.url(), "--since", "1d")
    samba.stop()
    samba.tdb("System").unlink()  # cleared: numbers start again at 1
    samba.write("System", records(0, 5, "after clearing"))
    samba.start()
    deadline = time.monotonic() + 30
    while sweep(capsys, samba.url(), "--no-store")[0] != 0:  # the restarted server answers
        assert time.monotonic() < deadline, "samba did not come back"
        time.sleep(0.5)
    code, events, err = sweep(capsys, samba.url(), "--new", "--since", "1d")
    assert code == 0, err
    assert messages(events) == [f"after clearing {n}" for n in range(4, -1, -1)]
    assert "log 'System' cleared: its records end below the bookmark (50)" in err


def test_an_evtx_log_that_wrapped_past_the_bookmark_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Security.evtx"
    write_evtx(path, evtx_events(0, 100))
    sweep(capsys, str(path), "--since", "1d")
    with EvtxWriter(path) as writer:  # a circular log: its oldest records are overwritten
        writer.records = 5000  # the record headers now count from 5001
        for event in evtx_events(200, 20, "wrapped"):
            writer.write(event)
    code, events, err = sweep(capsys, str(path), "--new", "--since", "1d")
    assert code == 0 and len(events) == 20
    assert "log wrapped past the bookmark: record 100 was overwritten" in err
