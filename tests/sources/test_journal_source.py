"""The journal: source against real journal files made by systemd-journal-remote."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventsweep.errors import OpenError
from eventsweep.model import Event, Outcome, Query, TargetStatus, iso_from_epoch_us
from eventsweep.query import build_query
from eventsweep.sources import Settings, plan
from eventsweep.sources.journal import JournalSource
from eventsweep.sources.journald import Journalctl
from tests.testbed import run
from tests.testbed.journals import Entry, make_journal

T0 = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z
ENTRIES = [
    Entry(T0, "Failed password for root", priority=3, identifier="sshd", host="web01"),
    Entry(T0 + 1, "one microsecond later", priority=6, identifier="sshd", host="web01"),
    Entry(T0 + 1_000_000, "(root) CMD (run-parts)", priority=6, identifier="CRON"),
    Entry(T0 + 2_000_000, "no identifier", priority=4, identifier=None, unit="foo.service",
          comm="foo"),
    Entry(T0 + 3_000_000, b"bin\xff\x00ary", priority=0, identifier="kernel"),
    Entry(T0 + 4_000_000, "multi\nline\nmessage", priority=5, identifier="app"),
    Entry(T0 + 5_000_000, "x" * 6000, priority=7, identifier="app"),
    Entry(T0 + 6_000_000, "no priority", priority=None, identifier="app",
          extra={"CODE_FILE": "main.c", "BLOB": b"\x01\x02"}),
    Entry(T0 + 7_000_000, "critical 2", priority=2, identifier="Kernel"),
    Entry(T0 + 8_000_000, "warning", priority=4, identifier="NetworkManager"),
]  # fmt: skip


@pytest.fixture(scope="module")
def journal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_journal(tmp_path_factory.mktemp("journal"), ENTRIES)


def read(target: str, query: Query) -> tuple[list[Event], list[Outcome]]:
    return run.sweep([target], query=query, timeout=30.0)


def messages(events: list[Event]) -> list[str]:
    return [event.message for event in events]


def test_every_entry_comes_back_as_written_newest_first(journal_dir: Path) -> None:
    target = f"journal:{journal_dir}"
    events, outcomes = read(target, Query())
    assert [outcome.status for outcome in outcomes] == ["ok"]
    newest_first = sorted(ENTRIES, key=lambda entry: -entry.time_us)
    assert messages(events) == [entry.text for entry in newest_first]
    for event, entry in zip(events, newest_first, strict=True):
        assert event.time == iso_from_epoch_us(entry.time_us)
        assert (event.target, event.log, event.event_id) == (target, "journal", None)
        assert event.computer == entry.host
        assert event.source == (entry.identifier or entry.unit)
    assert [event.record_id for event in events] == list(range(len(ENTRIES), 0, -1))
    levels = [event.level for event in events]
    assert levels == ["warning", "critical", "info", "verbose", "info", "critical", "warning",
                      "info", "info", "error"]  # fmt: skip
    no_priority = events[2]
    assert no_priority.data["CODE_FILE"] == "main.c"
    assert no_priority.data["BLOB"] == "\x01\x02"
    assert "MESSAGE" not in no_priority.data and "_HOSTNAME" not in no_priority.data


def test_a_journal_file_reads_like_its_directory(journal_dir: Path) -> None:
    events, _ = read(f"journal:{journal_dir / 'system.journal'}", Query())
    assert len(events) == len(ENTRIES)


def test_window_is_exact_to_the_microsecond(journal_dir: Path) -> None:
    query = Query(since=iso_from_epoch_us(T0 + 1), until=iso_from_epoch_us(T0 + 3_000_000))
    events, _ = read(f"journal:{journal_dir}", query)
    assert messages(events) == [
        "bin\ufffd\x00ary",
        "no identifier",
        "(root) CMD (run-parts)",
        "one microsecond later",
    ]


def test_levels_sources_grep_and_limit(journal_dir: Path) -> None:
    target = f"journal:{journal_dir}"
    now = datetime(2023, 11, 15, tzinfo=UTC)
    critical = build_query(since="1d", levels=["critical"], now=now)
    assert messages(read(target, critical)[0]) == ["critical 2", "bin\ufffd\x00ary"]
    gap = build_query(since=None, levels=["critical", "warning"])
    assert messages(read(target, gap)[0]) == [
        "warning", "critical 2", "bin\ufffd\x00ary", "no identifier"]  # fmt: skip
    named = build_query(since=None, sources=["kernel", "cron", "networkmanager", "foo.service"])
    assert messages(read(target, named)[0]) == [
        "warning", "critical 2", "bin\ufffd\x00ary", "no identifier",
        "(root) CMD (run-parts)"]  # fmt: skip
    grep = build_query(since=None, grep="^(no|one)")
    assert messages(read(target, grep)[0]) == [
        "no priority", "no identifier", "one microsecond later"]  # fmt: skip
    newest = build_query(since=None, levels=["info"], limit=2)
    assert messages(read(target, newest)[0]) == ["no priority", "multi\nline\nmessage"]
    nothing = build_query(since=None, sources=["absent"])
    events, outcomes = read(target, nothing)
    assert (events, outcomes[0].status) == ([], "ok")


def test_huge_limits_and_early_times_run(journal_dir: Path) -> None:
    target = f"journal:{journal_dir}"
    everything = messages(read(target, build_query(since=None))[0])
    events, outcomes = read(target, build_query(since=None, limit=10**30))
    assert messages(events) == everything and outcomes[0].status == "ok"
    events, outcomes = read(
        target, build_query(since="0999-01-01T00:00Z", until="1969-12-31T00:00Z")
    )
    assert events == [] and outcomes[0].status == "ok"


def test_failures_are_one_clear_line(tmp_path: Path) -> None:
    missing = read(f"journal:{tmp_path / 'absent'}", Query())[1][0]
    assert missing.status == "error"
    assert missing.error is not None and missing.error.startswith("open: no journal: no such")
    not_journal = tmp_path / "notes.txt"
    not_journal.write_text("not a journal\n")
    broken = read(f"journal:{not_journal}", Query())[1][0]
    assert broken.error is not None
    assert broken.error.startswith("open: no journal: Failed to open files: ")


def test_missing_journalctl_is_an_open_error(journal_dir: Path) -> None:
    source = JournalSource("journal:", None, Journalctl(program="/nonexistent/journalctl"))

    async def first() -> None:
        async for _ in source.events(Query(), TargetStatus()):
            pass

    with pytest.raises(OpenError, match="/nonexistent/journalctl not found on this machine"):
        asyncio.run(first())


def test_local_journal_target_runs(tmp_path: Path) -> None:
    (source,) = plan(["journal:"], Settings())
    assert isinstance(source, JournalSource) and source.path is None
    _, outcomes = read("journal:", build_query(since="1m"))
    error = outcomes[0].error or ""
    assert outcomes[0].status in {"ok", "partial"} or error.startswith("open: no journal")
