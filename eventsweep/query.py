"""Parsing the query flags (--since, --level, --event-id…) into a Query: pure functions.

Each parser raises UsageError with one line naming the flag and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from eventsweep.errors import UsageError
from eventsweep.model import LEVELS, Query, iso

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(flag: str, text: str, now: datetime) -> str:
    """``90s``/``15m``/``8h``/``2d``/``1w`` before ``now``, or ISO 8601 with Z or an offset."""
    relative = _RELATIVE.match(text)
    if relative:
        seconds = float(relative.group(1)) * _UNITS[relative.group(2).lower()]
        return iso(now - timedelta(seconds=seconds))
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag}: {text!r} is neither a duration (90s, 15m, 8h, 2d) nor an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(
            f"{flag}: {text!r} has no time zone: end it with Z or an offset like +02:00"
        )
    return iso(moment)


def parse_levels(texts: Iterable[str]) -> frozenset[str]:
    """Comma-separated level words; a few common synonyms are accepted."""
    synonyms = {
        "warn": "warning",
        "information": "info",
        "informational": "info",
        "err": "error",
        "crit": "critical",
        "debug": "verbose",
    }
    levels: set[str] = set()
    for word in _items(texts):
        level = synonyms.get(word.lower(), word.lower())
        if level not in LEVELS:
            raise UsageError(f"--level: unknown level {word!r} (one of {', '.join(LEVELS)})")
        levels.add(level)
    return frozenset(levels)


def parse_event_ids(texts: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """Lists and ranges, ``4624,4625,1000-1010``, as (low, high) pairs."""
    ranges: list[tuple[int, int]] = []
    for item in _items(texts):
        low, dash, high = item.partition("-")
        try:
            pair = (int(low), int(high) if dash else int(low))
        except ValueError:
            raise UsageError(
                f"--event-id: {item!r} is not a number or a range like 1000-1010"
            ) from None
        if pair[0] < 0 or pair[0] > pair[1]:
            raise UsageError(f"--event-id: {item!r} is not a valid range")
        ranges.append(pair)
    return tuple(ranges)


def parse_grep(text: str | None) -> re.Pattern[str] | None:
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise UsageError(f"--grep: {text!r} is not a valid regular expression ({exc})") from None


def parse_limit(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise UsageError(f"--limit: {value} is not a positive number")
    return value


def build_query(
    *,
    since: str | None = "8h",
    until: str | None = None,
    levels: Iterable[str] = (),
    event_ids: Iterable[str] = (),
    sources: Iterable[str] = (),
    logs: Iterable[str] = (),
    grep: str | None = None,
    limit: int | None = None,
    now: datetime | None = None,
) -> Query:
    """A Query from the flags' texts, as the command line and the library both give them."""
    now = now or datetime.now(UTC)
    start = parse_time("--since", since, now) if since else None
    end = parse_time("--until", until, now) if until else None
    if start and end and start > end:
        raise UsageError(f"--since ({start}) is after --until ({end})")
    return Query(
        since=start,
        until=end,
        levels=parse_levels(levels),
        event_ids=parse_event_ids(event_ids),
        sources=frozenset(name.lower() for name in _items(sources)),
        logs=tuple(_items(logs)),
        grep=parse_grep(grep),
        limit=parse_limit(limit),
    )


def _items(texts: Iterable[str]) -> list[str]:
    return [item.strip() for text in texts for item in text.split(",") if item.strip()]
