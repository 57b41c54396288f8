"""A batch: events in order, the unit that travels from the engine to the outputs.

A batch holds either events, or the times and the JSON Lines text of encoded events (a block
that waited on disk, or came from a worker process). Each output takes what suits it:
:meth:`Batch.events` for the fields (decoded lazily from the lines), :meth:`Batch.jsonl` for the
JSON Lines text (written as it is when the batch already holds it). Nobody else needs to know
which of the two a batch holds: that is the JSON Lines fast path, in one place.
"""

from __future__ import annotations

from collections.abc import Iterator

from eventsweep.model import EncodedEvent, Event, json_line


class Batch:
    """Events in order; build with ``Batch(events)`` or ``Batch.encoded(times, lines)``."""

    __slots__ = ("_events", "_lines", "_times")

    def __init__(self, events: list[Event]) -> None:
        self._events: list[Event] | None = events
        self._times: list[str] | None = None
        self._lines: bytes | None = None

    @classmethod
    def encoded(cls, times: list[str], lines: bytes) -> Batch:
        """Encoded events as their times and one block of their JSON lines (one per time)."""
        batch = cls.__new__(cls)
        batch._events, batch._times, batch._lines = None, times, lines
        return batch

    @property
    def undecoded(self) -> bool:
        """True while the batch holds JSON lines whose events were never built."""
        return self._events is None

    def events(self) -> list[Event]:
        if self._events is None:
            assert self._times is not None and self._lines is not None
            lines = self._lines.splitlines(keepends=True)
            self._events = list(map(EncodedEvent, self._times, lines))
        return self._events

    def times(self) -> list[str]:
        if self._times is not None:
            return self._times
        return [event.time for event in self.events()]

    def jsonl(self) -> bytes:
        """The batch as JSON Lines: the block as it came, or each event's line."""
        if self._lines is not None:
            return self._lines
        return b"".join([_line(event) for event in self.events()])

    def packed(self) -> tuple[list[str], bytes] | list[Event]:
        """What a spill file keeps: encoded events as times and lines, others as they are."""
        if self._lines is not None:
            assert self._times is not None
            return self._times, self._lines
        events = self.events()
        if events and all(type(event) is EncodedEvent for event in events):
            return [event.time for event in events], b"".join(
                [event.line for event in events]  # type: ignore[attr-defined]
            )
        return events

    @classmethod
    def unpacked(cls, item: tuple[list[str], bytes] | list[Event]) -> Batch:
        if isinstance(item, tuple):
            return cls.encoded(*item)
        return cls(item)

    @classmethod
    def of(cls, item: Event | list[Event] | Batch) -> Batch:
        """What a source yields (an event, a list of them, a batch) as a batch."""
        if isinstance(item, Batch):
            return item
        return cls(item if isinstance(item, list) else [item])

    def head(self, count: int) -> Batch:
        """The first ``count`` events (all of them when there are fewer)."""
        if count >= len(self):
            return self
        if self._lines is None:
            return Batch(self.events()[:count])
        assert self._times is not None
        lines = self._lines.split(b"\n", count)[:count]
        return Batch.encoded(self._times[:count], b"\n".join(lines) + b"\n" if lines else b"")

    def __len__(self) -> int:
        return len(self._times) if self._times is not None else len(self._events or ())

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def __bool__(self) -> bool:
        return len(self) > 0


def _line(event: Event) -> bytes:
    if isinstance(event, EncodedEvent):  # already JSON, made by a worker process
        return event.line
    return json_line(event)
