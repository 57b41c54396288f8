"""The floor of a full .evtx sweep on this machine's cores (bench_evtx_big.py's ``floor``).

    python bench/_evtx_floor.py FILE [render|decode|encode]

One process per core, each taking every other group of 8 chunks of FILE (as the sweep's
workers do, through the same ``assemble``), and doing per record only: ``render``, what `evtx`
gives (its JSON text); ``decode``, that and ``orjson.loads`` of it (the least any mapping of
the record to the event shape needs: `evtx` gives nothing but text); ``encode``, that and
``orjson.dumps`` of the decoded record (the JSON line out). Nothing is normalised, sent to a
parent or written. Prints the records read.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import orjson
from evtx import PyEvtxParser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsweep.formats.evtx.index import ChunkSlot, assemble, scan

GROUP = 8


def work(path: str, groups: list[list[ChunkSlot]], stage: str) -> int:
    count = 0
    loads, dumps = orjson.loads, orjson.dumps
    for group in groups:
        for record in PyEvtxParser(assemble(path, group), number_of_threads=1).records_json():
            count += 1
            if stage != "render" and record is not None:
                event = loads(record["data"])
                if stage == "encode":
                    dumps(event)
    return count


def main() -> None:
    path, stage = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "decode"
    slots, _ = scan(path)
    groups = [slots[at : at + GROUP] for at in range(0, len(slots), GROUP)]
    cores = os.cpu_count() or 1
    with multiprocessing.get_context("fork").Pool(cores) as pool:
        shares = [(path, groups[start::cores], stage) for start in range(cores)]
        print(sum(pool.starmap(work, shares)))


if __name__ == "__main__":
    main()
