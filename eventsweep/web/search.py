"""The query bar: a search as URL parameters, the store reader's :class:`Filter`, and links.

A :class:`Search` holds the texts the user typed, exactly as the URL keeps them (so a search
can be bookmarked and shared), and turns them into the reader's filter with the command line's
own parsers (:mod:`eventsweep.query`): the same words, durations, ranges and errors as
``--since``, ``--level``, ``--event-id``… A relative ``since`` (``24h``) counts back from now;
the links of a results page (pages, histogram bars, facets) carry that moment (``at``), so
paging through a result set never shifts its window (and its histogram and facets, the same
filter over the same store, come from the cache).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from eventsweep.errors import UsageError
from eventsweep.model import LEVELS, iso, parse_iso
from eventsweep.query import build_query
from eventsweep.store.reader import Filter

QUICK_PICKS = ("15m", "1h", "8h", "24h", "7d")
DEFAULT_SINCE = "24h"
GROUPS = ("time", "target")
ORDERS = ("desc", "asc")
PAGE_SIZES = (20, 50, 100, 200)


@dataclass(frozen=True, slots=True)
class Search:
    """What the query bar holds (every field is text from the URL; nothing is trusted)."""

    since: str = DEFAULT_SINCE
    until: str = ""
    level: tuple[str, ...] = ()
    event_id: str = ""
    source: str = ""
    log: str = ""
    target: str = ""
    q: str = ""
    sweep: str = ""
    group: str = "time"
    order: str = "desc"
    size: int = 50
    after: str = ""
    at: str = ""  # the moment relative times count back from (page links fix it; empty: now)

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise UsageError(f"group: one of {', '.join(GROUPS)}")
        if self.order not in ORDERS:
            raise UsageError(f"order: one of {', '.join(ORDERS)}")
        if self.size not in PAGE_SIZES:
            raise UsageError(f"size: one of {', '.join(map(str, PAGE_SIZES))}")

    def filter(self, now: datetime | None = None) -> Filter:
        """The reader's filter; UsageError (one line naming the field) for a bad value. With
        ``at``, relative times count back from it and an open end ends there."""
        reference = now or datetime.now(UTC)
        if self.at:
            try:
                reference = parse_iso(self.at)
            except ValueError:
                raise UsageError(f"at: {self.at!r} is not an ISO 8601 time") from None
        query = build_query(
            since=self.since or None,
            until=self.until or self.at or None,
            levels=self.level,
            event_ids=[self.event_id] if self.event_id else [],
            sources=[self.source] if self.source else [],
            logs=[self.log] if self.log else [],
            now=reference,
        )
        sweep: int | str | None = self.sweep.strip() or None
        targets = [self.target.strip()] if self.target.strip() else []
        return replace(
            Filter.of(query, targets, sweep),
            text=self.q if self.q.strip() else None,
        )

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """The search as URL parameters (defaults left out), with ``changes`` applied."""
        changed = replace(self, **changes) if changes else self
        pairs: list[tuple[str, str]] = []
        for spec in fields(Search):
            value = getattr(changed, spec.name)
            if value == spec.default:
                continue
            if isinstance(value, tuple):
                pairs.extend((spec.name, str(item)) for item in value)
            else:
                pairs.append((spec.name, str(value)))
        if changed.since == "" and ("since", "") not in pairs:
            pairs.append(("since", ""))
        return pairs

    def query_string(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def url(self, path: str = "/", **changes: Any) -> str:
        text = self.query_string(**changes)
        return f"{path}?{text}" if text else path

    def export_url(self, name: str) -> str:
        return "/export?" + urlencode([*self.params(after=""), ("format", name)])

    def first_page(self, **changes: Any) -> Search:
        """A changed search starts at its first page."""
        return replace(self, after="", **changes)

    def pinned(self, now: datetime) -> Search:
        """The search with its moment fixed at ``now`` (for the page, histogram and facet links:
        paging never shifts a window like ``24h``, and the summaries stay the same)."""
        if self.at:
            return self
        return replace(self, at=iso(now))

    def with_level(self, level: str) -> Search:
        levels = self.level if level in self.level else (*self.level, level)
        return self.first_page(level=levels)

    def to_dict(self) -> dict[str, Any]:
        return {spec.name: getattr(self, spec.name) for spec in fields(Search)}


def glob_escape(value: str) -> str:
    """A target as a wildcard pattern matching only itself."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in value)


def levels_known(given: tuple[str, ...]) -> tuple[str, ...]:
    """Levels in the documented order (unknown words are left to the parser to refuse)."""
    known = [level for level in LEVELS if level in given]
    return (*known, *(level for level in given if level not in LEVELS))
