"""What the sweeping commands (sweep, follow) share about the store: the writer beside the
printed output, and the bookmarks ``--new`` resumes after."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from eventsweep.cli import flags
from eventsweep.errors import UsageError
from eventsweep.runner import Planned

if TYPE_CHECKING:  # sqlite3 and the store are imported only when a sweep keeps its events
    from eventsweep.store.writer import StoreWriter


def store_output(
    arguments: argparse.Namespace, planned: Planned, command: str = "sweep"
) -> StoreWriter | None:
    """The store as an output of this sweep (None with ``--no-store``)."""
    from eventsweep.cli.sweep import refuse_inputs

    path = flags.store_of(arguments)
    if path is None:
        if getattr(arguments, "new", False):
            raise UsageError("--new: needs the store (it keeps the bookmarks), not --no-store")
        return None
    refuse_inputs("--store", path, planned.sources)
    if getattr(arguments, "new", False) and command == "sweep":
        command = "sweep --new"
    from eventsweep.store.writer import StoreWriter

    return StoreWriter(path, command=command)


def resumed(arguments: argparse.Namespace, planned: Planned, store: StoreWriter | None) -> Planned:
    """With ``--new``: the request resuming each target after its bookmarks in the store."""
    if not getattr(arguments, "new", False) or store is None:
        return planned
    return with_bookmarks(planned, store.path)


def with_bookmarks(planned: Planned, path: str) -> Planned:
    from eventsweep.store.reader import bookmarks

    marks = bookmarks(path, [source.target for source in planned.sources])
    request = dataclasses.replace(planned.request, resume=marks)
    return Planned(request, planned.sources)
