"""The web application's costs (issue 13).

    python3 -m eventsweep.cli demo-data /tmp/big --size 1G
    python3 bench/bench_web.py --big /tmp/big/DC01/Security.evtx --rounds 5

1. **First events on screen**: a real browser (Debian's chromium) on the new-sweep page of a
   server over an empty store; the time from pressing *Start* (a local sweep of the demo data,
   its last week) to the first event row in the page (over server-sent events).
2. **Reading the store**: the events of the 1 GB demo Security file (803,973) swept into a store
   (once, kept in ``--store``, default ``$TMPDIR/eventsweep-web-bench.db``); then, through a
   real uvicorn on loopback, each API call timed at the client (the server's time plus a
   loopback round trip): a results page of 50 rows for several filters, at the first page and
   deep in the result (the keyset token of page 200), the histogram of the whole range, the
   facets.
3. **50 watchers**: the same local sweep started through the API of ``eventsweep serve`` (a
   process of its own, in a session of its own) with no watcher and with 50 server-sent-event
   streams open on it, in rounds alternating which comes first. The watchers' client is
   another process, at the lowest priority (``nice`` 19: browsers on other machines would not
   take these cores), a raw socket per watcher counting what it receives. Measured: the
   sweep's wall time (its live state's start to its end, as the server tells), the CPU time
   of the server process and of the server with its sweeps' worker processes meanwhile, and
   per watcher the messages (``event:`` lines) and bytes per second. ``--server-tree DIR``
   runs the server from another checkout (an earlier revision); ``BENCH_WEB_PROFILE=FILE``
   runs its event loop's thread under cProfile (statistics written when it stops; the
   profiler itself slows the server).
4. **Opening a stream** (``--parts open``): the CPU time the server's event loop spends per
   stream opened, the ASGI app called in-process (no sockets) for 1,000 streams of an ended
   sweep, each answered with its final state; from ``--server-tree`` too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventsweep.demo import generate  # noqa: E402
from eventsweep.model import parse_iso  # noqa: E402
from eventsweep.query import build_query  # noqa: E402
from eventsweep.runner import sweep  # noqa: E402
from eventsweep.store.writer import StoreWriter  # noqa: E402
from eventsweep.web.context import WebConfig  # noqa: E402
from tests.testbed.net import free_port  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, serving  # noqa: E402


def first_events(demo: Path, rounds: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as scratch:
                config = WebConfig(store=str(Path(scratch) / "events.db"))
                with serving(config) as served:
                    page = browser.new_page()
                    page.goto(served.url + "/sweeps/new")
                    page.fill("textarea[name=targets]", str(demo))
                    page.fill("input[name=since]", "7d")
                    began = time.perf_counter()
                    page.click("#start")
                    page.locator("#recent tbody tr").first.wait_for(timeout=30_000)
                    times.append(time.perf_counter() - began)
                    page.locator("#live-state:has-text('ended')").wait_for(timeout=60_000)
                    page.close()
        browser.close()
    return times


def fill(store: Path, big: Path) -> None:
    if store.exists():
        return
    began = time.perf_counter()
    outcomes = sweep(
        [str(big)], build_query(since=None), outputs=[StoreWriter(str(store))], timeout=3600.0
    )
    if any(outcome.status != "ok" for outcome in outcomes):
        raise SystemExit(f"the fill sweep did not end ok: {[o.line() for o in outcomes]}")
    print(f"stored {sum(o.events for o in outcomes)} events in {time.perf_counter() - began:.0f} s")


def timed_get(client: httpx.Client, path: str, params: dict[str, Any], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        response = client.get(path, params=params)
        samples.append(time.perf_counter() - began)
        response.raise_for_status()
    return statistics.median(samples)


def timed_page_two(client: httpx.Client, html: str, rounds: int) -> float:
    """The next page of a page as a browser follows its link (the same ``at``: summaries
    from the cache)."""
    import html as markup
    import re

    found = re.search(r'href="([^"]*)" rel="next" id="next"', html)
    if found is None:
        return float("nan")
    path, _, query = markup.unescape(found.group(1)).partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    from urllib.parse import unquote_plus

    params = {key: unquote_plus(value) for key, value in params.items()}
    return timed_get(client, path, params, rounds)


def deep_token(client: httpx.Client, params: dict[str, Any], pages: int) -> tuple[str, int]:
    """The keyset token of page ``pages + 1`` (or of the deepest page reached in 60 s)."""
    token, depth, deadline = "", 0, time.monotonic() + 60
    while depth < pages and time.monotonic() < deadline:
        body = client.get("/api/events", params={**params, "after": token}).json()
        if not body["next"]:
            break
        token, depth = body["next"], depth + 1
    return token, depth


def reading(store: Path, rounds: int) -> list[tuple[str, float]]:
    found: list[tuple[str, float]] = []
    with serving(WebConfig(store=str(store))) as served, served.client() as client:
        everything = {"since": ""}
        first = client.get("/api/events", params={**everything, "size": 20}).json()["events"]
        newest = parse_iso(first[0]["time"])
        day = {"since": (newest.replace(hour=0, minute=0)).isoformat(), "until": ""}
        filters: list[tuple[str, dict[str, Any]]] = [
            ("no filter (every event)", everything),
            ("level audit_failure", {**everything, "level": "audit_failure"}),
            ("event id 4625", {**everything, "event_id": "4625"}),
            ("text: word 'logon'", {**everything, "q": "logon"}),
            (
                "source + level",
                {
                    **everything,
                    "source": "Microsoft-Windows-Security-Auditing",
                    "level": "audit_success",
                },
            ),
            ("last day", day),
        ]
        for name, params in filters:
            found.append(
                (f"results page, first: {name}", timed_get(client, "/api/events", params, rounds))
            )
            token, depth = deep_token(client, params, 200)
            if token:
                deep = {**params, "after": token}
                found.append(
                    (
                        f"results page {depth + 1} (keyset): {name}",
                        timed_get(client, "/api/events", deep, rounds),
                    )
                )
        found.append(
            ("results page as HTML, no filter", timed_get(client, "/", everything, rounds))
        )
        html = client.get("/", params=everything).text
        found.append(
            (
                "results page 2 as HTML (its links: histogram, facets cached)",
                timed_page_two(client, html, rounds),
            )
        )
        found.append(
            ("histogram, whole range", timed_get(client, "/api/histogram", everything, rounds))
        )
        found.append(
            (
                "histogram, whole range, level audit_failure",
                timed_get(client, "/api/histogram", filters[1][1], rounds),
            )
        )
        found.append(("facets, whole range", timed_get(client, "/api/facets", everything, rounds)))
        found.append(("facets, last day", timed_get(client, "/api/facets", day, rounds)))
        found.append(
            ("facets, level audit_failure", timed_get(client, "/api/facets", filters[1][1], rounds))
        )
    return found


WATCHERS = 50
NICE = 19  # the watchers' client yields the cores to the server and its workers


async def watch(port: int, live: str) -> tuple[int, int, float]:
    """One watcher as cheap as a client can be (a raw socket): the ``event:`` lines and bytes
    it received, and how long it was open."""
    began = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"GET /api/live/{live}/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(request.encode())
    received = bytearray()
    while chunk := await reader.read(65536):
        received += chunk
        if b"event: end" in received[-len(chunk) - 16 :]:
            break
    writer.close()
    return received.count(b"event: "), len(received), time.perf_counter() - began


def watch_client(port: int, count: int) -> None:
    """``--watch-client``: for each sweep id read from stdin, ``count`` watchers of it from
    this process (at the lowest priority); one JSON line per sweep: the fewest messages a
    watcher got, and the median watcher's messages and bytes per second."""
    os.nice(NICE)

    async def all_watch(live: str) -> list[tuple[int, int, float]]:
        return await asyncio.gather(*(watch(port, live) for _ in range(count)))

    for line in sys.stdin:
        found = asyncio.run(all_watch(line.strip()))
        rates = [(messages / open_, size / open_) for messages, size, open_ in found]
        report = {
            "messages": min(messages for messages, _, _ in found),
            "per_second": statistics.median(rate for rate, _ in rates),
            "bytes_per_second": statistics.median(rate for _, rate in rates),
        }
        print(json.dumps(report), flush=True)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The user + system CPU time so far of one process (its threads included) and of every
    process of its session (the server is started in a session of its own: its sweeps'
    worker processes too)."""
    own = whole = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            values = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(values[3]) == pid:  # the session (field 6)
            seconds = (int(values[11]) + int(values[12])) / os.sysconf("SC_CLK_TCK")
            whole += seconds
            own += seconds if stat.parent.name == str(pid) else 0.0
    return own, whole


@dataclass
class Round:
    wall: float  # the sweep's wall time (its live state's start to its end)
    cpu: float  # the server process's CPU time meanwhile
    all_cpu: float  # the CPU time of the server and its worker processes meanwhile
    watched: dict[str, Any]  # what the watchers' client reported (empty: no watchers)


def one_sweep(url: str, server: int, demo: Path, viewers: subprocess.Popen[str] | None) -> Round:
    """One sweep through the API, watched by the ``viewers`` (the watchers' client) if any;
    its end is found by polling the live state every 0.1 s (the same with or without them)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        token = client.get("/api/session").json()["csrf"]
        body = {"targets": [str(demo)], "since": "7d"}
        before = cpu_seconds(server)
        live = client.post("/api/sweeps", json=body, headers={"x-csrf-token": token}).json()["id"]
        if viewers is not None:
            assert viewers.stdin is not None
            viewers.stdin.write(live + "\n")
            viewers.stdin.flush()
        while (state := client.get(f"/api/live/{live}").json())["running"]:
            time.sleep(0.1)
        after = cpu_seconds(server)
        watched = json.loads(viewers.stdout.readline()) if viewers and viewers.stdout else {}
    wall = (parse_iso(state["ended"]) - parse_iso(state["started"])).total_seconds()
    return Round(wall, after[0] - before[0], after[1] - before[1], watched)


PROFILED = """
import cProfile, signal, sys
from eventsweep.cli import main
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # uvicorn raises it again once stopped
profile = cProfile.Profile()
profile.enable()
try:
    main(sys.argv[2:])
finally:
    profile.disable()
    profile.dump_stats(sys.argv[1])
"""


def serve_command(store: Path) -> list[str]:
    """``eventsweep serve``; its event loop's thread under cProfile when ``BENCH_WEB_PROFILE``
    names a file for the statistics (written when the server stops)."""
    serve = ["serve", "--store", str(store)]
    profile = os.environ.get("BENCH_WEB_PROFILE")
    if profile:
        return [sys.executable, "-c", PROFILED, profile, *serve]
    return [sys.executable, "-m", "eventsweep.cli", *serve]


def watchers(demo: Path, rounds: int, tree: Path) -> list[tuple[Round, Round]]:
    """The server in a process of its own (``eventsweep serve`` of the eventsweep in ``tree``,
    as users run it), the 50 watchers in another one at the lowest priority (as browsers on
    other machines would be: not taking the server's cores), rounds without and with watchers
    interleaved."""
    found = []
    scratch = Path(tempfile.mkdtemp())
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tree), "EVENTSWEEP_PORT": str(port)}
    server = subprocess.Popen(
        serve_command(scratch / "s.db"),
        env=env,
        cwd=tree,  # python -m puts the working directory first on the path
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, __file__, "--watch-client", str(port), str(WATCHERS)]
    viewers = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        while True:
            try:
                httpx.get(url + "/static/style.css")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        one_sweep(url, server.pid, demo, None)  # warm: worker pool, store created
        for number in range(rounds):  # alone first, then watched first: a drift hits both
            if number % 2 == 0:
                alone = one_sweep(url, server.pid, demo, None)
                found.append((alone, one_sweep(url, server.pid, demo, viewers)))
            else:
                watched = one_sweep(url, server.pid, demo, viewers)
                found.append((one_sweep(url, server.pid, demo, None), watched))
    finally:
        viewers.communicate(timeout=30)
        server.terminate()
        server.wait(60)
        with contextlib.suppress(ProcessLookupError):  # its worker processes
            os.killpg(server.pid, signal.SIGTERM)
    return found


def report_watchers(rows: list[tuple[Round, Round]]) -> None:
    for alone, watched in rows:
        seen = watched.watched
        print(
            f"sweep alone {alone.wall:.3f} s (CPU: server {alone.cpu:.2f} s, with workers "
            f"{alone.all_cpu:.2f} s), with {WATCHERS} watchers {watched.wall:.3f} s "
            f"({watched.wall / alone.wall - 1:+.1%}; CPU {watched.cpu:.2f} s, "
            f"{watched.all_cpu:.2f} s); each watcher got >= {seen['messages']} messages, "
            f"{seen['per_second']:.1f} messages/s, {seen['bytes_per_second'] / 1000:.1f} kB/s"
        )
    if rows:
        ratio = statistics.median(w.wall / a.wall for a, w in rows)
        cpu = statistics.median(w.cpu / a.cpu for a, w in rows)
        whole = statistics.median(w.all_cpu / a.all_cpu for a, w in rows)
        print(
            f"median with {WATCHERS} watchers: wall {ratio - 1:+.1%}, server CPU {cpu - 1:+.1%},"
            f" server and workers CPU {whole - 1:+.1%}"
        )


OPEN_COST = """
import asyncio, sys, tempfile, time
from eventsweep.web.app import create_app
from eventsweep.web.context import WebConfig
from eventsweep.web.live import LiveSweep, TargetState

async def main(count: int) -> None:
    app = create_app(WebConfig(store=tempfile.mktemp(suffix=".db")))
    live = LiveSweep(id="abc", targets=[TargetState("x")], query={})
    live.ended = "2026-12-01T00:00:00Z"
    app.state.context.sweeps.sweeps["abc"] = live
    path = "/api/live/abc/stream"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": [(b"host", b"127.0.0.1")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080)}
    bodies = []
    async def receive():
        await asyncio.sleep(3600)
    async def send(message):
        bodies.append(message.get("body", b""))
    await app(dict(scope, state={}), receive, send)  # warm
    assert b"event: end" in b"".join(bodies), bodies
    started = time.process_time()
    for _ in range(count):
        await app(dict(scope, state={}), receive, send)
    print((time.process_time() - started) / count * 1000)

asyncio.run(main(int(sys.argv[1])))
"""


def open_cost(tree: Path, count: int = 1000) -> float:
    """CPU milliseconds per stream opened (see the module's docstring, part 4)."""
    environment = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run(
        [sys.executable, "-c", OPEN_COST, str(count)],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1])


def main() -> int:
    if sys.argv[1:2] == ["--watch-client"]:
        watch_client(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", default="/tmp/big/DC01/Security.evtx")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--store",
        default=str(Path(tempfile.gettempdir()) / "eventsweep-web-bench.db"),
        help="the store of the big file's events (filled once, then reused)",
    )
    parser.add_argument("--parts", default="first,watchers,reads", help="which measures")
    parser.add_argument(
        "--server-tree",
        default=str(ROOT),
        help="the eventsweep tree the watchers' server runs from (another revision's checkout)",
    )
    arguments = parser.parse_args()
    parts = set(arguments.parts.split(","))
    print(f"# {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as scratch:
        demo = Path(scratch) / "demo"
        generate(demo)
        if "first" in parts:
            times = first_events(demo, arguments.rounds)
            print(
                "first events on screen after Start, s:",
                " ".join(f"{t:.3f}" for t in times),
                f"(median {statistics.median(times):.3f})",
            )
        if "open" in parts:
            costs = [open_cost(Path(arguments.server_tree)) for _ in range(arguments.rounds)]
            print(
                "CPU per stream opened, ms:",
                " ".join(f"{c:.3f}" for c in costs),
                f"(median {statistics.median(costs):.3f})",
            )
        if "watchers" in parts:
            report_watchers(watchers(demo, arguments.rounds, Path(arguments.server_tree)))
    if "reads" not in parts:
        return 0
    big = Path(arguments.big)
    store = Path(arguments.store)
    fill(store, big)
    for name, seconds in reading(store, arguments.rounds):
        print(f"{seconds * 1000:8.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
