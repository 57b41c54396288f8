"""The ``--format evtx`` output: a sweep's events as a Windows .evtx file, oldest first.

The file format and its writer live in :mod:`eventsweep.formats.evtx`; this is the adapter.
"""

from __future__ import annotations

from typing import BinaryIO

from eventsweep.formats.evtx.writer import EvtxWriter
from eventsweep.model import Event
from eventsweep.sinks import SinkOptions
from eventsweep.sinks.ordered import TimeOrder

__all__ = ["EvtxSink", "EvtxWriter"]  # EvtxWriter: also importable from here, as it used to be


class EvtxSink:
    """The ``--format evtx`` sink: the sweep's events, oldest first, into the (seekable) output.

    A sweep gives events newest first; a log file holds them oldest first, with record numbers
    rising with time (readers, eventsweep's included, take the highest as the newest). The
    events are put in order through :class:`~eventsweep.sinks.ordered.TimeOrder` and written
    at close.
    """

    def __init__(self, stream: BinaryIO, options: SinkOptions) -> None:
        del options
        self._stream = stream
        self._order = TimeOrder()

    def write(self, event: Event) -> None:
        self._order.add(event)

    def close(self) -> None:
        with EvtxWriter(self._stream) as writer:
            for event in self._order.sorted():
                writer.write(event)
