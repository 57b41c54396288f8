"""``--group time`` through :func:`eventsweep.timeline.timeline`, until sweep.py calls it.

Run: ``python bench/_timeline_sweep.py TARGET... > out.jsonl``: every event of the targets,
newest first, as JSON Lines on stdout (the same as ``eventsweep sweep TARGET... --all --format
jsonl --group time`` will give once the engine uses the timeline).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsweep import concurrency
from eventsweep.batch import Batch
from eventsweep.model import Query
from eventsweep.sources import Settings, plan
from eventsweep.spool import Spool
from eventsweep.sweep import Sweep
from eventsweep.timeline import timeline


async def _batches(spool: Spool) -> AsyncIterator[Batch]:
    async for events in spool.batches():
        yield Batch(events)


async def main(targets: list[str]) -> None:
    sweep = Sweep(plan(targets, Settings()), Query(), group="target", timeout=3600)
    sweep.start()
    out = sys.stdout.buffer
    try:
        async for batch in timeline([_batches(spool) for spool in sweep._spools]):
            out.write(batch.jsonl())
        await asyncio.gather(*sweep._tasks)
    finally:
        concurrency.shutdown()
    out.flush()
    for outcome in sweep.finished():
        print(outcome.line(), file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
