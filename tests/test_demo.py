"""demo-data: reproducible, realistic, readable by both parsers and by eventsweep's own reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from eventsweep.demo import generate, servers
from eventsweep.model import Event
from eventsweep.model import iso_from_epoch_us as iso_us
from eventsweep.query import build_query
from tests import evtx_readback as rb
from tests.testbed import run

END = "2025-06-01T12:00:00.000000Z"


def sweep(target: Path, since: str | None = None) -> list[Event]:
    events, outcomes = run.sweep([str(target)], query=build_query(since=since))
    assert {outcome.status for outcome in outcomes} == {"ok"}
    return events


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    generate(directory, seed=7, hosts=4, days=3, end=END)
    return directory


@pytest.fixture(scope="module")
def swept(demo: Path) -> list[Event]:
    return sweep(demo)


def test_layout_one_file_per_server_and_log(demo: Path) -> None:
    files = sorted(path.relative_to(demo).as_posix() for path in demo.rglob("*.evtx"))
    assert files == sorted(
        f"{host}/{log}.evtx"
        for host in ("DC01", "FS01", "SQL01", "WEB01")
        for log in ("Security", "System", "Application")
    )


def test_same_seed_and_end_give_the_same_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", seed=3, hosts=2, days=1, end=END)
    second = generate(tmp_path / "b", seed=3, hosts=2, days=1, end=END)
    other = generate(tmp_path / "c", seed=4, hosts=2, days=1, end=END)
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]
    assert [path.read_bytes() for path in first] != [path.read_bytes() for path in other]


def test_realistic_week_of_events(swept: list[Event]) -> None:
    events = swept
    by_log = Counter((event.log, event.source, event.event_id) for event in events)
    assert by_log["Security", "Microsoft-Windows-Security-Auditing", 4624] > 1000
    assert by_log["System", "Service Control Manager", 7036] > 100
    assert by_log["Application", "Application Error", 1000] > 0
    assert {event.computer for event in events} == {
        f"{host}.corp.example.com" for host in ("DC01", "FS01", "SQL01", "WEB01")
    }
    assert {"audit_success", "audit_failure", "info", "warning", "error"} <= {
        event.level for event in events
    }
    assert min(event.time for event in events) >= "2025-05-29T12:00:00"
    assert max(event.time for event in events) < END


def test_a_few_errors_a_day_on_each_server(swept: list[Event]) -> None:
    errors = Counter(
        (event.computer, event.time[:10]) for event in swept if event.level in ("error", "critical")
    )
    whole_days = ("2025-05-30", "2025-05-31")
    for host in servers(4):
        for day in whole_days:
            assert 1 <= errors[host.fqdn, day] <= 15, (host, day)


def test_both_parsers_read_every_record(demo: Path) -> None:
    path = demo / "WEB01" / "System.evtx"  # python-evtx is slow: a small log
    by_rust, by_python = rb.rust(path), rb.python(path)
    assert len(by_rust) == len(by_python) > 200
    for rust, python in zip(by_rust, by_python, strict=True):
        assert rb.same_time(python["time"], rust["time"])
        assert {key: rust[key] for key in ("record_id", "event_id", "provider", "level")} == {
            key: python[key] for key in ("record_id", "event_id", "provider", "level")
        }
        assert list(rust["data"]) == list(python["data"])
        assert rust["message"] == python["message"] and rust["message"]


def test_default_end_is_now_so_recent_windows_find_events(tmp_path: Path) -> None:
    generate(tmp_path, hosts=1, days=1)
    recent = sweep(tmp_path, since="8h")
    assert len(recent) > 100
    assert {event.log for event in recent} == {"Security", "System", "Application"}


def test_size_grows_the_largest_file(tmp_path: Path) -> None:
    size = 6 << 20
    files = generate(tmp_path, hosts=1, days=2, size=size, end=END)
    largest = max(files, key=lambda path: path.stat().st_size)
    assert largest == tmp_path / "DC01" / "Security.evtx"
    assert abs(largest.stat().st_size - size) < size * 0.03
    assert len(rb.rust(largest)) > 5000


def test_many_hosts_get_distinct_names() -> None:
    names = [host.name for host in servers(12)]
    assert len(set(names)) == 12 and names[8:] == ["SRV09", "SRV10", "SRV11", "SRV12"]


def test_iso_text_of_microseconds() -> None:
    assert iso_us(0) == "1970-01-01T00:00:00.000000Z"
    assert iso_us(1_748_779_200_123_456) == "2025-06-01T12:00:00.123456Z"


def test_cli_demo_data_writes_and_lists_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from eventsweep.cli import main

    assert main(["demo-data", str(tmp_path / "demo"), "--seed", "1"]) == 0
    listed = capsys.readouterr().out.split()
    assert len(listed) == 12 and all(Path(name).is_file() for name in listed)
