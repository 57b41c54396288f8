"""The mapping of `evtx` JSON records to the event shape: the odd shapes real files contain
(the corpus tests cover the common ones against an independent reading)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from eventsweep.sources.evtx_worker import normalise

WRITTEN = "2024-01-02T03:04:05.1234567Z UTC"  # as evtx 0.14 gives it


def _record(event: dict[str, Any], number: int = 9) -> dict[str, Any]:
    return {
        "data": orjson.dumps({"Event": event}).decode(),
        "event_record_id": number,
        "timestamp": WRITTEN,
    }


def _system(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Provider": {"#attributes": {"Name": "P"}},
        "EventID": 7,
        "Level": 2,
        "Task": 3,
        "Keywords": "0x80000000000000",
        "TimeCreated": {"#attributes": {"SystemTime": "2024-01-10T21:19:59.788170Z"}},
        "EventRecordID": 5,
        "Channel": "System",
        "Computer": "HOST",
    }
    return base | fields


def test_the_common_shape() -> None:
    event = normalise(_record({"System": _system(), "EventData": {"A": "x", "B": 2}}), "t", "now")
    assert event == {
        "time": "2024-01-10T21:19:59.788170Z",
        "target": "t",
        "computer": "HOST",
        "log": "System",
        "record_id": 5,
        "event_id": 7,
        "level": "error",
        "source": "P",
        "category": 3,
        "message": "A=x; B=2",
        "data": {"A": "x", "B": 2},
        "collected_at": "now",
    }


@pytest.mark.parametrize(
    ("level", "keywords", "word"),
    [
        (0, "0x8020000000000000", "audit_success"),
        (4, "0x8010000000000000", "audit_failure"),
        (0, "0x8000000000000000", "info"),
        (1, "0x8010000000000000", "critical"),
        (5, None, "verbose"),
        ({"#text": 3}, None, "warning"),
        ("junk", "junk", "info"),
        ({"#text": 0}, {"#text": "0x8020000000000000"}, "audit_success"),
    ],
)
def test_levels(level: Any, keywords: Any, word: str) -> None:
    record = _record({"System": _system(Level=level, Keywords=keywords)})
    assert (normalise(record, "t", "now") or {})["level"] == word


def test_wrapped_values_and_fallbacks() -> None:
    system = _system(
        EventID={"#attributes": {"Qualifiers": 16384}, "#text": 0x40001B58},
        EventRecordID=None,
        Task={"#text": "0x10"},
        Computer={"#text": "H2"},
        Channel=None,
        Provider={"#attributes": {"EventSourceName": "Legacy"}},
        TimeCreated={"#attributes": {"SystemTime": "2024-01-10T21:19:59.7881709Z"}},
    )
    event = normalise(_record({"System": system}, number=77), "t", "now") or {}
    assert event["event_id"] == 7000 and event["record_id"] == 77 and event["category"] == 16
    assert (event["computer"], event["log"], event["source"]) == ("H2", "", "Legacy")
    assert event["time"] == "2024-01-10T21:19:59.788170Z"


def test_missing_time_falls_back_to_the_write_time() -> None:
    event = normalise(_record({"System": _system(TimeCreated=None)}), "t", "now") or {}
    assert event["time"] == "2024-01-02T03:04:05.123456Z"


def test_data_shapes_and_message() -> None:
    data = {"#attributes": {"Name": "x"}, "N": None, "B": True, "F": 1.5, "L": [1, "a"], "S": "s"}
    event = normalise(_record({"System": _system(), "EventData": data}), "t", "now") or {}
    assert event["data"] == {"N": None, "B": True, "F": 1.5, "L": [1, "a"], "S": "s"}
    assert event["message"] == 'N=; B=true; F=1.5; L=[1,"a"]; S=s'
    user = {
        "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "u"}, "SubjectUserName": "bob"}}
    }
    event = normalise(_record({"System": _system()} | user), "t", "now") or {}
    assert event["data"] == {"SubjectUserName": "bob"} and event["message"] == "SubjectUserName=bob"
    rendered = {"System": _system(), "EventData": {"A": "1"}, "RenderingInfo": {"Message": "hello"}}
    assert (normalise(_record(rendered), "t", "now") or {})["message"] == "hello"


def test_records_without_an_event_or_a_system() -> None:
    assert (
        normalise({"data": '{"Other":1}', "event_record_id": 1, "timestamp": WRITTEN}, "t", "n")
        is None
    )
    event = normalise(_record({"System": "garbage"}, number=3), "t", "now") or {}
    assert (event["record_id"], event["event_id"], event["level"], event["source"]) == (
        3,
        None,
        "info",
        "",
    )


def test_a_record_the_json_tools_refuse_is_counted_not_fatal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eventsweep.formats.evtx.index import scan as chunks
    from eventsweep.query import build_query
    from eventsweep.sources import evtx_worker
    from tests.testbed.corpus import CORPUS, SYNTHETIC

    path = str(CORPUS / SYNTHETIC)
    group = chunks(path)[0][:1]
    everything, errors, seen, _ = evtx_worker.parse_chunks(
        path, group, build_query(since=None), "t", "n"
    )
    assert errors == 0 and len(everything) == seen > 2
    real = evtx_worker.normalise

    def refusing(record: dict[str, Any], target: str, collected_at: str) -> dict[str, Any] | None:
        if orjson.loads(record["data"])["Event"]["System"]["EventRecordID"] % 2:
            raise orjson.JSONDecodeError("lone surrogate", "", 0)
        return real(record, target, collected_at)

    monkeypatch.setattr(evtx_worker, "normalise", refusing)
    kept, errors, _, _ = evtx_worker.parse_chunks(path, group, build_query(since=None), "t", "n")
    assert errors == seen - len(kept) > 0 and len(kept) >= seen // 2 - 1
    assert {line for _, line in kept} <= {line for _, line in everything}
