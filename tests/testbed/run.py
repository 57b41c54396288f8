"""A sweep run to its end from a synchronous test or benchmark."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from eventsweep.model import Event, Outcome, Query
from eventsweep.sources import Settings, plan
from eventsweep.sweep import collect


def sweep(
    targets: Sequence[str],
    settings: Settings | None = None,
    query: Query | None = None,
    **collect_options: Any,
) -> tuple[list[Event], list[Outcome]]:
    """The events and outcomes of ``collect`` over the planned targets (default settings, an
    empty query); ``collect_options`` are collect's own (timeout, concurrency, group)."""
    sources = plan(list(targets), Settings() if settings is None else settings)
    return asyncio.run(collect(sources, Query() if query is None else query, **collect_options))
