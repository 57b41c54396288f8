"""The histogram above the results: the reader's counts per bucket as SVG bars stacked by level.

Pure: :func:`chart` turns a :class:`~eventsweep.store.reader.Histogram` into numbers and texts
the template draws (``templates/_histogram.html``, autoescaped). Every label is made here from
times, counts and the documented level names; each bar links to the search narrowed to its
bucket (so a click narrows without JavaScript), and the script adds dragging across bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventsweep.model import LEVELS, iso, parse_iso
from eventsweep.store.reader import Histogram

WIDTH, HEIGHT, AXIS = 1000, 120, 18  # the drawing's units (it scales to the page's width)
ORDER = ("critical", "error", "audit_failure", "warning", "audit_success", "info", "verbose")


@dataclass(frozen=True, slots=True)
class Segment:
    level: str
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    start: str  # ISO UTC, inclusive
    end: str  # ISO UTC, inclusive (the last microsecond of the bucket)
    total: int
    title: str  # the tooltip: when and how many of each level
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    plot: int  # height of the bars' area
    since: str
    until: str
    seconds: int
    peak: int
    total: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]

    @property
    def duration(self) -> str:
        return duration(self.seconds)


def chart(histogram: Histogram) -> Chart | None:
    """The drawing of a histogram (None when it has no bucket)."""
    buckets = histogram.buckets
    if not buckets:
        return None
    plot = HEIGHT - AXIS
    peak = max((sum(counts.values()) for _, counts in buckets), default=0)
    step = WIDTH / len(buckets)
    bars = tuple(
        _bar(index * step, step, start, counts, histogram.seconds, peak, plot)
        for index, (start, counts) in enumerate(buckets)
    )
    total = sum(bar.total for bar in bars)
    return Chart(
        WIDTH, HEIGHT, plot, bars[0].start, bars[-1].end, histogram.seconds, peak, total, bars,
        _ticks(bars, histogram.seconds),
    )  # fmt: skip


def _bar(
    x: float, width: float, start: str, counts: dict[str, int], seconds: int, peak: int, plot: int
) -> Bar:
    end = iso(parse_iso(start) + timedelta(seconds=seconds) - timedelta(microseconds=1))
    total = sum(counts.values())
    segments: list[Segment] = []
    top = float(plot)
    for level in _levels(counts):
        height = plot * counts[level] / peak if peak else 0.0
        top -= height
        segments.append(Segment(level, round(top, 2), round(height, 2)))
    parts = ", ".join(f"{counts[level]} {level}" for level in _levels(counts))
    title = f"{_label(start, seconds)}: {total} event{'s' if total != 1 else ''}"
    if parts:
        title += f" ({parts})"
    return Bar(round(x, 2), round(width, 2), start, end, total, title, tuple(segments))


def _levels(counts: dict[str, int]) -> list[str]:
    """The levels of a bucket, most severe at the bottom; unknown words last, sorted."""
    known = [level for level in ORDER if counts.get(level)]
    return known + sorted(level for level in counts if level not in ORDER and counts[level])


def _label(start: str, seconds: int) -> str:
    moment = parse_iso(start).astimezone(UTC)
    if seconds >= 86400:
        return moment.strftime("%Y-%m-%d")
    if seconds >= 60:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _ticks(bars: tuple[Bar, ...], seconds: int, wanted: int = 6) -> tuple[Tick, ...]:
    every = max(1, len(bars) // wanted)
    ticks: list[Tick] = []
    for index in range(0, len(bars), every):
        moment = parse_iso(bars[index].start).astimezone(UTC)
        text = _short(moment, seconds)
        ticks.append(Tick(bars[index].x, text))
    return tuple(ticks)


def _short(moment: datetime, seconds: int) -> str:
    if seconds >= 86400:
        return moment.strftime("%b %d")
    if seconds >= 3600:
        return moment.strftime("%b %d %H:%M")
    if seconds >= 60:
        return moment.strftime("%H:%M")
    return moment.strftime("%H:%M:%S")


def duration(seconds: int) -> str:
    """``10800`` → ``3 h``: a bucket's size as the caption shows it."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


LEVEL_CLASSES = {level: f"l-{level.replace('_', '-')}" for level in LEVELS}
