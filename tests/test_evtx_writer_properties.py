"""Property tests: random events (unicode, empty and very long values, many fields, odd names,
times across years) come back from both parsers as the README's mapping says."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsweep.formats.evtx.layout import render
from eventsweep.model import LEVELS, Event
from eventsweep.sinks.evtx import EvtxWriter
from tests import evtx_readback as rb

ODD = st.sampled_from(["", "#text", "#attributes", "\x00", "\ud800", "\uffff", "a b", '"<&>', "_"])
TEXT = st.text(max_size=40) | ODD | st.text(st.characters(min_codepoint=0, max_codepoint=0x3F))
LONG = st.builds(
    lambda unit, count: unit * count, st.text(min_size=1, max_size=3), st.integers(1000, 30_000)
)
VALUES = TEXT | LONG | st.none() | st.booleans() | st.floats() | st.integers(-(2**70), 2**70)
NAMES = TEXT | st.text(min_size=250, max_size=300)
DATA = st.dictionaries(NAMES, VALUES, max_size=8) | st.dictionaries(
    st.text(max_size=12), st.integers(), min_size=100, max_size=300
)
TIMES = st.datetimes(datetime(1601, 1, 1), datetime(9999, 12, 29)).map(
    lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
)
EVENTS = st.builds(
    Event,
    time=TIMES,
    target=st.just("t"),
    computer=TEXT,
    log=TEXT,
    record_id=st.none() | st.integers(0, 2**64 - 1),
    event_id=st.none() | st.integers(0, 2**32 - 1),
    level=st.sampled_from(LEVELS),
    source=TEXT,
    category=st.none() | st.integers(0, 0xFFFF),
    message=TEXT | LONG,
    data=DATA,
)


def units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def roomy(event: Event) -> bool:
    """True when the record certainly fits a chunk uncut."""
    texts = [event.message, event.source, event.log, event.computer, *map(str, event.data)]
    texts += [str(value) for value in event.data.values()]
    return 2 * sum(map(units, texts)) + 80 * len(event.data) < 50_000


def same_value(found: Any, want: Any, cut_allowed: bool) -> bool:
    if found == want:
        return True
    return (
        cut_allowed
        and isinstance(found, str)
        and found.endswith("…")
        and str(want).startswith(found[:-1])
    )


def expected_message(event: Event, names: list[str]) -> str | None:
    readback = [rb.data_as_rust(value) for value in event.data.values()]
    if event.message == render(dict(zip(names, readback, strict=True))):
        return None
    return rb.xml_safe(event.message)


def check(found: dict[str, Any], event: Event, number: int, python: bool) -> None:
    names = rb.mapped_names(list(event.data))
    cut_allowed = not roomy(event)
    as_found = rb.data_as_python if python else rb.data_as_rust
    data = found.pop("data")
    assert list(data) == names
    for name, value in zip(names, event.data.values(), strict=True):
        assert same_value(data[name], as_found(value), cut_allowed)
    message = found.pop("message")
    if not cut_allowed:
        assert message == expected_message(event, names)
    system = rb.expected(event, number)
    time = found.pop("time")
    assert rb.same_time(time, event.time) if python else time == event.time
    for key in ("provider", "channel", "computer"):
        assert same_value(found.pop(key), system.pop(key), cut_allowed)
    system.pop("time")
    assert {key: found[key] for key in system} == system


@settings(
    max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(EVENTS, min_size=1, max_size=4))
def test_random_events_read_back_by_both_parsers(events: list[Event]) -> None:
    with TemporaryDirectory() as directory:
        path = Path(directory) / "random.evtx"
        with EvtxWriter(path) as writer:
            for event in events:
                writer.write(event)
        for python, records in ((False, rb.rust(path)), (True, rb.python(path))):
            assert len(records) == len(events)
            for number, (found, event) in enumerate(zip(records, events, strict=True), 1):
                check(dict(found), event, number, python)
