"""The progress display on a terminal: targets done/total, events so far, failures (stderr)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from rich.console import Console
from rich.live import Live
from rich.text import Text

from eventsweep.sweep import Sweep


def _status(sweep: Sweep) -> Text:
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
