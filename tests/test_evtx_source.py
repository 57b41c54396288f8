"""The .evtx source against the real public corpus and against damaged copies made here."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, cast

import pytest
from evtx import PyEvtxParser

from eventsweep.model import Event, Outcome, iso_from_epoch, parse_iso
from eventsweep.query import build_query
from eventsweep.sources import Settings
from eventsweep.sources.evtx import EvtxOptions
from tests import evtx_reference
from tests.testbed import run
from tests.testbed.corpus import SECURITY, SMALL, SYNTHETIC, corpus_files

EXACT = Settings.of(evtx=EvtxOptions(exact=True))


def sweep(targets: list[str], **query: object) -> tuple[list[Event], list[Outcome]]:
    options = {"since": None} | query
    return run.sweep(targets, query=build_query(**options))  # type: ignore[arg-type]


def _windows(times: list[str], count: int, seed: int) -> list[tuple[str, str]]:
    """Random windows over the file's own time range, some tiny, some wide."""
    rng = random.Random(seed)
    sane = sorted(t for t in times if t > "1990")
    if not sane:
        return []
    pairs = []
    for _ in range(count):
        a, b = sorted(rng.choice(sane) for _ in range(2))
        pairs.append((a, b))
    pairs.append((sane[-1][:13] + ":00:00.000000Z", sane[-1]))  # "the last hour or so"
    return pairs


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name[:40])
def test_random_windows_equal_an_independent_reading(path: Path) -> None:
    reference = evtx_reference.read(path)
    for since, until in _windows([r.time for r in reference], 16, seed=len(reference)):
        expected = sorted(_key(r) for r in reference if since <= r.time <= until)
        events, outcomes = sweep([str(path)], since=since, until=until)
        assert outcomes[0].status in ("ok", "partial")
        assert sorted(_key(e) for e in events) == expected, (since, until)
        names: dict[tuple[int | None, str], tuple[str, ...]] = {
            (r.record_id, r.time): r.names for r in reference
        }
        for event in events:
            assert (
                set(names[event.record_id, event.time]) == set(event.data)
                or not names[event.record_id, event.time]
            )


def _key(item: Event | evtx_reference.Reference) -> tuple[object, ...]:
    return (
        item.record_id,
        item.time,
        item.event_id,
        item.level,
        item.source,
        item.computer,
        item.log,
        item.category,
    )


def test_full_sweep_of_corpus_matches_record_counts(corpus: Path) -> None:
    events, outcomes = sweep([str(corpus)])
    assert len(outcomes) == len(corpus_files())
    per_file = {o.target: o.events for o in outcomes}
    for path in corpus_files():
        assert per_file[str(path)] == len(evtx_reference.read(path)), path
    assert sum(per_file.values()) == len(events)
    warned = {Path(o.target).name: o.warnings for o in outcomes if o.status == "partial"}
    assert warned == {
        "2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx": 4,
        "sample-with-zero-data-size-event.evtx": 1,
        "sample_with_a_bad_chunk_magic.evtx": 2,
        "sysmon.evtx": 8,
    }


def test_newest_first_and_limit(corpus: Path) -> None:
    path = corpus / SECURITY
    events, _ = sweep([str(path)])
    ids = [cast(int, e.record_id) for e in events]  # every .evtx record has an id
    assert ids == sorted(ids, reverse=True)
    limited, outcomes = sweep([str(path)], limit=5)
    assert [e.record_id for e in limited] == ids[:5] and outcomes[0].events == 5


@pytest.mark.parametrize("scheme", ["", "evtx:", "EVTX:", "Evtx:"])
def test_the_optional_scheme_in_any_case(corpus: Path, scheme: str) -> None:
    events, outcomes = run.sweep([scheme + str(corpus / SMALL)], query=build_query(since=None))
    assert [o.status for o in outcomes] == ["ok"] and len(events) == 4


def test_filters_apply(corpus: Path) -> None:
    path = str(corpus / SECURITY)
    everything, _ = sweep([path])
    picked, _ = sweep([path], event_ids=["4624-4625"], levels=["audit_success"], grep="Logon")
    expected = [
        e
        for e in everything
        if e.event_id in (4624, 4625) and e.level == "audit_success" and "Logon" in e.message
    ]
    assert [e.record_id for e in picked] == [e.record_id for e in expected] and picked


def test_message_renders_named_data(corpus: Path) -> None:
    events, _ = sweep([str(corpus / SECURITY)], limit=50)
    named = [e for e in events if e.data]
    assert named
    for event in named:
        first = next(iter(event.data))
        assert event.message.startswith(f"{first}=")


def test_window_reads_only_needed_chunks(corpus: Path) -> None:
    from eventsweep.formats.evtx.index import scan as chunks
    from eventsweep.formats.evtx.index import select

    path = str(corpus / SYNTHETIC)
    selected = list(select(path, "2024-01-17T20:20:00.000000Z", "2024-01-17T21:20:00.000000Z"))
    assert 0 < len(selected) <= 12 < len(chunks(path)[0])


# --- faults -------------------------------------------------------------------------------


@pytest.fixture
def damaged(tmp_path: Path, corpus: Path) -> Path:
    """A directory of good, truncated, bit-flipped and non-EVTX files, made here."""
    good = corpus / SECURITY
    shutil.copy(good, tmp_path / "good.evtx")
    data = good.read_bytes()
    (tmp_path / "truncated.evtx").write_bytes(data[: 4096 + 65536 * 10 + 30000])
    flipped = bytearray(data)
    rng = random.Random(7)
    for _ in range(200):
        flipped[rng.randrange(4096 + 512, len(flipped))] ^= 1 << rng.randrange(8)
    (tmp_path / "flipped.evtx").write_bytes(bytes(flipped))
    (tmp_path / "notes.evtx").write_text("not an event log at all\n" * 400)
    (tmp_path / "short.evtx").write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    (tmp_path / "ignored.txt").write_text("not an .evtx name: not a target")
    return tmp_path


def test_directory_mixing_good_damaged_and_foreign_files(damaged: Path) -> None:
    events, outcomes = sweep([str(damaged)])
    status = {Path(o.target).name: o for o in outcomes}
    assert sorted(status) == [
        "flipped.evtx",
        "good.evtx",
        "notes.evtx",
        "short.evtx",
        "truncated.evtx",
    ]
    good = status["good.evtx"].events
    assert status["good.evtx"].status == "ok"
    assert status["notes.evtx"].status == "error"
    assert status["notes.evtx"].error == "open: not an EVTX event log (no ElfFile signature)"
    assert status["short.evtx"].status == "error" and "4096" in str(status["short.evtx"].error)
    truncated = status["truncated.evtx"]
    assert truncated.status in ("ok", "partial")
    # every whole chunk survives, and the records before the cut in the cut one
    whole = sum(1 for e in events if e.target.endswith("good.evtx"))
    assert good == whole and truncated.events > 0.3 * good
    assert status["flipped.evtx"].status in ("ok", "partial") and status["flipped.evtx"].events > 0


def test_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.evtx")
    _, outcomes = sweep([str(tmp_path / "pipe.evtx")])
    assert outcomes[0].status == "error" and outcomes[0].error == "open: not a regular file"


def test_empty_glob_and_missing_path_are_target_errors(tmp_path: Path, corpus: Path) -> None:
    good = str(corpus / SMALL)
    events, outcomes = sweep([str(tmp_path / "*.evtx"), str(tmp_path / "nope.evtx"), good])
    assert [o.status for o in outcomes] == ["error", "error", "ok"]
    assert outcomes[0].error == f"open: no .evtx file matches {tmp_path}/*.evtx"
    assert outcomes[1].error == f"open: no such file or directory: {tmp_path}/nope.evtx"
    assert len(events) == 4


def test_collected_at_is_set_and_recent(corpus: Path) -> None:
    events, _ = sweep([str(corpus / SMALL)])
    assert all(e.collected_at > iso_from_epoch(0) for e in events)


def _written(path: Path) -> dict[int, str]:
    """Each record's write time as the parser gives it, read independently of eventsweep."""
    return {
        int(json.loads(record["data"])["Event"]["System"]["EventRecordID"]): record["timestamp"][
            :19
        ]
        for record in PyEvtxParser(str(path), skip_errors=True).records_json()
        if record is not None
    }


def _late_records(path: Path) -> list[evtx_reference.Reference]:
    """Records of the file written over an hour after their TimeCreated."""
    written = _written(path)
    return [r for r in evtx_reference.read(path) if _hours(written[r.record_id], r.time) > 1]


def _hours(later: str, earlier: str) -> float:
    return (parse_iso(later[:19] + "Z") - parse_iso(earlier[:19] + "Z")).total_seconds() / 3600


@pytest.fixture(scope="module")
def defender(corpus: Path) -> tuple[Path, list[evtx_reference.Reference]]:
    """The corpus's Defender log, and its records written over an hour after their creation."""
    path = next(corpus.rglob("ID1151-Defender health status.evtx"))
    return path, _late_records(path)


def test_exact_finds_records_written_long_after_their_creation(
    defender: tuple[Path, list[evtx_reference.Reference]],
) -> None:
    path, late = defender
    assert len(late) > 10
    missed = 0
    for record in late:
        window: dict[str, Any] = {
            "since": record.time[:19] + "Z",
            "until": record.time[:19] + ".999999Z",
        }
        exact, _ = run.sweep(
            [str(path)], Settings.of(evtx=EvtxOptions(exact=True)), build_query(**window)
        )
        assert record.record_id in {e.record_id for e in exact}
        fast, _ = sweep([str(path)], **window)
        missed += record.record_id not in {e.record_id for e in fast}
    assert missed  # the default, reading chunks by write time, does miss some: hence --exact


def test_a_window_that_reads_late_written_records_says_so(
    defender: tuple[Path, list[evtx_reference.Reference]],
) -> None:
    path, late_records = defender
    late = late_records[0]
    written_hour = _written(path)[late.record_id][:13]
    window: dict[str, Any] = {"since": f"{written_hour}:00:00Z", "until": f"{written_hour}:59:59Z"}
    _, outcomes = sweep([str(path)], **window)
    assert outcomes[0].status == "ok" and any("--exact" in note for note in outcomes[0].notes)
    _, outcomes = run.sweep(
        [str(path)], Settings.of(evtx=EvtxOptions(exact=True)), build_query(**window)
    )
    assert not outcomes[0].notes
