"""The progress display on a terminal: targets done/total, events so far, failures (stderr).

The counters are derived from what the sweep pushes (:data:`eventsweep.sweep.Progress`).
rich is imported only when the display is shown: a sweep into a file or a pipe starts without
it (about 15 ms sooner, the time its first connections wait).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eventsweep.model import Outcome
from eventsweep.sweep import Ended, Progress, Read

if TYPE_CHECKING:
    from rich.live import Live
    from rich.text import Text


@dataclass(slots=True)
class Counters:
    """A listener: targets done, events so far, failures, and the outcomes in the order the
    targets ended."""

    total: int
    done: int = 0
    events: int = 0
    failures: int = 0
    ended: list[Outcome] = field(default_factory=list)

    def __call__(self, progress: Progress) -> None:
        if isinstance(progress, Read):
            self.events += progress.added
        elif isinstance(progress, Ended):
            self.done += 1
            self.failures += progress.outcome.status != "ok"
            self.ended.append(progress.outcome)


def _status(counters: Counters) -> Text:
    from rich.text import Text

    text = Text(f"targets {counters.done}/{counters.total}  events {counters.events}")
    if counters.failures:
        text.append(f"  failures {counters.failures}", style="red")
    return text


@contextlib.asynccontextmanager
async def progress_display(counters: Counters, show: bool) -> AsyncIterator[None]:
    """Refresh a one-line status on stderr while the sweep runs (nothing when ``show`` is false)."""
    if not show:
        yield
        return
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True, markup=False, highlight=False)
    with Live(_status(counters), console=console, transient=True, redirect_stdout=False) as live:
        refresher = asyncio.create_task(_refresh(live, counters))
        try:
            yield
        finally:
            refresher.cancel()


async def _refresh(live: Live, counters: Counters) -> None:
    while True:
        live.update(_status(counters))
        await asyncio.sleep(0.2)
