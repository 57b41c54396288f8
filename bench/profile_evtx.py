"""Where a full sweep's time goes, per event: parse, decode, map, encode (in a worker); transfer,
receive, merge, write (in the parent). Run: ``python bench/profile_evtx.py [FILE] [--chunks N]``.

Each stage is measured in this process, in CPU time per event, on the first N chunks of the file
(default: the 1 GB demo file, 400 chunks); a stage's figure is the cost it adds to the ones
before it. "transfer" is what a group's result costs to pickle and unpickle (what the process
pool does with it), "receive" what the source does with it in the parent, "merge" the
timeline of --group time, "write" the JSON Lines sink's bytes into /dev/null.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import pickle
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from evtx import PyEvtxParser

from eventsweep.batch import Batch
from eventsweep.formats.evtx.index import assemble, scan
from eventsweep.model import EncodedEvent
from eventsweep.query import build_query
from eventsweep.sources.evtx_worker import normalise, parse_group
from eventsweep.timeline import timeline

BIG = "/tmp/evtx-big/DC01/Security.evtx"
GROUP = 8


def cpu(function: Callable[[], object]) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", nargs="?", default=BIG)
    parser.add_argument("--chunks", type=int, default=400)
    options = parser.parse_args()
    path = options.file
    slots = scan(path)[0][: options.chunks]
    data = assemble(path, slots).getvalue()
    query = build_query(since=None)

    def records() -> object:
        return PyEvtxParser(io.BytesIO(data), number_of_threads=1).records_json()

    def parse() -> None:
        for _ in records():  # type: ignore[attr-defined]
            pass

    def decode() -> None:
        for record in records():  # type: ignore[attr-defined]
            orjson.loads(record["data"])

    def mapped() -> None:
        for record in records():  # type: ignore[attr-defined]
            normalise(record, "t", "c")

    def encoded() -> None:
        for record in records():  # type: ignore[attr-defined]
            orjson.dumps(normalise(record, "t", "c"))

    groups = [slots[i : i + GROUP] for i in range(0, len(slots), GROUP)]
    results = []

    def worker() -> None:
        results.extend(parse_group(path, group, query, "t", "c") for group in groups)

    stages = {"parse": cpu(parse), "decode": cpu(decode), "map": cpu(mapped)}
    stages["encode"] = cpu(encoded)
    whole = cpu(worker)
    events = sum(len(result.times) for result in results)
    transfer = cpu(lambda: [pickle.loads(pickle.dumps(r, protocol=5)) for r in results])
    pairs = [list(zip(r.times, r.lines.splitlines(keepends=True), strict=True)) for r in results]
    transfer_pairs = cpu(lambda: [pickle.loads(pickle.dumps(p, protocol=5)) for p in pairs])
    received: list[list[EncodedEvent]] = []

    def receive() -> None:
        for result in results:
            lines = result.lines.splitlines(keepends=True)
            received.append(list(map(EncodedEvent, result.times, lines)))

    receive_cpu = cpu(receive)
    merge_cpu = cpu(lambda: asyncio.run(_merge(received)))
    sink = open("/dev/null", "wb")  # noqa: SIM115
    write_cpu = cpu(lambda: [sink.write(b"".join([e.line for e in batch])) for batch in received])
    sink.close()
    print(f"# {Path(path).name}: {len(slots)} chunks, {events:,} events; µs of CPU per event")
    print("| stage | where | µs/event |\n|---|---|---:|")
    previous = 0.0
    for name, seconds in stages.items():
        print(f"| {name} (adds) | worker | {(seconds - previous) / events * 1e6:.2f} |")
        previous = seconds
    print(f"| whole group parse (parse_group) | worker | {whole / events * 1e6:.2f} |")
    print(f"| transfer (pickle + unpickle) | both | {transfer / events * 1e6:.2f} |")
    print(
        f"| transfer as (time, line) pairs (before) | both | {transfer_pairs / events * 1e6:.2f} |"
    )
    print(f"| receive (lines → EncodedEvent) | parent | {receive_cpu / events * 1e6:.2f} |")
    print(f"| merge (timeline) | parent | {merge_cpu / events * 1e6:.2f} |")
    print(f"| write (JSON Lines) | parent | {write_cpu / events * 1e6:.2f} |")


async def _merge(batches: list[list[EncodedEvent]]) -> int:
    async def stream() -> AsyncIterator[Batch]:
        for events in batches:
            yield Batch(events)

    return sum([len(batch) async for batch in timeline([stream()])])


if __name__ == "__main__":
    main()
