"""win:// against real Samba servers: eventsweep's reader vs impacket's plain hElfrReadELW loop,
then a sweep of many servers at once.

    python3 bench/bench_winrpc.py [--records 10000] [--rounds 5] [--servers 20]

Part 1, one server, one System log of ``--records`` records (strings, SIDs, data), read whole,
newest first, after open (connect and logon excluded, the same for both). Rounds interleave the
two readers; each round's ratio is reported and the median of the ratios.

- eventsweep: the reader of eventsweep.sources.winrpc (lean SMB2 + DCE/RPC path, the read
  buffer decoded directly into events);
- impacket: ``even.hElfrReadELW`` in a loop (impacket's DCE/RPC and NDR decode the answer),
  then the same record decoder, so both produce the same events; also shown, the same loop
  walking records by their Length only (no event built: impacket's floor).

Part 2, ``--servers`` Samba instances with ``--records`` records each, swept by the engine
(``collect``, concurrency 64): wall time, records/s, client CPU per server. Instances are warmed
first (Samba starts its RPC helpers on the first call, 1-4 s), so this is the steady state.
Needs root, samba and libtdb1 (see .ci/apt-packages.txt). Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import struct
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from impacket.dcerpc.v5 import even
from impacket.smb3 import SMB3
from impacket.smbconnection import SMBConnection

from eventsweep import concurrency
from eventsweep.model import Query
from eventsweep.sources.winrpc import reader
from tests.testbed.run import sweep as run_sweep
from tests.testbed.samba import LogRecord, Samba, bound_session, instance_root

PASSWORD = "Bench-pw-1"
READ_SIZE = 0x10000  # impacket loop: 64 KiB reads (samba.md: 64-256 KiB beat the maximum)


def records(count: int, now: int) -> list[LogRecord]:
    """A realistic mix: one to three strings, half with a SID, some binary data."""
    strings = (("The Windows Update service entered the running state.",),
               ("svchost.exe", "4242", "C:\\Windows\\System32\\svchost.exe -k netsvcs"),
               ("ünïcode ✓", ""))  # fmt: skip
    return [
        LogRecord(
            time_generated=now - count + n,
            event_id=7036 + n % 40,
            event_type=(1, 2, 4, 4, 4, 8)[n % 6],
            source=("Service Control Manager", "Tcpip", "Kernel-General")[n % 3],
            computer="BENCH-HOST.lab.example",
            strings=strings[n % 3],
            sid="S-1-5-21-1004336348-1177238915-682003330-1001" if n % 2 else "",
            data=bytes(range(n % 16)),
        )
        for n in range(count)
    ]


def start(records_each: int, started: list[Samba]) -> Samba:
    samba = Samba(instance_root(), logs=("System",), users={"root": PASSWORD})
    started.append(samba)  # stopped at the end even if starting fails half-way
    samba.start().write("System", records(records_each, int(time.time())))
    return samba


def timed(function: Callable[[], int]) -> tuple[int, float, float]:
    """(result, wall seconds, this process's CPU seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def eventsweep_reader(samba: Samba) -> Callable[[], int]:
    session = bound_session(samba.url())

    def run() -> int:
        try:
            wanted = reader.decoders(samba.url(), ("System",), Query())
            return sum(len(chunk.events) for chunk in reader.chunks(session, wanted))
        finally:
            session.close()

    return run


def impacket_loop(samba: Samba, build_events: bool) -> Callable[[], int]:
    smb = SMBConnection(existingConnection=SMB3("127.0.0.1", "127.0.0.1", sess_port=samba.port))
    smb.login("root", PASSWORD)
    from impacket.dcerpc.v5 import transport

    rpc = transport.SMBTransport("127.0.0.1", samba.port, r"\eventlog", smb_connection=smb)
    dce = rpc.get_dce_rpc()
    dce.connect()
    dce.bind(even.MSRPC_UUID_EVEN)
    decoder = reader.decoders(samba.url(), ("System",), Query())[0]

    def run() -> int:
        handle = even.hElfrOpenELW(dce, "System\x00", "")["LogHandle"]
        oldest = even.hElfrOldestRecordNumber(dce, handle)["OldestRecordNumber"]
        count = even.hElfrNumberOfRecords(dce, handle)["NumberOfRecords"]
        flags, total = even.EVENTLOG_BACKWARDS_READ | even.EVENTLOG_SEEK_READ, 0
        try:
            while True:
                try:
                    answer = even.hElfrReadELW(dce, handle, flags, oldest + count - 1, READ_SIZE)
                except even.DCERPCSessionError as exc:
                    if exc.get_error_code() == 0xC0000011:  # STATUS_END_OF_FILE
                        return total
                    raise
                size = answer["NumberOfBytesRead"]
                if not size:
                    return total
                buffer = b"".join(answer["Buffer"])[:size]
                total += len(decoder.decode(buffer, "").events) if build_events else walk(buffer)
                flags = even.EVENTLOG_BACKWARDS_READ | even.EVENTLOG_SEQUENTIAL_READ
        finally:
            smb.close()

    return run


def walk(buffer: bytes) -> int:
    offset = count = 0
    while offset + 4 <= len(buffer):
        (length,) = struct.unpack_from("<I", buffer, offset)
        offset, count = offset + length, count + 1
    return count


def part_one(samba: Samba, rounds: int, expected: int) -> None:
    print(f"\n## One server, {expected:,} records, read whole (after open), {rounds} rounds")
    readers = {
        "eventsweep reader": lambda: eventsweep_reader(samba),
        "impacket hElfrReadELW loop + same decoder": lambda: impacket_loop(samba, True),
        "impacket hElfrReadELW loop, Length walk only": lambda: impacket_loop(samba, False),
    }
    walls: dict[str, list[float]] = {name: [] for name in readers}
    cpus: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for name, prepare in readers.items():
            got, wall, cpu = timed(prepare())
            assert got == expected, (name, got)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print("| reader | median wall | records/s | client CPU | wall / eventsweep's, per round "
          "(median) | CPU / eventsweep's (median) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for name in readers:
        ratios = _ratios(walls[name], walls["eventsweep reader"])
        cpu_ratios = _ratios(cpus[name], cpus["eventsweep reader"])
        wall = statistics.median(walls[name])
        print(f"| {name} | {wall * 1000:.0f} ms | {expected / wall:,.0f} | "
              f"{statistics.median(cpus[name]) * 1000:.0f} ms | "
              f"{', '.join(f'{r:.1f}' for r in ratios)} ({statistics.median(ratios):.1f}x) | "
              f"{statistics.median(cpu_ratios):.1f}x |")  # fmt: skip


def _ratios(theirs: list[float], ours: list[float]) -> list[float]:
    return [their / our for their, our in zip(theirs, ours, strict=True)]


def sweep(servers: list[Samba]) -> tuple[int, list[str]]:
    events, outcomes = run_sweep([samba.url() for samba in servers], concurrency=64, timeout=600)
    return len(events), [o.status for o in outcomes]


def part_two(servers: list[Samba], each: int) -> None:
    sweep(servers)  # warm: Samba starts its RPC helpers on first use
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    total, statuses = sweep(servers)
    wall = time.perf_counter() - wall
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    assert total == each * len(servers) and set(statuses) == {"ok"}, (total, statuses)
    print(f"\n## Sweep: {len(servers)} servers x {each:,} records (engine, concurrency 64)")
    print(f"- wall {wall:.2f} s, {total / wall:,.0f} records/s, {total:,} events collected")
    print(f"- client CPU {cpu:.2f} s in all, {cpu / len(servers) * 1000:.0f} ms per server "
          f"({cpu / total * 1e6:.1f} us per record)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--servers", type=int, default=20)
    options = parser.parse_args()
    os.environ["EVENTSWEEP_PASSWORD"] = PASSWORD
    print(f"# win:// benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}, Samba on 127.0.0.1, load average at start "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    started: list[Samba] = []
    try:
        with ThreadPoolExecutor(4) as pool:
            count = options.servers
            servers = list(pool.map(start, [options.records] * count, [started] * count))
        sweep(servers[:1])  # warm the first server
        part_one(servers[0], options.rounds, options.records)
        part_two(servers, options.records)
        print(f"\n(load average at the end {os.getloadavg()[0]:.1f})")
    finally:
        concurrency.shutdown()
        for samba in started:
            samba.stop()
            shutil.rmtree(samba.root, ignore_errors=True)


if __name__ == "__main__":
    main()
