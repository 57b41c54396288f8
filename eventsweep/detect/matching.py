"""A rule set matched where the events are read, for the sources that are not .evtx files
(win:// and ssh:// hosts, journals): as the .evtx workers do, a hunt that keeps no store
matches each event as its source yields it, hands on only the events some rule matched (each
a :class:`~eventsweep.detect.workers.MatchedEvent`) and counts the others as read
(``status.passed``). So the events no rule matched never wait in a spool: with many targets,
the spools of a sweep spill what waits to disk and read it back, which for the events a hunt
drops was all cost.

The rule set is the hunt's own: it is matched here only (in the engine's thread), the hunt's
output taking the detections as they come. A query with a ``--limit`` is passed through as it
is (the limit counts the events read; the output matches them).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from eventsweep.batch import Batch
from eventsweep.detect.workers import MatchedEvent
from eventsweep.model import EncodedEvent, Event, Query, TargetStatus

if TYPE_CHECKING:
    from eventsweep.detect.rules import RuleSet
    from eventsweep.sources import Source


@dataclass(frozen=True, slots=True)
class Matching:
    """``inner``'s events, matched by ``rules``: only those some rule matched come out."""

    inner: Source
    rules: RuleSet

    @property
    def target(self) -> str:
        return self.inner.target

    async def events(
        self, query: Query, status: TargetStatus
    ) -> AsyncGenerator[Event | list[Event] | Batch, None]:
        match = self.rules.match if query.limit is None else None
        async with aclosing(self.inner.events(query, status)) as stream:
            async for item in stream:
                if match is None:
                    yield item
                    continue
                batch = Batch.of(item).events()
                kept: list[Event] = []
                for event in batch:
                    fields = event._fields if type(event) is EncodedEvent else None
                    found = match(event if fields is None else _read_from(fields))
                    if found:
                        fields = event.to_dict() if fields is None else fields
                        kept.append(MatchedEvent(event.time, None, tuple(found), fields))
                status.passed += len(batch) - len(kept)
                del item, batch
                if kept:
                    yield kept


def _read_from(fields: dict[str, Any]) -> Event:
    """An ssh:// or journal: entry as the matcher reads it, from the dict it was mapped to
    (the matcher reads attributes only; an EncodedEvent's slots take ~5 µs to fill)."""
    return cast(Event, SimpleNamespace(**fields))
