"""A hunt: a rule set over a sweep's events, as an output of the one sweep call.

:class:`Hunt` receives the sweep's batches like any output, matches each event against the
rules and hands every detection (the event, unchanged, and the rule that matched) to a
detection writer: JSON Lines (the event's fields plus a ``rule`` object), CSV (the event's
columns plus the rule's), the table (the rule's level and title beside the event) or .evtx (the
event, its data with the rule's id, title and level added). ``--summary`` counts detections per
rule and target instead. Events matched where they were read (the .evtx workers: a
:class:`~eventsweep.detect.workers.MatchedEvent`) bring their detections; the others are
matched here. :func:`pushdown` narrows the query of each kind of target to what the
rule set can match at all, so that only those events leave the hosts.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import IO, Any, Protocol

import orjson
from rich.console import Console
from rich.text import Text

from eventsweep.batch import Batch
from eventsweep.detect.index import Wanted
from eventsweep.detect.rules import Detection, RuleSet, SummaryRow, detection_record
from eventsweep.detect.workers import MatchedEvent
from eventsweep.model import FIELDS, Event, Outcome, Query
from eventsweep.sinks import SinkOptions, SweepInfo
from eventsweep.sinks.csv import neutralise
from eventsweep.sinks.table import TableSink
from eventsweep.text import defuse

RULE_FIELDS = ("id", "title", "level", "status", "tags", "fields", "path")
# a query no journal entry can match (entries have no event id): no Linux rule, nothing to read
NO_JOURNAL = ((0, 0),)


class DetectionWriter(Protocol):
    def write(self, event: Event, detection: Detection) -> None: ...

    def close(self) -> None: ...


class DetectionStore(Protocol):
    """Where a hunt keeps its detections beside the sweep's events (the store's writer)."""

    def detections(self, pairs: Sequence[tuple[Event, Detection]]) -> None: ...


class Hunt:
    """An output: the rules over every event; detections to ``writer``, counts to ``counts``,
    and, a batch's at a time, to ``store`` (which is an output of the same sweep: it keeps
    the events)."""

    def __init__(
        self,
        rules: RuleSet,
        writer: DetectionWriter | None,
        counts: Counter[SummaryRow],
        store: DetectionStore | None = None,
    ) -> None:
        self.rules, self.writer, self.counts, self.store = rules, writer, counts, store

    def open(self, sweep: SweepInfo) -> None:
        del sweep

    def write(self, batch: Batch) -> None:
        match, counts, writer = self.rules.match, self.counts, self.writer
        kept: list[tuple[Event, Detection]] = []
        for event in batch.events():
            # matched where it was read (a lookup that fails would decode an encoded event
            # and raise: an exception per event)
            found = event.detections if type(event) is MatchedEvent else None
            for detection in match(event) if found is None else found:
                counts[
                    SummaryRow(detection.id, detection.title, detection.level, event.target)
                ] += 1
                if writer is not None:
                    writer.write(event, detection)
                if self.store is not None:
                    kept.append((event, detection))
        if kept and self.store is not None:
            self.store.detections(kept)

    def outcome(self, outcome: Outcome) -> None:
        del outcome

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class JsonlDetections:
    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        del options
        self._stream: IO[bytes] = getattr(stream, "buffer", stream)

    def write(self, event: Event, detection: Detection) -> None:
        self._stream.write(orjson.dumps(detection_record(event, detection)) + b"\n")

    def close(self) -> None:
        self._stream.flush()


class CsvDetections:
    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        del options
        self._stream = stream
        self._writer = csv.writer(stream, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
        self._writer.writerow([*FIELDS, *(f"rule_{name}" for name in RULE_FIELDS)])

    def write(self, event: Event, detection: Detection) -> None:
        rule = detection.to_dict()
        cells = [*event.astuple(), *(rule[name] for name in RULE_FIELDS)]
        self._writer.writerow([neutralise(value) for value in cells])

    def close(self) -> None:
        self._stream.flush()


class TableDetections:
    """The rule's level and title, then the event as the sweep's table shows it."""

    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        self._table = TableSink(stream, options)
        self._console: Console = self._table._console

    def write(self, event: Event, detection: Detection) -> None:
        line = Text(f"{defuse(detection.level):<8} ", style=_STYLES.get(detection.level, ""))
        line.append(defuse(detection.title, 60) + "\n    ", style="bold")
        line.append_text(self._table._line(event))
        self._console.print(line)

    def close(self) -> None:
        self._table.close()


class EvtxDetections:
    """The matched events, each with the rule's id, title and level among its data."""

    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        from eventsweep.sinks.evtx import EvtxSink

        self._sink = EvtxSink(stream, options)  # type: ignore[arg-type]

    def write(self, event: Event, detection: Detection) -> None:
        rule = {"sigma.id": detection.id, "sigma.title": detection.title}
        data = {**event.data, **rule, "sigma.level": detection.level}
        plain = Event(*event.astuple())  # an encoded event is built anew, not replaced
        self._sink.write(replace(plain, data=data))

    def close(self) -> None:
        self._sink.close()


_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}
WRITERS: dict[str, type[JsonlDetections | CsvDetections | TableDetections | EvtxDetections]] = {
    "jsonl": JsonlDetections,
    "csv": CsvDetections,
    "table": TableDetections,
    "evtx": EvtxDetections,
}


def open_writer(name: str, stream: IO[Any], options: SinkOptions) -> DetectionWriter:
    return WRITERS[name](stream, options)


def pushdown(query: Query, wanted: Wanted) -> dict[str, Query]:
    """Each kind of target's query: the user's, narrowed to what some rule could match."""
    windows = query
    if wanted.event_ids is not None and not query.event_ids:
        windows = replace(windows, event_ids=ranges(wanted.event_ids))
    files = windows
    if wanted.logs is not None and not query.logs:
        files = replace(windows, logs=tuple(sorted(wanted.logs)))
    journal = query
    if wanted.identifiers is not None and not query.sources:
        if wanted.identifiers:
            journal = replace(query, sources=frozenset(i.lower() for i in wanted.identifiers))
        else:
            journal = replace(query, event_ids=NO_JOURNAL)
    return {"evtx": files, "win": windows, "ssh": journal, "journal": journal}


def ranges(ids: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Event ids as the fewest (low, high) ranges."""
    found: list[tuple[int, int]] = []
    for number in sorted(set(ids)):
        if found and number == found[-1][1] + 1:
            found[-1] = (found[-1][0], number)
        else:
            found.append((number, number))
    return tuple(found)


def summary_lines(counts: Counter[SummaryRow]) -> list[str]:
    """The summary table: one line per rule and target, most detections first."""
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0].title, item[0].target))
    lines = [f"{'count':>7}  {'level':<8}  {'rule':<60}  target"]
    for row, count in rows:
        title = defuse(row.title, 60)
        lines.append(f"{count:>7}  {defuse(row.level):<8}  {title:<60}  {defuse(row.target)}")
    return lines
