"""sweep → .evtx → sweep: eventsweep's own reader gets the same events back, field for field.

Documented losses (README, "Writing .evtx"): ``target`` becomes the written file and
``collected_at`` the new reading; event_id/category None read back as 0; a None data value as
``""``; a nested value (list, dict) as its JSON text; characters XML cannot hold as pictures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from eventsweep.model import Event
from eventsweep.query import build_query
from eventsweep.sinks.evtx import EvtxWriter
from tests import evtx_readback as rb
from tests.testbed import run
from tests.testbed.corpus import real_corpus_files


def sweep(targets: list[str], strict: bool = True) -> list[Event]:
    """Every event of the targets; with ``strict``, every target must end ``ok``."""
    events, outcomes = run.sweep(targets, query=build_query(since=None))
    assert not strict or all(outcome.status == "ok" for outcome in outcomes), outcomes
    return events


def as_written(event: Event) -> tuple[Any, ...]:
    """The event as the writer's documented mapping gives it back (target/collected_at apart)."""
    data = {name: _value(value) for name, value in event.data.items()}
    return (
        event.time,
        event.computer,
        event.log,
        event.record_id,
        event.event_id or 0,
        event.level,
        event.source,
        event.category or 0,
        rb.xml_safe(event.message),
        orjson.dumps(data, option=orjson.OPT_SORT_KEYS),
    )


def _value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return rb.xml_safe(orjson.dumps(value).decode())
    return rb.xml_safe(value) if isinstance(value, str) else value


def small(event: Event) -> bool:
    """Records that fit a chunk as UTF-16 text (a few corpus records hold 30k-char hex blobs)."""
    return len(orjson.dumps(event.data)) < 20_000


def test_corpus_sweep_survives_a_round_trip(tmp_path: Path) -> None:
    files = [str(path) for path in real_corpus_files()]
    events = [event for event in sweep(files, strict=False) if small(event)]  # damaged ones too
    assert len(events) > 20_000
    path = tmp_path / "corpus.evtx"
    with EvtxWriter(path) as writer:
        for event in events:
            writer.write(event)
    back = sweep([str(path)])
    assert sorted(map(as_written, back)) == sorted(map(as_written, events))  # idempotent
    assert {event.target for event in back} == {str(path)}


def journal_event(number: int) -> Event:
    return Event(
        time=f"2025-06-0{1 + number % 7}T0{number % 10}:00:00.{number:06}Z",
        target="journal:web01",
        computer="web01",
        log="journal",
        record_id=None if number % 3 else number,
        event_id=None,
        level=("info", "warning", "error", "critical", "verbose")[number % 5],
        source="sshd",
        category=None,
        message=f"Accepted publickey for deploy from 10.0.0.{number % 250} port 22 ssh2",
        data={"_PID": str(1000 + number), "_SYSTEMD_UNIT": "ssh.service", "PRIORITY": "6"},
    )


def test_journal_events_keep_every_field_the_format_can_hold(tmp_path: Path) -> None:
    events = [journal_event(number) for number in range(200)]
    path = tmp_path / "journal.evtx"
    with EvtxWriter(path) as writer:
        for event in events:
            writer.write(event)
    written = sorted(events, key=lambda event: event.time)
    found = sorted(sweep([str(path)]), key=lambda event: event.time)
    fields = ("time", "computer", "log", "level", "source", "data", "message")
    assert [[getattr(e, f) for f in fields] for e in found] == [
        [getattr(e, f) for f in fields] for e in written
    ]
    assert {(e.event_id, e.category) for e in found} == {(0, 0)}
    # The text message travels in RenderingInfo/Message, where forwarded events keep theirs.
    by_time = {event.time: event.message for event in events}
    assert all(record["message"] == by_time[record["time"]] for record in rb.rust(path))


def test_a_sweep_written_as_evtx_answers_windows_like_its_sources(tmp_path: Path) -> None:
    from eventsweep.demo import generate
    from eventsweep.sinks import SinkOptions, open_sink

    generate(tmp_path / "demo", hosts=4, days=2)  # ends now
    events = sweep([str(tmp_path / "demo")])  # per target, newest first
    path = tmp_path / "fleet.evtx"
    with open(path, "wb") as stream:
        sink = open_sink("evtx", stream, SinkOptions())
        for event in events:
            sink.write(event)
        sink.close()
    for since in ("1h", "8h", "30h"):
        query = build_query(since=since)
        want = sorted(as_written(event) for event in events if query.matches(event))
        found, _ = run.sweep([str(path)], query=query)
        assert sorted(map(as_written, found)) == want and want
