"""The progress display on a terminal: targets done/total, events so far, failures (stderr).

rich is imported only when the display is shown: a sweep into a file or a pipe starts
without it (about 15 ms sooner, the time its first connections wait).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from eventsweep.sweep import Sweep

if TYPE_CHECKING:
    from rich.live import Live
    from rich.text import Text


def _status(sweep: Sweep) -> Text:
    from rich.text import Text

    progress = sweep.progress
    text = Text(f"targets {progress.done}/{progress.total}  events {progress.events}")
    if progress.failures:
        text.append(f"  failures {progress.failures}", style="red")
    return text


@contextlib.asynccontextmanager
async def progress_display(sweep: Sweep, show: bool) -> AsyncIterator[None]:
    """Refresh a one-line status on stderr while the sweep runs (nothing when ``show`` is false)."""
    if not show:
        yield
        return
    from rich.console import Console
    from rich.live import Live

    console = Console(stderr=True, markup=False, highlight=False)
    with Live(_status(sweep), console=console, transient=True, redirect_stdout=False) as live:
        refresher = asyncio.create_task(_refresh(live, sweep))
        try:
            yield
        finally:
            refresher.cancel()


async def _refresh(live: Live, sweep: Sweep) -> None:
    while True:
        live.update(_status(sweep))
        await asyncio.sleep(0.2)
