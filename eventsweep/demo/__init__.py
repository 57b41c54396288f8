"""Demo data: a reproducible week of a few Windows servers' event logs, as .evtx files.

``generate(directory)`` writes ``DIRECTORY/<HOST>/<Log>.evtx`` for each server (a domain
controller, a file server, a SQL server, a web server…) and each of its System, Security and
Application logs: realistic providers, event ids, levels, data and message text (kept in
RenderingInfo), busier in office hours, a few errors a day. The same seed and end time give the
same files byte for byte; the end defaults to now, so a fresh demo set has events in the last
hours. ``size`` grows the largest file (the first server's Security log) to about that many
bytes, for benchmarks.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from random import Random

from eventsweep.demo.catalog import LOGS, MIXES, ROLES, Draft, Host, Mix
from eventsweep.errors import UsageError
from eventsweep.formats.evtx.writer import EvtxWriter
from eventsweep.model import Event, parse_iso
from eventsweep.model import iso_from_epoch_us as iso_us

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
_SAMPLE = 8000  # events written to measure a log's bytes per event when a size is asked


def generate(
    directory: str | os.PathLike[str],
    *,
    seed: int = 0,
    hosts: int = 4,
    days: int = 7,
    size: int | None = None,
    end: str | datetime | None = None,
) -> list[Path]:
    """Write the demo set; return the files written, in order. UsageError for an empty
    directory name or a size that is not above 0."""
    if not os.fspath(directory):
        raise UsageError("demo-data: the directory name is empty")
    if size is not None and size <= 0:
        raise UsageError(f"--size: {size} is not a size above 0")
    end_us = _micros(end)
    span_us = days * DAY_US
    written = []
    for number, host in enumerate(servers(hosts)):
        for log in LOGS:
            mix = MIXES[host.role][log]
            count = mix.per_day * days
            if size is not None and number == 0 and log == LOGS[0]:
                count = events_for_size(mix, host, log, size, seed)
            path = Path(directory, host.name, f"{log}.evtx")
            path.parent.mkdir(parents=True, exist_ok=True)
            rng = Random(f"{seed}/{host.name}/{log}")
            with EvtxWriter(path) as writer:
                for event in events(rng, host, log, mix, count, end_us - span_us, span_us):
                    writer.write(event)
            written.append(path)
    return written


def servers(count: int) -> list[Host]:
    """The first ``count`` demo servers (past the named ones: SRV09, SRV10… in turn)."""
    hosts = []
    for number in range(count):
        name, role = ROLES[number % len(ROLES)]
        if number >= len(ROLES):
            name = f"SRV{number + 1:02}"
        hosts.append(Host(name, role))
    return hosts


def events(
    rng: Random, host: Host, log: str, mix: Mix, count: int, start_us: int, span_us: int
) -> Iterator[Event]:
    """``count`` events of one log, in time order over [start, start + span)."""
    record_id = rng.randrange(1_000, 500_000)
    cumulative = list(accumulate(mix.weights))
    for time in times(rng, count, start_us, span_us):
        kind = rng.choices(mix.kinds, cum_weights=cumulative)[0]
        yield _event(kind(rng, host), host, log, iso_us(time), record_id)
        record_id += 1


def _event(draft: Draft, host: Host, log: str, time: str, record_id: int) -> Event:
    return Event(
        time, host.name, host.fqdn, log, record_id, draft.event_id, draft.level, draft.source,
        draft.category, draft.message, draft.data,
    )  # fmt: skip


def times(rng: Random, count: int, start_us: int, span_us: int) -> Iterator[int]:
    """``count`` sorted times (µs since 1970): office hours three times as busy, weekends half."""
    hours = span_us // HOUR_US
    weights = [_weight(start_us + hour * HOUR_US) for hour in range(hours)]
    for hour, share in enumerate(_allocate(count, weights)):
        begin = start_us + hour * HOUR_US
        yield from sorted(begin + rng.randrange(HOUR_US) for _ in range(share))


def _weight(moment_us: int) -> float:
    day, rest = divmod(moment_us, DAY_US)
    busy = 3.0 if 8 <= rest // HOUR_US < 18 else 1.0
    return busy * (0.5 if (day + 3) % 7 >= 5 else 1.0)  # 1970-01-01 was a Thursday


def _allocate(count: int, weights: list[float]) -> list[int]:
    """Split count in proportion to weights (largest remainders; exact total)."""
    total = sum(weights)
    exact = [count * weight / total for weight in weights]
    shares = [int(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: shares[i] - exact[i])
    for index in by_remainder[: count - sum(shares)]:
        shares[index] += 1
    return shares


def _micros(end: str | datetime | None) -> int:
    moment = datetime.now(UTC) if end is None else end
    if isinstance(moment, str):
        moment = parse_iso(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def events_for_size(mix: Mix, host: Host, log: str, size: int, seed: int) -> int:
    """How many events of this log make a file of about ``size`` bytes (measured on a sample)."""
    rng = Random(f"{seed}/{host.name}/sample")
    stream = io.BytesIO()
    with EvtxWriter(stream) as writer:
        for event in events(rng, host, log, mix, _SAMPLE, 0, DAY_US):
            writer.write(event)
    per_event = (len(stream.getvalue()) - 4096) / _SAMPLE
    return max(1, round((size - 4096) / per_event))
