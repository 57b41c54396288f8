"""The journalctl command and the JSON → Event mapping, without any host."""

from __future__ import annotations

import re
import shlex
import subprocess
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsweep.errors import AuthError, OpenError, ReadError
from eventsweep.model import EncodedEvent, Query, TargetStatus, iso, iso_from_epoch_us, json_line
from eventsweep.query import build_query
from eventsweep.sources.journald import (
    Journalctl,
    build_argv,
    check_exit,
    command_line,
    encoded,
    follow_argv,
    iso_us,
    journal_time,
    source_matches,
    to_event,
    wanted_values,
)

HOSTILE = (
    "; touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "' ; touch {marker} ; '",
    '" ; touch {marker} ; "',
    "\n touch {marker}\n",
    "a && touch {marker} || b",
    "| touch {marker}",
    "; rm -rf /",
)


def _argv(query: Query, journalctl: Journalctl | None = None) -> list[str]:
    argv = build_argv(query, journalctl or Journalctl())
    assert argv is not None
    return argv


def test_plain_query_is_newest_first_json_with_every_field() -> None:
    assert _argv(Query()) == ["journalctl", "--output=json", "--all", "--reverse", "--no-pager"]


def test_follow_streams_from_the_window_or_the_cursor() -> None:
    base = ["journalctl", "--output=json", "--all", "--no-pager", "--follow"]
    query = Query(
        since="2024-01-02T03:04:05.123456Z",
        levels=frozenset({"error"}),
        sources=frozenset({"sshd"}),
        grep=re.compile("x"),
        limit=5,
    )
    window = [*base, "--since=2024-01-02 03:04:05.123456 UTC", "--priority=3..3"]
    assert follow_argv(query, Journalctl()) == window  # sources, grep, limit: checked here
    cursor = "s=abc;i=7;b=0123"
    assert follow_argv(query, Journalctl(), cursor) == [*base, f"--cursor={cursor}"]
    assert follow_argv(Query(), Journalctl()) == [*base, "--lines=all"]  # not the last 10
    assert follow_argv(Query(event_ids=((1, 1),)), Journalctl()) is None
    remote = Journalctl(sudo=True, location=("--directory", "/j"), extra=("--unit", "x"))
    assert follow_argv(Query(), remote)[:7] == [  # type: ignore[index]
        "sudo", "-n", "--", "journalctl", "--directory", "/j", "--unit"
    ]  # fmt: skip


def test_window_is_pushed_as_utc_times() -> None:
    query = Query(since="2024-01-02T03:04:05.123456Z", until="2024-01-02T04:00:00.000000Z")
    argv = _argv(query)
    assert "--since=2024-01-02 03:04:05.123456 UTC" in argv
    assert "--until=2024-01-02 04:00:00.000000 UTC" in argv
    assert journal_time("2024-12-31T23:59:59.999999Z") == "2024-12-31 23:59:59.999999 UTC"


@pytest.mark.parametrize(
    ("levels", "priority"),
    [
        ({"critical"}, "0..2"),
        ({"error"}, "3..3"),
        ({"critical", "error", "warning"}, "0..4"),
        ({"error", "warning"}, "3..4"),
        ({"critical", "warning"}, "0..4"),  # not contiguous: the enclosing range
        ({"error", "audit_success"}, "3..3"),
        ({"verbose"}, "7..7"),
    ],
)
def test_levels_become_a_priority_range(levels: set[str], priority: str) -> None:
    assert f"--priority={priority}" in _argv(Query(levels=frozenset(levels)))


@pytest.mark.parametrize("levels", [{"info"}, {"error", "info"}, {"info", "verbose"}])
def test_no_priority_range_when_info_is_wanted(levels: set[str]) -> None:
    """Entries without a PRIORITY are info; ``-p`` would drop them."""
    argv = _argv(Query(levels=frozenset(levels), limit=3))
    assert not any(arg.startswith(("--priority", "--lines")) for arg in argv)


def test_limit_is_pushed_only_when_every_filter_is_exact() -> None:
    assert "--lines=5" in _argv(Query(limit=5, levels=frozenset({"error", "warning"})))
    every = frozenset({"critical", "error", "warning", "info", "verbose"})
    assert _argv(Query(limit=5, levels=every))[-1] == "--lines=5"
    assert not any(a.startswith("--lines") for a in _argv(Query(limit=5, grep=re.compile("x"))))
    gap = Query(limit=5, levels=frozenset({"critical", "warning"}))
    assert not any(a.startswith("--lines") for a in _argv(gap))
    named = Query(limit=5, sources=frozenset({"sshd"}))
    argv = build_argv(named, Journalctl(), [("SYSLOG_IDENTIFIER", "sshd")])
    assert argv is not None and not any(a.startswith("--lines") for a in argv)


def test_a_limit_journalctl_cannot_take_is_left_to_the_query() -> None:
    assert _argv(Query(limit=2**31 - 1))[-1] == f"--lines={2**31 - 1}"
    assert not any(a.startswith("--lines") for a in _argv(Query(limit=10**30)))


def test_times_before_1970_are_the_epoch_for_journalctl() -> None:
    argv = _argv(Query(since="0999-01-01T00:00:00.000000Z", until="1969-12-31T23:59:59.000000Z"))
    assert "--since=1970-01-01 00:00:00.000000 UTC" in argv
    assert "--until=1970-01-01 00:00:00.000000 UTC" in argv


def test_nothing_to_run_when_no_entry_can_match() -> None:
    assert build_argv(Query(event_ids=((4624, 4624),)), Journalctl()) is None
    assert build_argv(Query(logs=("Security",)), Journalctl()) is None
    assert build_argv(Query(levels=frozenset({"audit_failure"})), Journalctl()) is None
    assert build_argv(Query(sources=frozenset({"sshd"})), Journalctl(), []) is None
    assert build_argv(Query(logs=("JOURNAL",)), Journalctl()) is not None


def test_sources_become_field_matches_joined_by_or() -> None:
    found = [("SYSLOG_IDENTIFIER", "CRON"), ("SYSLOG_IDENTIFIER", "cron"), ("_COMM", "cron")]
    assert source_matches(found) == [
        "SYSLOG_IDENTIFIER=CRON",
        "SYSLOG_IDENTIFIER=cron",
        "+",
        "_COMM=cron",
    ]
    query = Query(sources=frozenset({"cron"}))
    assert wanted_values(query, "_COMM", ["CRON", "crond", "Cron"]) == [
        ("_COMM", "CRON"),
        ("_COMM", "Cron"),
    ]


def test_sudo_program_location_and_extra_arguments() -> None:
    journalctl = Journalctl(
        program="/usr/bin/journalctl",
        sudo=True,
        location=("--directory", "/var/log/journal/remote"),
        extra=("--unit", "nginx.service"),
    )
    assert _argv(Query(), journalctl)[:8] == [
        "sudo",
        "-n",
        "--",
        "/usr/bin/journalctl",
        "--directory",
        "/var/log/journal/remote",
        "--unit",
        "nginx.service",
    ]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_values_stay_single_words_and_never_run(template: str, tmp_path: object) -> None:
    marker = f"{tmp_path}/marker"
    value = template.format(marker=marker)
    journalctl = Journalctl(program="echo", location=("--directory", value), extra=(value,))
    found = [("SYSLOG_IDENTIFIER", value), ("_COMM", value)]
    argv = build_argv(Query(sources=frozenset({value.lower()})), journalctl, found)
    assert argv is not None
    line = command_line(argv)
    assert shlex.split(line) == argv
    result = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True)
    assert result.stdout == " ".join(argv[1:]) + "\n"
    assert not (tmp_path / "marker").exists()  # type: ignore[operator]


RECORD = {
    "__CURSOR": "s=02b2;i=1f;b=0123;m=60a2;t=60a2;x=d857",
    "__REALTIME_TIMESTAMP": "1700000000123456",
    "__MONOTONIC_TIMESTAMP": "99",
    "_BOOT_ID": "0123456789abcdef0123456789abcdef",
    "_HOSTNAME": "web01",
    "PRIORITY": "3",
    "SYSLOG_IDENTIFIER": "sshd",
    "_SYSTEMD_UNIT": "ssh.service",
    "_PID": "42",
    "MESSAGE": "Failed password for root",
}


def test_record_maps_to_event() -> None:
    event = to_event(dict(RECORD), "ssh://web01", "fallback", "2024-01-01T00:00:00.000000Z")
    assert event.time == "2023-11-14T22:13:20.123456Z"
    assert (event.target, event.computer, event.log) == ("ssh://web01", "web01", "journal")
    assert (event.record_id, event.event_id, event.category) == (0x1F, None, None)
    assert (event.level, event.source, event.message) == ("error", "sshd", RECORD["MESSAGE"])
    assert event.collected_at == "2024-01-01T00:00:00.000000Z"
    assert event.data == {
        "__CURSOR": RECORD["__CURSOR"],
        "__MONOTONIC_TIMESTAMP": "99",
        "_BOOT_ID": RECORD["_BOOT_ID"],
        "PRIORITY": "3",
        "_SYSTEMD_UNIT": "ssh.service",
        "_PID": "42",
    }


@pytest.mark.parametrize(
    "microseconds", [0, 1, 999_999, 1_700_000_000_123_456, 4_102_444_799_999_999, -1]
)
def test_time_text_is_the_model_s(microseconds: int) -> None:
    assert iso_us(microseconds) == iso_from_epoch_us(microseconds)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=-(10**16), max_value=253_402_300_799_999_999))
def test_time_text_is_exact(microseconds: int) -> None:
    """The cached text up to the minute plus the seconds is the datetime's own text."""
    assert iso_from_epoch_us(microseconds) == iso(EPOCH + timedelta(microseconds=microseconds))


ODD_RECORDS = [
    RECORD,
    {**RECORD, "__SEQNUM": "77", "PRIORITY": "7"},
    {**RECORD, "MESSAGE": list(b"bin\xff\x00ok"), "_HOSTNAME": None, "TAG": ["a", list(b"b")]},
    {k: v for k, v in RECORD.items() if k not in ("SYSLOG_IDENTIFIER", "PRIORITY", "_HOSTNAME")},
    {**RECORD, "PRIORITY": ["3", "4"], "SYSLOG_IDENTIFIER": list(b"sshd"), "X": None},
    {"MESSAGE": "no time"},
    ["not", "an", "object"],
]
QUERIES = [
    Query(),
    build_query(since=None, levels=["error"]),
    build_query(since=None, sources=["SSHD"], grep="Failed"),
    build_query(since=None, logs=["journal"]),
    build_query(since=None, logs=["System"]),
    Query(since="2023-11-14T22:13:21.000000Z"),
]


@pytest.mark.parametrize("query", QUERIES)
def test_encoded_lines_are_the_events_json_lines(query: Query) -> None:
    """The hot loop (fields as a dict, matched and dumped) gives, byte for byte, the JSON
    Lines of the events the mapping makes, for the same records the query matches."""
    lines = [orjson.dumps(record) for record in ODD_RECORDS] + [b"{not json", b"  "]
    status = TargetStatus()
    batch = encoded(lines, "t", "fallback", query, status)
    collected_at = batch[0].collected_at if batch else ""
    expected = []
    for record in ODD_RECORDS:
        if isinstance(record, dict) and "__REALTIME_TIMESTAMP" in record:
            event = to_event(record, "t", "fallback", collected_at)
            if query.matches(event):
                expected.append(json_line(event))
    assert all(type(event) is EncodedEvent for event in batch)
    assert [event.line for event in batch] == expected  # type: ignore[attr-defined]
    assert status.warnings == 3  # no time, not an object, not JSON


def test_seqnum_wins_over_the_cursor() -> None:
    event = to_event({**RECORD, "__SEQNUM": "77"}, "t", "c", "")
    assert event.record_id == 77
    assert "__SEQNUM" not in event.data


@pytest.mark.parametrize(
    ("priority", "level"),
    [("0", "critical"), ("1", "critical"), ("2", "critical"), ("3", "error"),
     ("4", "warning"), ("5", "info"), ("6", "info"), ("7", "verbose"), ("9", "info"),
     (None, "info")],
)  # fmt: skip
def test_priority_to_level(priority: str | None, level: str) -> None:
    record = (
        {**RECORD, "PRIORITY": priority}
        if priority
        else {k: v for k, v in RECORD.items() if k != "PRIORITY"}
    )
    assert to_event(record, "t", "c", "").level == level


def test_source_falls_back_to_unit_then_command() -> None:
    record = {k: v for k, v in RECORD.items() if k != "SYSLOG_IDENTIFIER"}
    assert to_event(record, "t", "c", "").source == "ssh.service"
    record.pop("_SYSTEMD_UNIT")
    assert to_event({**record, "_COMM": "sshd"}, "t", "c", "").source == "sshd"
    assert to_event(record, "t", "c", "").source == ""


def test_binary_and_multiple_values() -> None:
    record = {
        **RECORD,
        "MESSAGE": list(b"bin\xff\x00ok"),
        "_HOSTNAME": None,
        "TAG": ["a", list(b"b\xfe")],
    }
    event = to_event(record, "t", "fallback", "")
    assert event.message == "bin\ufffd\x00ok"
    assert event.computer == "fallback"
    assert event.data["TAG"] == ["a", "b\ufffd"]


def test_record_without_time_is_refused() -> None:
    with pytest.raises(KeyError):
        to_event({"MESSAGE": "x"}, "t", "c", "")


@pytest.mark.parametrize(
    ("code", "stderr", "error", "text"),
    [
        (127, "bash: line 1: journalctl: command not found", OpenError, "not found on the host"),
        (1, "Failed to open /var/log/x: No such file or directory", OpenError, "no journal"),
        (1, "sudo: a password is required", AuthError, "sudo refused"),
        (1, "journalctl: unrecognized option '--bogus'", ReadError, "exit 1"),
        (None, "", ReadError, "without an exit status"),
    ],
)
def test_exit_status_becomes_one_clear_error(
    code: int | None, stderr: str, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        check_exit(code, stderr, Journalctl(sudo=True))
    check_exit(0, "Hint: you are not seeing all messages", Journalctl())
