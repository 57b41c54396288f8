from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventsweep.errors import UsageError
from eventsweep.model import Event, Query
from eventsweep.query import build_query, parse_event_ids, parse_levels, parse_time

NOW = datetime(2024, 1, 19, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", "2024-01-19T11:58:30.000000Z"),
        ("15m", "2024-01-19T11:45:00.000000Z"),
        ("8h", "2024-01-19T04:00:00.000000Z"),
        ("2d", "2024-01-17T12:00:00.000000Z"),
        ("2024-01-19T00:00Z", "2024-01-19T00:00:00.000000Z"),
        ("2024-01-19T02:30:00+02:00", "2024-01-19T00:30:00.000000Z"),
    ],
)
def test_parse_time(text: str, expected: str) -> None:
    assert parse_time("--since", text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "8x", "2024-01-19T00:00", ""])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--since"):
        parse_time("--since", text, NOW)


def test_levels_and_ids() -> None:
    assert parse_levels(["error,warning", "audit_failure"]) == {"error", "warning", "audit_failure"}
    assert parse_event_ids(["4624,4625", "1000-1010"]) == ((4624, 4624), (4625, 4625), (1000, 1010))
    with pytest.raises(UsageError, match="--level"):
        parse_levels(["loud"])
    with pytest.raises(UsageError, match="--event-id"):
        parse_event_ids(["10-2"])
    with pytest.raises(UsageError, match="--event-id"):
        parse_event_ids(["abc"])


def test_since_after_until_is_usage_error() -> None:
    with pytest.raises(UsageError, match="after"):
        build_query(since="1h", until="2h", now=NOW)


def _event(**overrides: object) -> Event:
    fields: dict[str, object] = dict(
        time="2024-01-19T10:00:00.000000Z",
        target="t",
        computer="c",
        log="System",
        record_id=1,
        event_id=7036,
        level="info",
        source="Service Control Manager",
        category=None,
        message="The service entered the running state.",
    )
    fields.update(overrides)
    return Event(**fields)  # type: ignore[arg-type]


def test_matches_every_filter() -> None:
    query = build_query(
        since="8h",
        levels=["info"],
        event_ids=["7000-7040"],
        sources=["service control MANAGER"],
        logs=["system"],
        grep="running",
        now=NOW,
    )
    assert query.matches(_event())
    assert not query.matches(_event(time="2024-01-19T03:59:59.999999Z"))
    assert not query.matches(_event(level="error"))
    assert not query.matches(_event(event_id=7045))
    assert not query.matches(_event(event_id=None))
    assert not query.matches(_event(source="Other"))
    assert not query.matches(_event(log="Application"))
    assert not query.matches(_event(message="stopped"))
    assert Query().matches(_event(event_id=None))
