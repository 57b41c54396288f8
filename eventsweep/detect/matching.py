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
from typing import TYPE_CHECKING

from eventsweep.batch import Batch
from eventsweep.detect.workers import MatchedEvent
from eventsweep.model import Event, Query, TargetStatus

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
                batch = (
                    item.events() if isinstance(item, Batch)
                    else item if isinstance(item, list) else [item]
                )  # fmt: skip
                kept: list[Event] = []
                for event in batch:
                    found = match(event)
                    if found:
                        kept.append(MatchedEvent(event.time, None, tuple(found), event.to_dict()))
                status.passed += len(batch) - len(kept)
                del item, batch
                if kept:
                    yield kept
