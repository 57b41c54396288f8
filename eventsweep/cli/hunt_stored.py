"""``eventsweep hunt --stored``: the rules over the events already kept in the store.

The events are read as ``eventsweep query`` reads them (:meth:`Reader.batches`, the same
filters: the window, ``--level``, ``--event-id``, ``--source``, ``--log``, ``--grep``,
``--target``, ``--sweep``; without ``--since``, every stored event) and go through the same
:class:`~eventsweep.detect.hunt.Hunt` output, so the detections come out in the same formats,
``--summary`` included. No host is contacted. The detections are kept in that store too, as a
sweep of their own (``hunt --stored``), so the web application shows them beside the events.
"""

from __future__ import annotations

import argparse
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from eventsweep.cli import flags
from eventsweep.errors import UsageError
from eventsweep.runner import Planned, Request
from eventsweep.sinks import SweepInfo

if TYPE_CHECKING:
    from eventsweep.detect import RuleSet, SummaryRow
    from eventsweep.store.reader import Reader

COMMAND = "hunt --stored"


def hunt_stored(
    arguments: argparse.Namespace, load: Callable[[argparse.Namespace], RuleSet]
) -> int:
    """Hunt the store's events with the rules ``load`` reads from the flags; exit status 0."""
    from eventsweep.cli.hunt import detection_writer
    from eventsweep.cli.sweep import printed
    from eventsweep.detect.hunt import Hunt
    from eventsweep.store.writer import StoreWriter

    reader = _reader(arguments)
    query = flags.query_of(arguments)
    where = flags.stored_filter(arguments, reader, query)
    rules = load(arguments)
    planned = Planned(Request((), query), ())
    with printed(arguments, planned, binary_ok=not arguments.summary) as place:
        counts: Counter[SummaryRow] = Counter()
        store = StoreWriter(reader.path, command=COMMAND)
        hunt = Hunt(rules, detection_writer(arguments, place, counts), counts, store)
        info = SweepInfo(id=uuid.uuid4().hex, targets=(), query=query, group=arguments.group)
        store.open(info)
        try:
            batches = reader.batches(
                where, limit=query.limit, by_target=arguments.group == "target"
            )
            for batch in batches:
                hunt.write(batch)
        finally:
            try:
                hunt.close()
            finally:
                store.close()
    return 0


def _reader(arguments: argparse.Namespace) -> Reader:
    """The store to hunt, checked against the flags that make no sense with ``--stored``."""
    from eventsweep.store.reader import Reader

    if arguments.targets or arguments.input:
        raise UsageError("--stored: hunts the events in the store; give no TARGET or -i")
    if arguments.no_store:
        raise UsageError("--stored: needs the store, not --no-store")
    path = flags.store_of(arguments)
    assert path is not None
    return Reader(path)
