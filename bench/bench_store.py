"""The store's costs on the 1 GB demo Security file (issue 12).

    python3 -m eventsweep.cli demo-data /tmp/big --size 1G
    python3 bench/bench_store.py --file /tmp/big/DC01/Security.evtx --rounds 2

1. the sweep with the store against ``--no-store``, interleaved, each command as a user runs it
   (``sweep FILE --all --format jsonl > /dev/null``; a fresh store each round);
2. with every event of the file stored: ``query`` by a time range + level and by a full-text
   word, against the command's start-up (the same command with a window that selects nothing);
3. ``--new`` after 100 events were appended to the file (a chunk written by EvtxWriter, record
   ids following the file's, and the file header rewritten as a log closed cleanly says it; the
   file is cut back to its size and header afterwards), against ``--new`` with nothing new and
   the start-up;
4. the store's bytes per event beside the .evtx's.

``--new-only --tree OLD --tree NEW`` runs part 3 alone, for each tree (a git work tree of
eventsweep) interleaved round by round, each with a store of its own primed with one ``--new``
sweep of the file (its default window, untimed):

    python3 bench/bench_store.py --new-only --file COPY --rounds 5 --tree /tmp/old --tree .

``--floor`` measures what storing costs at the least, per event, on the first ``--events``
events of the file (their JSON lines, read once): the store's writer itself (its thread's CPU,
fed the batches a sweep hands it), then bare SQLite in this process (the same pragmas, batches
of 5,000 in one transaction each) on a table of the same columns with nothing else, with the
identity index, with the five indexes, with the full-text index, and with both; beside it,
the budget that "storing costs at most 25 % of the sweep" leaves per event (a quarter of the
``--no-store`` sweep's wall time, measured once, over the file's events):

    python3 bench/bench_store.py --floor --file /tmp/big/DC01/Security.evtx --events 100000
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from operator import truediv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventsweep.formats.evtx.index import scan  # noqa: E402
from eventsweep.formats.evtx.layout import CHUNK_SIZE, HEADER_SIZE  # noqa: E402
from eventsweep.formats.evtx.writer import file_header  # noqa: E402
from eventsweep.model import Event, iso, parse_iso  # noqa: E402
from eventsweep.sinks.evtx import EvtxWriter  # noqa: E402
from eventsweep.sources.evtx_resume import start  # noqa: E402
from eventsweep.store.reader import Filter, Reader  # noqa: E402


def timed(argv: Sequence[str], store: Path | None = None, tree: Path = ROOT) -> tuple[float, str]:
    """Wall seconds of ``eventsweep ARGV`` run from ``tree`` (stdout to /dev/null); and its
    stderr."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "eventsweep.cli", *argv]
    if store is not None:
        command += ["--store", str(store)]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=tree, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)  # fmt: skip
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {done.returncode}: {done.stderr[-500:]}")
    return elapsed, done.stderr


def median_of(argv: Sequence[str], store: Path, times: int = 5) -> float:
    return statistics.median(timed(argv, store)[0] for _ in range(times))


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def sweep_rounds(file: str, rounds: int, work: Path) -> tuple[list[float], list[float], Path]:
    plain: list[float] = []
    stored: list[float] = []
    store = work / "events.db"
    common = ["sweep", file, "--all", "--format", "jsonl", "--timeout", "3600", "--no-progress"]
    for _ in range(rounds):
        plain.append(timed([*common, "--no-store"])[0])
        stored.append(timed(common, fresh(store))[0])
        print(f"  round: no store {plain[-1]:.2f}s, store {stored[-1]:.2f}s", flush=True)
    return plain, stored, store


def query_figures(store: Path) -> dict[str, float | int | str]:
    reader = Reader(str(store))
    newest = reader.events(Filter(), size=1).events[0].event.time
    hour_ago = iso(parse_iso(newest) - timedelta(hours=1))
    window = ["--since", hour_ago, "--until", newest]
    nothing = ["query", "--since", "2099-01-01T00:00Z", "--format", "jsonl"]
    startup = median_of(nothing, store)
    by_level = ["query", *window, "--level", "audit_failure", "--format", "jsonl"]
    level_time = median_of(by_level, store)
    level_count = reader.count(Filter(since=hour_ago, until=newest,
                                      levels=frozenset({"audit_failure"})))  # fmt: skip
    word = "locked"
    by_word = ["query", "--grep", word, "--format", "jsonl"]
    word_time = median_of(by_word, store)
    word_count = reader.count(Filter(text=word))
    return {
        "startup": startup,
        "window": f"{hour_ago} … {newest}",
        "level": level_time,
        "level_count": level_count,
        "word": word,
        "word_time": word_time,
        "word_count": word_count,
        "events": reader.count(Filter()),
    }


def append_events(file: str, count: int) -> int:
    """Append one chunk of ``count`` new events to ``file`` (record ids after its newest) and
    rewrite its header as a clean one counting that chunk; the file's size before, to cut it
    back to (see :func:`cut_back`)."""
    size = os.path.getsize(file)
    found, _ = scan(file)
    mark = start(file, found, None).mark
    assert mark is not None and mark.record_id is not None
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as directory:
        made = Path(directory) / "new.evtx"
        writer = EvtxWriter(made)
        writer.records = mark.record_id  # header record ids continue the file's
        for n in range(count):
            writer.write(Event(iso(now), "", "DC01.corp.example.com", "Security",
                               mark.record_id + n + 1, 4625, "audit_failure",
                               "Microsoft-Windows-Security-Auditing", 12544,
                               f"An account failed to log on (bench {n})", {"n": n}))  # fmt: skip
        writer.close()
        chunk = made.read_bytes()[HEADER_SIZE : HEADER_SIZE + CHUNK_SIZE]
    with open(file, "r+b") as out:
        out.seek(0, os.SEEK_END)
        out.write(chunk)
        out.seek(0)
        slots = (size - HEADER_SIZE) // CHUNK_SIZE + 1
        out.write(file_header(slots, mark.record_id + count + 1, dirty=False))
    return size


def cut_back(file: str, size: int, header: bytes) -> None:
    """The file as it was: its size and header."""
    os.truncate(file, size)
    with open(file, "r+b") as out:
        out.write(header)


def new_figures(file: str, store: Path, work: Path) -> dict[str, float]:
    """``--new`` against the start-up of the same command on a one-event file."""
    tiny = work / "tiny.evtx"
    with EvtxWriter(tiny) as writer:
        writer.write(Event(iso(datetime.now(UTC)), "", "PC", "Security", 1, 4624,
                           "audit_success", "Security", 0, "one", {}))  # fmt: skip
    startup = median_of(["sweep", str(tiny), "--format", "jsonl"], store)
    argv = ["sweep", file, "--new", "--format", "jsonl"]
    nothing = median_of(argv, store)
    gained: list[float] = []
    for _ in range(3):
        header = _header(file)
        size = append_events(file, 100)
        try:
            elapsed, err = timed(argv, store)
            assert "events=100 " in err, err
            gained.append(elapsed)
        finally:
            cut_back(file, size, header)
        timed(argv, store)  # the bookmark is gone again: noticed, the window read (not timed)
    return {"startup": startup, "nothing_new": nothing, "hundred_new": statistics.median(gained)}


def _header(file: str) -> bytes:
    with open(file, "rb") as source:
        return source.read(HEADER_SIZE)


Runs = dict[str, list[list[tuple[float, float]]]]  # measure → tree → (wall, CPU) per round
_MEASURES = ("startup", "nothing_new", "hundred_new")


def new_rounds(file: str, trees: list[Path], rounds: int, work: Path) -> None:
    """Part 3 for each tree, interleaved: per round 100 events appended (the file grows by a
    chunk a round), then each tree's ``--new`` (100 new), each tree's ``--new`` again (nothing
    new) and each tree's start-up, the trees' order turned round every round. Wall and CPU
    seconds (the command's user + system time, less moved by other load than the wall)."""
    tiny = work / "tiny.evtx"
    with EvtxWriter(tiny) as writer:
        writer.write(Event(iso(datetime.now(UTC)), "", "PC", "Security", 1, 4624,
                           "audit_success", "Security", 0, "one", {}))  # fmt: skip
    argv = ["sweep", file, "--new", "--format", "jsonl"]
    stores = [fresh(work / f"new-{n}.db") for n in range(len(trees))]
    for tree, store in zip(trees, stores, strict=True):
        timed(argv, store, tree)  # no bookmark yet: the default window
        assert "events=0 " in timed(argv, store, tree)[1]
    runs: Runs = {name: [[] for _ in trees] for name in _MEASURES}
    commands = {"hundred_new": (argv, "events=100 "), "nothing_new": (argv, "events=0 "),
                "startup": (["sweep", str(tiny), "--format", "jsonl"], "events=1 ")}  # fmt: skip
    header, size = _header(file), os.path.getsize(file)
    try:
        for n in range(rounds):
            append_events(file, 100)
            order = list(range(len(trees)))[:: -1 if n % 2 else 1]
            for name, (command, said) in commands.items():
                for at in order:
                    runs[name][at].append(_cpu_timed(command, stores[at], trees[at], said))
            print(f"  round {n + 1} (wall s): " + "; ".join(
                f"{tree.name}: " + ", ".join(f"{name} {runs[name][at][-1][0]:.3f}"
                                             for name in _MEASURES)
                for at, tree in enumerate(trees)), flush=True)  # fmt: skip
    finally:
        cut_back(file, size, header)
    _print_new(trees, runs)


def _cpu_timed(command: list[str], store: Path, tree: Path, said: str) -> tuple[float, float]:
    """Wall and CPU seconds of one command; its summary line must say ``said``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed, err = timed(command, store, tree)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert said in err, err
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def _print_new(trees: list[Path], runs: Runs) -> None:
    """Per tree, wall and CPU: medians, the cost above start-up (median of each round's
    difference), and the median of the per-round ratios to the first tree."""
    for at, tree in enumerate(trees):
        print(f"{tree}:")
        for kind, part in (("wall", 0), ("CPU", 1)):
            times = {name: [run[part] for run in runs[name][at]] for name in _MEASURES}
            first = {name: [run[part] for run in runs[name][0]] for name in _MEASURES}
            said = [f"start-up {statistics.median(times['startup']):.3f}s"]
            for name in _MEASURES[1:]:
                above = _median_of(times[name], times["startup"], lambda a, b: a - b)
                said.append(f"{name} {statistics.median(times[name]):.3f}s"
                            f" ({1000 * above:+.0f} ms above start-up)")  # fmt: skip
            if at:
                ratios = [f"{name} {_median_of(times[name], first[name], truediv):.2f}"
                          for name in _MEASURES]  # fmt: skip
                said.append(f"/ {trees[0].name}: {', '.join(ratios)}")
            print(f"  {kind}: " + ", ".join(said))


def _median_of(a: list[float], b: list[float], how: Callable[[float, float], float]) -> float:
    """The median of ``how(a[i], b[i])``: a measure paired with its baseline round by round."""
    return statistics.median(how(x, y) for x, y in zip(a, b, strict=True))


FLOOR_TABLE = (
    "CREATE TABLE e (id INTEGER PRIMARY KEY, time TEXT, target TEXT, log TEXT, ident TEXT,"
    " event_id INT, level TEXT, source TEXT, doc TEXT);"
)
FLOOR_IDENTITY = "CREATE UNIQUE INDEX e_identity ON e (target, log, ident, time);"
FLOOR_INDEXES = FLOOR_IDENTITY + (
    "CREATE INDEX e_time ON e (time); CREATE INDEX e_level ON e (level, time);"
    " CREATE INDEX e_event_id ON e (event_id, time);"
    " CREATE INDEX e_source ON e (source COLLATE NOCASE, time);"
)
FLOOR_TEXT = "CREATE VIRTUAL TABLE t USING fts5 (message, content = '', detail = 'none');"


def first_lines(file: str, count: int) -> list[bytes]:
    """The first ``count`` JSON lines of a sweep of the file (newest first)."""
    argv = [sys.executable, "-m", "eventsweep.cli", "sweep", file, "--all", "--no-store"]
    process = subprocess.Popen(
        [*argv, "--format", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    assert process.stdout is not None
    lines = [line for _, line in zip(range(count), process.stdout, strict=False)]
    process.kill()
    process.wait()
    return lines


def writer_cost(lines: list[bytes], work: Path) -> float:
    """CPU µs per event of this process while the store's writer takes sweep-sized batches
    and commits them (its thread does the work; handing a batch over is a queue put)."""
    import uuid

    import orjson

    from eventsweep.batch import Batch
    from eventsweep.model import Query
    from eventsweep.sinks import SweepInfo
    from eventsweep.store.writer import StoreWriter

    times = [orjson.loads(line)["time"] for line in lines]
    batches = [
        Batch.encoded(times[at : at + 2000], b"".join(lines[at : at + 2000]))
        for at in range(0, len(lines), 2000)
    ]
    writer = StoreWriter(str(fresh(work / "floor-writer.db")))
    writer.open(SweepInfo(uuid.uuid4().hex, ("/tmp/big/DC01/Security.evtx",), Query()))
    started = time.process_time()
    for batch in batches:
        writer.write(batch)
    writer.close()
    return (time.process_time() - started) / len(lines) * 1e6


def sqlite_cost(rows: list[tuple[Any, ...]], ddl: str, text: bool, path: Path) -> float:
    """CPU µs per event of bare SQLite inserts (and the full-text insert) of ``rows``."""
    import sqlite3

    connection = sqlite3.connect(fresh(path), isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.executescript(ddl)
    insert = "INSERT INTO e (time, target, log, ident, event_id, level, source, doc)"
    started = time.process_time()
    for at in range(0, len(rows), 5000):
        connection.execute("BEGIN")
        connection.executemany(f"{insert} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows[at : at + 5000])
        if text:
            connection.execute(
                "INSERT INTO t (rowid, message) SELECT id, json_extract(doc, '$.message')"
                " FROM e WHERE id > ?",
                (at,),
            )
        connection.execute("COMMIT")
    spent = time.process_time() - started
    connection.close()
    return spent / len(rows) * 1e6


def floor(file: str, count: int, work: Path) -> None:
    import orjson

    argv = ["sweep", file, "--all", "--no-store", "--format", "jsonl", "--timeout", "3600"]
    wall, said = timed(argv)
    total = int(said.split("events=")[1].split()[0])
    print(f"sweep --no-store {wall:.2f}s over {total} records: 25 % of it is"
          f" {wall / 4 / total * 1e6:.2f} us of wall per record")  # fmt: skip
    lines = first_lines(file, count)
    print(f"the store's writer: {writer_cost(lines, work):.2f} us CPU per event ({len(lines)})")
    decoded = [orjson.loads(line) for line in lines]
    rows = [
        (d["time"], d["target"], d["log"], str(d["record_id"]), d["event_id"], d["level"],
         d["source"], line.decode().rstrip("\n"))
        for d, line in zip(decoded, lines, strict=True)
    ]  # fmt: skip
    for name, ddl, text in (
        ("a table, nothing else", FLOOR_TABLE, False),
        ("+ the identity index", FLOOR_TABLE + FLOOR_IDENTITY, False),
        ("+ the five indexes", FLOOR_TABLE + FLOOR_INDEXES, False),
        ("+ the full-text index (no other index)", FLOOR_TABLE + FLOOR_TEXT, True),
        ("+ both", FLOOR_TABLE + FLOOR_INDEXES + FLOOR_TEXT, True),
    ):  # fmt: skip
        print(f"bare SQLite, {name}: {sqlite_cost(rows, ddl, text, work / 'floor.db'):.2f} us CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="/tmp/big/DC01/Security.evtx")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", default=None, help="directory for the stores (default: temp)")
    parser.add_argument(
        "--skip-sweeps", action="store_true", help="reuse the store --work holds (parts 2-4)"
    )
    parser.add_argument("--new-only", action="store_true", help="part 3 alone, for each --tree")
    parser.add_argument("--floor", action="store_true", help="the least storing costs, per event")
    parser.add_argument("--events", type=int, default=100_000, help="events for --floor")
    parser.add_argument(
        "--tree", action="append", type=Path, help="an eventsweep work tree (default: this one)"
    )
    arguments = parser.parse_args()
    work = Path(arguments.work or tempfile.mkdtemp(prefix="bench-store-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{platform.node()} {os.cpu_count()} cores, {platform.python_version()},"
          f" {datetime.now(UTC):%Y-%m-%d %H:%M}Z, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    if arguments.floor:
        floor(arguments.file, arguments.events, work)
        if not arguments.work:
            shutil.rmtree(work, ignore_errors=True)
        return
    if arguments.new_only:
        trees = [tree.resolve() for tree in arguments.tree or [ROOT]]
        new_rounds(arguments.file, trees, arguments.rounds, work)
        if not arguments.work:
            shutil.rmtree(work, ignore_errors=True)
        return
    store = work / "events.db"
    if not (arguments.skip_sweeps and store.exists()):
        plain, stored, store = sweep_rounds(arguments.file, arguments.rounds, work)
        overhead = [s / p - 1 for p, s in zip(plain, stored, strict=True)]
        print(f"sweep --no-store {statistics.median(plain):.2f}s, with the store"
              f" {statistics.median(stored):.2f}s: +{100 * statistics.median(overhead):.0f}%"
              f" (rounds {', '.join(f'{100 * o:+.0f}%' for o in overhead)})")  # fmt: skip
    figures = query_figures(store)
    print(f"start-up (query selecting nothing): {figures['startup']:.3f}s")
    print(f"query {figures['window']} --level audit_failure: {figures['level']:.3f}s"
          f" ({figures['level_count']} events)")  # fmt: skip
    print(f"query --grep {figures['word']}: {figures['word_time']:.3f}s"
          f" ({figures['word_count']} events)")  # fmt: skip
    new = new_figures(arguments.file, store, work)
    print(f"--new: start-up (a one-event file) {new['startup']:.3f}s, nothing new"
          f" {new['nothing_new']:.3f}s, 100 new events {new['hundred_new']:.3f}s")  # fmt: skip
    events = int(figures["events"])
    size = sum(
        os.path.getsize(f"{store}{s}") for s in ("", "-wal") if os.path.exists(f"{store}{s}")
    )
    evtx = os.path.getsize(arguments.file)
    print(f"size: store {size / events:.0f} bytes/event ({size / 1e6:.0f} MB), .evtx"
          f" {evtx / events:.0f} bytes/event ({evtx / 1e6:.0f} MB), {events} events")  # fmt: skip
    if not arguments.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
