"""Parsing the query flags (--since, --level, --event-id…) into a Query, and the other flag
values (seconds, counts, sizes): pure functions.

Each parser raises UsageError with one line naming the flag and what is wrong. An empty value
is always an error (``--since ''`` or ``--source "$UNSET"`` would otherwise quietly mean "no
filter"); so is a number that is not finite, not positive or out of range, a time outside the
years 1-9999 UTC, and a regular expression whose repetition counts or nesting could exhaust
memory or time (see :func:`parse_grep`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from eventsweep.errors import UsageError
from eventsweep.model import LEVELS, Query, iso

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(flag: str, text: str, now: datetime) -> str:
    """``90s``/``15m``/``8h``/``2d``/``1w`` before ``now``, or ISO 8601 with Z or an offset."""
    if not text.strip():
        raise UsageError(f"{flag}: empty value (a duration like 8h or an ISO 8601 time)")
    relative = _RELATIVE.match(text)
    try:
        if relative:
            seconds = float(relative.group(1)) * _UNITS[relative.group(2).lower()]
            return iso(now - timedelta(seconds=seconds))
        return iso(_absolute(flag, text))
    except OverflowError:
        raise UsageError(f"{flag}: {text!r} is out of range (years 1 to 9999 UTC)") from None


def _absolute(flag: str, text: str) -> datetime:
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
    return moment


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
    for word in _items("--level", texts):
        level = synonyms.get(word.lower(), word.lower())
        if level not in LEVELS:
            raise UsageError(f"--level: unknown level {word!r} (one of {', '.join(LEVELS)})")
        levels.add(level)
    return frozenset(levels)


def parse_event_ids(texts: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """Lists and ranges, ``4624,4625,1000-1010``, as (low, high) pairs."""
    ranges: list[tuple[int, int]] = []
    for item in _items("--event-id", texts):
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


GREP_MAX_LENGTH = 4096
GREP_MAX_REPEAT = 1000
GREP_MAX_DEPTH = 32


def parse_grep(text: str | None) -> re.Pattern[str] | None:
    """The compiled ``--grep`` pattern. Refused: an empty one (it would match every message:
    leave the flag out), one longer than GREP_MAX_LENGTH, a repetition count ``{n}`` /
    ``{n,m}`` above GREP_MAX_REPEAT, groups nested deeper than GREP_MAX_DEPTH."""
    if text is None:
        return None
    if not text:
        raise UsageError("--grep: empty pattern (it matches every message: leave --grep out)")
    if len(text) > GREP_MAX_LENGTH:
        raise UsageError(f"--grep: pattern longer than {GREP_MAX_LENGTH} characters")
    depth, repeat = _pattern_shape(text)
    if depth > GREP_MAX_DEPTH:
        raise UsageError(f"--grep: groups nested {depth} deep (at most {GREP_MAX_DEPTH})")
    if repeat > GREP_MAX_REPEAT:
        raise UsageError(f"--grep: repetition count {repeat} (at most {GREP_MAX_REPEAT})")
    try:
        return re.compile(text)
    except (re.error, OverflowError, RecursionError) as exc:
        raise UsageError(f"--grep: {text!r} is not a valid regular expression ({exc})") from None


_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def _pattern_shape(text: str) -> tuple[int, int]:
    """(deepest group nesting, largest ``{n,m}`` count) of a pattern, escapes and character
    classes skipped (a rough scan: re.compile has the last word on validity)."""
    depth = deepest = repeat = 0
    index, end = 0, len(text)
    while index < end:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _class_end(text, index)
            continue
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == "{" and (count := _COUNT.match(text, index)):
            repeat = max(repeat, *(int(n) for n in count.groups() if n))
        index += 1
    return deepest, repeat


def _class_end(text: str, start: int) -> int:
    """The index after the character class opening at ``start`` (``[]…]``, ``[^]…]`` kept)."""
    index = start + 1
    if text.startswith("^", index):
        index += 1
    if text.startswith("]", index):
        index += 1
    while index < len(text) and text[index] != "]":
        index += 2 if text[index] == "\\" else 1
    return index + 1


def parse_limit(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise UsageError(f"--limit: {value} is not a positive number")
    return value


SECONDS_MAX = 7 * 86400.0


def parse_seconds(flag: str, text: str) -> float:
    """A duration flag's seconds (``--timeout``, ``--connect-timeout``): a finite number above
    0, at most a week (larger values overflow the timers of sockets and threads)."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > SECONDS_MAX:
        raise UsageError(
            f"{flag}: {text!r} is not a number of seconds above 0 and up to {SECONDS_MAX:g}"
        )
    return value


def parse_count(flag: str, text: str) -> int:
    """A whole number above 0 (``--concurrency``)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a whole number") from None
    if value < 1:
        raise UsageError(f"{flag}: {text!r} is not a whole number above 0")
    return value


SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
SIZE_MAX = 1 << 40


def parse_size(flag: str, text: str | None) -> int | None:
    """A size in bytes, ``200M`` or ``1G`` (K, M, G, T: powers of 1024; a bare number is bytes);
    None for None. Finite, above 0, at most 1T."""
    if text is None:
        return None
    body = text.strip()
    unit = body[-1:].upper() if body[-1:].upper() in SIZE_UNITS else ""
    try:
        number = float(body[: len(body) - len(unit)])
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a size like 200M or 1G") from None
    if not math.isfinite(number) or number <= 0 or number * SIZE_UNITS[unit] > SIZE_MAX:
        raise UsageError(f"{flag}: {text!r} is not a size above 0 and up to 1T")
    return max(1, int(number * SIZE_UNITS[unit]))


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
    start = None if since is None else parse_time("--since", since, now)
    end = None if until is None else parse_time("--until", until, now)
    if start and end and start > end:
        raise UsageError(f"--since ({start}) is after --until ({end})")
    return Query(
        since=start,
        until=end,
        levels=parse_levels(levels),
        event_ids=parse_event_ids(event_ids),
        sources=frozenset(name.lower() for name in _items("--source", sources)),
        logs=tuple(_items("--log", logs)),
        grep=parse_grep(grep),
        limit=parse_limit(limit),
    )


def _items(flag: str, texts: Iterable[str]) -> list[str]:
    """The comma-separated items of a repeatable flag's values; a value with none is an error."""
    items: list[str] = []
    for text in texts:
        found = [item.strip() for item in text.split(",") if item.strip()]
        if not found:
            raise UsageError(f"{flag}: empty value {text!r}")
        items.extend(found)
    return items
