"""The .evtx writer: both independent parsers read back what was written, field for field."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from eventsweep.formats.evtx.layout import CHUNK_SIZE, HEADER_SIZE
from eventsweep.model import LEVELS, Event
from eventsweep.sinks.evtx import EvtxWriter
from tests import evtx_readback as rb


def event(**changes: Any) -> Event:
    fields: dict[str, Any] = {
        "time": "2024-03-01T10:00:00.123456Z",
        "target": "dc01",
        "computer": "DC01.corp.example.com",
        "log": "System",
        "record_id": 1200,
        "event_id": 7036,
        "level": "info",
        "source": "Service Control Manager",
        "category": None,
        "message": "The Windows Update service entered the running state.",
        "data": {"param1": "Windows Update", "param2": "running"},
    }
    fields.update(changes)
    return Event(**fields)


def write(path: Path, events: list[Event]) -> Path:
    with EvtxWriter(path) as writer:
        for item in events:
            writer.write(item)
    return path


def check_system(found: dict[str, Any], item: Event, number: int, *, python: bool) -> None:
    want = rb.expected(item, number)
    time = found.pop("time")
    if python:
        assert rb.same_time(time, item.time)
    else:
        assert time == item.time
    assert {key: found[key] for key in want if key != "time"} == {
        key: value for key, value in want.items() if key != "time"
    }


def test_levels_ids_and_system_fields_read_back_by_both_parsers(tmp_path: Path) -> None:
    events = [
        event(level=level, record_id=None if number % 2 else number, category=number or None)
        for number, level in enumerate(LEVELS)
    ]
    events.append(event(event_id=None, computer="", log="", source=""))
    events.append(event(event_id=0x4000_1B7C))  # classic id with qualifier bits
    path = write(tmp_path / "levels.evtx", events)
    for python, records in ((False, rb.rust(path)), (True, rb.python(path))):
        assert len(records) == len(events)
        for number, (found, item) in enumerate(zip(records, events, strict=True), 1):
            check_system(found, item, number, python=python)


def test_data_values_keep_their_types_for_the_rust_parser(tmp_path: Path) -> None:
    data = {
        "text": "x",
        "empty": "",
        "none": "",
        "int": -5,
        "big": 2**64 - 1,
        "huge": 2**70,
        "yes": True,
        "real": 1e20,
        "list": [1, "a"],
        "raw": b"\x01\xff",
    }
    path = write(tmp_path / "types.evtx", [event(data=data)])
    (found,) = rb.rust(path)
    assert found["data"] == {
        "text": "x",
        "empty": "",
        "none": "",
        "int": -5,
        "big": 2**64 - 1,
        "huge": str(2**70),
        "yes": True,
        "real": "1e+20",
        "list": '[1,"a"]',
        "raw": "01ff",
    }
    (seen,) = rb.python(path)
    assert seen["data"]["yes"] == "True"
    assert seen["data"]["int"] == "-5"


def test_message_kept_only_when_not_rebuilt_from_data(tmp_path: Path) -> None:
    events = [
        event(message="param1=Windows Update; param2=running"),  # what a reader rebuilds
        event(message="free text"),
        event(message=""),
        event(message="", data={}),
        event(message="only message", data={}),
    ]
    path = write(tmp_path / "message.evtx", events)
    expected = [None, "free text", "", None, "only message"]
    assert [found["message"] for found in rb.rust(path)] == expected
    assert [found["message"] for found in rb.python(path)] == expected


def test_names_xml_cannot_hold_are_mapped_deterministically(tmp_path: Path) -> None:
    data = {
        "": 1,
        "#attributes": 2,
        "#text": 3,
        "bad\x00\x1bname": 4,
        "_": 5,
        "x" * 300: 6,
        "a b\"<>&'": 7,
        "Ünï ☃ 𝄞": 8,
        "1st": 9,
        "bad\ud800": 10,
    }
    path = write(tmp_path / "names.evtx", [event(data=data)])
    names = [
        "_",
        "_#attributes",
        "_#text",
        "bad\u2400\u241bname",
        "__2",
        "x" * 254 + "…",
        "a b\"<>&'",
        "Ünï ☃ 𝄞",
        "1st",
        "bad\ufffd",
    ]
    (found,) = rb.rust(path)
    assert list(found["data"]) == names
    assert list(found["data"].values()) == list(range(1, 11))
    (seen,) = rb.python(path)
    assert list(seen["data"]) == names


def test_values_xml_cannot_hold_are_mapped(tmp_path: Path) -> None:
    text = "esc\x1b[31m nul\x00 tab\t lone\udc00 ok𝄞 nonchar\uffff"
    path = write(tmp_path / "values.evtx", [event(data={"v": text}, message=text)])
    want = "esc\u241b[31m nul\u2400 tab\t lone\ufffd ok𝄞 nonchar\ufffd"
    (found,) = rb.rust(path)
    assert found["data"]["v"] == want
    assert found["message"] == want
    (seen,) = rb.python(path)
    assert seen["data"]["v"] == want


def test_a_record_too_big_for_a_chunk_is_cut_to_fit(tmp_path: Path) -> None:
    long = "€" * 40_000
    many = {f"field{number:05}": "v" for number in range(3000)}
    events = [event(data={"a": long, "b": "short", "c": long}), event(data=many)]
    path = write(tmp_path / "big.evtx", events)
    first, second = rb.rust(path)
    assert first["data"]["b"] == "short"
    for name in ("a", "c"):
        assert first["data"][name].endswith("…")
        assert long.startswith(first["data"][name][:-1])
    kept = {name: value for name, value in second["data"].items() if name.startswith("field")}
    assert kept == {name: "v" for name in list(many)[: len(kept)]}
    assert second["data"]["eventsweep.dropped"] == 3000 - len(kept)


def test_times_across_the_filetime_range(tmp_path: Path) -> None:
    times = [
        "1601-01-01T00:00:00.000000Z",
        "1970-01-01T00:00:00.000001Z",
        "2000-02-29T23:59:59.999999Z",
        "2038-01-19T03:14:08.000000Z",
        "9999-12-29T23:59:59.999999Z",
    ]
    path = write(tmp_path / "times.evtx", [event(time=time) for time in times])
    assert [found["time"] for found in rb.rust(path)] == times
    outside = ["1500-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", "not a time"]
    clamped = write(tmp_path / "clamped.evtx", [event(time=time) for time in outside])
    assert [found["time"] for found in rb.rust(clamped)] == [
        "1601-01-01T00:00:00.000000Z",
        "9999-12-30T00:00:00.000000Z",
        "1601-01-01T00:00:00.000000Z",
    ]


def many(count: int, size: int = 300) -> list[Event]:
    return [
        event(record_id=number, data={"n": number, "text": f"{number:08}" * (size // 8)})
        for number in range(1, count + 1)
    ]


def test_header_counts_flags_and_checksums(tmp_path: Path) -> None:
    path = write(tmp_path / "many.evtx", many(2000))
    raw = path.read_bytes()
    chunks = (len(raw) - HEADER_SIZE) // CHUNK_SIZE
    assert chunks > 3 and (len(raw) - HEADER_SIZE) % CHUNK_SIZE == 0
    magic, oldest, current, next_id, size, minor, major, block, count = struct.unpack_from(
        "<8sQQQIHHHH", raw
    )
    assert (magic, oldest, current, next_id) == (b"ElfFile\x00", 0, chunks - 1, 2001)
    assert (size, minor, major, block, count) == (128, 1, 3, 4096, chunks)
    flags, crc = struct.unpack_from("<II", raw, 120)
    assert flags == 0 and crc == zlib.crc32(raw[:120])
    last = 0
    for index in range(chunks):
        chunk = raw[HEADER_SIZE + index * CHUNK_SIZE :][:CHUNK_SIZE]
        first, final, free, data_crc = _chunk_header(chunk)
        assert first == last + 1
        assert data_crc == zlib.crc32(chunk[512:free])
        assert struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(chunk[:120] + chunk[128:512])
        last = final
    assert last == 2000
    assert [found["record_id"] for found in rb.rust(path)] == list(range(1, 2001))


def _chunk_header(chunk: bytes) -> tuple[int, int, int, int]:
    assert chunk[:8] == b"ElfChnk\x00"
    first, final, first_id, final_id = struct.unpack_from("<QQQQ", chunk, 8)
    assert (first_id, final_id) == (first, final)
    _, _, free, data_crc = struct.unpack_from("<IIII", chunk, 40)
    return first, final, free, data_crc


def test_a_file_cut_short_reads_to_its_last_whole_chunk(tmp_path: Path) -> None:
    path = tmp_path / "live.evtx"
    writer = EvtxWriter(path)
    try:
        for item in many(400, size=1000):
            writer.write(item)
        assert writer.chunks >= 3
        crashed = shutil.copy(path, tmp_path / "crashed.evtx")
        flushed = writer.chunks
        torn = tmp_path / "torn.evtx"
        torn.write_bytes(Path(crashed).read_bytes()[: -CHUNK_SIZE // 2])
    finally:
        writer.close()
    raw = Path(crashed).read_bytes()
    assert struct.unpack_from("<I", raw, 120)[0] == 1  # dirty
    assert struct.unpack_from("<H", raw, 42)[0] == flushed
    ids = [found["record_id"] for found in rb.rust(Path(crashed))]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > 100
    assert [found["record_id"] for found in rb.python(Path(crashed))] == ids
    torn_ids = [found["record_id"] for found in rb.rust(torn)]
    assert torn_ids == ids[: len(torn_ids)] and 0 < len(torn_ids) < len(ids)
    assert len(rb.rust(path)) == 400


def test_empty_file_and_use_after_close(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.evtx", [])
    assert path.stat().st_size == HEADER_SIZE
    assert rb.rust(path) == [] and rb.python(path) == []
    writer = EvtxWriter(tmp_path / "closed.evtx")
    writer.close()
    writer.close()
    with pytest.raises(ValueError):
        writer.write(event())


def test_close_on_error_leaves_a_clean_file(tmp_path: Path) -> None:
    path = tmp_path / "error.evtx"
    with pytest.raises(RuntimeError), EvtxWriter(path) as writer:
        writer.write(event())
        raise RuntimeError("boom")
    assert struct.unpack_from("<I", path.read_bytes(), 120)[0] == 0
    assert len(rb.rust(path)) == 1


def test_the_cli_sink_writes_oldest_first_to_an_open_stream(tmp_path: Path) -> None:
    from eventsweep.sinks import SinkOptions, open_sink

    path = tmp_path / "sink.evtx"
    newest_first = sorted(many(300), key=lambda item: item.record_id or 0, reverse=True)
    newest_first = [
        event(
            record_id=item.record_id,
            time=f"2024-03-01T10:00:{(item.record_id or 0) % 60:02}.{n:06}Z",
        )
        for n, item in enumerate(newest_first)
    ]
    with open(path, "wb") as stream:
        sink = open_sink("evtx", stream, SinkOptions())
        for item in newest_first:
            sink.write(item)
        sink.close()
        assert not stream.closed
    found = rb.rust(path)
    assert [record["time"] for record in found] == sorted(item.time for item in newest_first)
    assert [record["number"] for record in found] == list(range(1, 301))


def test_time_order_spills_and_merges_stably() -> None:
    from eventsweep.sinks.ordered import TimeOrder

    order = TimeOrder(run=7)
    items = [event(time=f"2024-03-01T10:00:{n % 13:02}.000000Z", record_id=n) for n in range(100)]
    for item in items:
        order.add(item)
    assert list(order.sorted()) == sorted(items, key=lambda item: item.time)
