"""Many watchers of one live sweep: one publication serialised once for all of them, the newest
winning for a watcher that fell behind, and 50 server-sent-event streams of a real sweep that
all end with its final state, its outcomes the same as unwatched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest

from eventsweep.model import now_iso
from eventsweep.web.live import SENT, LiveSweep, TargetState, watch
from eventsweep.web.streams import LiveStreams, respond
from tests.web.conftest import SINCE, Served
from tests.web.test_api import post_sweep, session, wait_ended

WATCHERS = 50
T = TypeVar("T")


def run_apart(main: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(main())`` in a thread of its own (the browser tests' Playwright keeps an
    event loop running in this one)."""

    async def wrapped() -> T:
        return await main()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wrapped()).result()


def parsed(frame: bytes) -> list[tuple[str, Any]]:
    """The server-sent events of one chunk: (name, data as JSON)."""
    found = []
    for block in frame.decode().split("\n\n"):
        if block:
            name, data = block.split("\n")
            found.append((name.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))))
    return found


def arrive(live: LiveSweep, first: int, last: int) -> None:
    """Events ``first``..``last`` reach the live sweep (as the tap hands them on)."""
    for number in range(first, last + 1):
        live.recent.append((number, {"message": f"event {number}"}))
    live.arrived = last
    live.bump()


def messages(frame: bytes) -> list[str]:
    return [event["message"] for name, data in parsed(frame) if name == "events" for event in data]


async def in_step_and_behind() -> None:
    live = LiveSweep("s", [TargetState("a")], {})
    first: AsyncIterator[bytes] = watch(live)
    second: AsyncIterator[bytes] = watch(live)
    assert await anext(first) is await anext(second)  # the state now, built once
    arrive(live, 1, 3)
    one, two = await anext(first), await anext(second)
    assert one is two  # in step: the very same bytes
    assert messages(one) == ["event 1", "event 2", "event 3"]
    arrive(live, 4, 5)
    assert messages(await anext(first)) == ["event 4", "event 5"]
    arrive(live, 6, 7)
    assert messages(await anext(first)) == ["event 6", "event 7"]
    behind = await anext(second)  # it skipped a publication: the newest, with what it missed
    assert messages(behind) == [f"event {n}" for n in range(4, 8)]
    arrive(live, 8, 8 + SENT + 5)  # more than a message carries: the newest SENT
    newest = await anext(first)
    assert messages(newest) == [f"event {n}" for n in range(14, 14 + SENT)]
    assert await anext(second) is newest  # in step again
    live.ended = now_iso()
    live.bump()
    ends = [await anext(first), await anext(second)]
    assert ends[0] is ends[1]
    assert [name for name, _ in parsed(ends[0])] == ["state", "end"]
    assert parsed(ends[0])[1][1]["running"] is False
    for stream in (first, second):
        with pytest.raises(StopAsyncIteration):
            await anext(stream)


def test_watchers_in_step_share_one_publication_and_the_newest_wins() -> None:
    run_apart(in_step_and_behind)


def test_a_watcher_after_the_end_gets_the_final_state_at_once() -> None:
    async def late() -> list[bytes]:
        live = LiveSweep("s", [TargetState("a")], {})
        arrive(live, 1, 2)
        live.ended = now_iso()
        live.bump()
        return [frame async for frame in watch(live, shown=1)]

    (frame,) = run_apart(late)
    assert [name for name, _ in parsed(frame)] == ["state", "events", "end"]
    assert messages(frame) == ["event 2"]


# ---- 50 watchers of a real sweep --------------------------------------------------------------


async def one_watcher(client: httpx.AsyncClient, live: str) -> list[tuple[str, Any]]:
    """Every server-sent event one watcher receives, until ``end``."""
    received: list[tuple[str, Any]] = []
    name = ""
    async with client.stream("GET", f"/api/live/{live}/stream") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                received.append((name, orjson.loads(line.removeprefix("data: "))))
                if name == "end":
                    break
    return received


async def all_watch(url: str, live: str) -> list[list[tuple[str, Any]]]:
    limits = httpx.Limits(max_connections=WATCHERS + 1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(one_watcher(client, live) for _ in range(WATCHERS)))


def ended_as(state: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(t["target"], t["state"], t["events"]) for t in state["targets"]]


def test_fifty_watchers_of_one_sweep_all_get_its_end(fresh: Served, demo_dir: Path) -> None:
    targets = [str(demo_dir / name) for name in sorted(p.name for p in demo_dir.iterdir())]
    with fresh.client() as client:
        token = session(client)
        alone = wait_ended(
            client, post_sweep(client, token, targets=targets, since=SINCE).json()["id"]
        )
        live = post_sweep(client, token, targets=targets, since=SINCE).json()["id"]
        streams = run_apart(lambda: all_watch(fresh.url, live))
        final = wait_ended(client, live)
    assert {state for _, state, _ in ended_as(alone)} == {"ok"} and alone["events"] > 10_000
    assert ended_as(final) == ended_as(alone)  # watched or not, the same outcomes
    assert final["events"] == alone["events"]
    assert len(streams) == WATCHERS
    for received in streams:
        assert received[-1] == ("end", final)
        counts = [data["events"] for name, data in received if name == "state"]
        assert counts == sorted(counts)  # progress never goes back
        assert all(isinstance(data, list) and data for name, data in received if name == "events")
    seen_running = [
        data for s in streams for name, data in s if name == "state" and data["running"]
    ]
    assert seen_running  # they watched it running, not only its end


# ---- the stream itself: pings, a watcher leaving, the errors ----------------------------------


def idle_sweep(served: Served, sweep_id: str) -> LiveSweep:
    """A running sweep that never changes, known to the server."""
    live = LiveSweep(sweep_id, [TargetState("a")], {})
    served.context.sweeps.sweeps[sweep_id] = live
    return live


def wait_until(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_an_idle_stream_is_pinged_and_a_watcher_leaving_is_noticed(
    fresh: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LiveStreams, "ping", 0.2)
    live = idle_sweep(fresh, "idle1")
    with fresh.client() as client, client.stream("GET", "/api/live/idle1/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        assert "default-src" in response.headers["content-security-policy"]  # the Guard's
        lines = response.iter_lines()
        assert next(lines) == "event: state"
        assert orjson.loads(next(lines).removeprefix("data: "))["running"] is True
        assert next(lines) == ""
        assert next(lines) == ": ping"  # nothing happened for 0.2 s
        assert live.watching == 1
    assert wait_until(lambda: live.watching == 0)  # the client left: its stream ended


def test_stream_errors_are_answered_by_the_route(fresh: Served) -> None:
    idle_sweep(fresh, "idle2")
    with fresh.client() as client:
        assert client.get("/api/live/nope/stream").status_code == 404
        for seen in ("-1", "x", "1.5"):
            response = client.get("/api/live/idle2/stream", params={"seen": seen})
            assert response.status_code == 422, seen


async def through_the_route() -> list[bytes]:
    """The FastAPI route's own response (what the middleware saves it from): the same bytes."""
    from eventsweep.web import api

    live = LiveSweep("s", [TargetState("a")], {})
    arrive(live, 1, 2)
    live.ended = now_iso()
    live.bump()
    sent: list[bytes] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(60)
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body":
            sent.append(message["body"])

    context = type("Ctx", (), {"sweeps": type("S", (), {"get": lambda self, _: live})()})()
    response = await api.stream(context, "s", 1)
    await response({"type": "http"}, receive, send)
    expected = [frame async for frame in watch(live, 1)]
    return [b"".join(sent), b"".join(expected)]


def test_the_route_serves_the_same_stream() -> None:
    got, expected = run_apart(through_the_route)
    assert got == expected
    assert messages(got) == ["event 2"]


async def leave_after_first(chunks: list[bytes]) -> bool:
    """respond() with a client that leaves after the first chunk: is the generator closed?"""
    closed = False
    left = asyncio.Event()

    async def forever() -> AsyncGenerator[bytes, None]:
        nonlocal closed
        try:
            while True:
                yield b"chunk"
                await asyncio.sleep(0.01)
        finally:
            closed = True

    async def receive() -> dict[str, Any]:
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message["body"])
            left.set()

    await asyncio.wait_for(respond(forever(), receive, send), 5)
    return closed


def test_respond_stops_and_closes_the_stream_when_the_client_leaves() -> None:
    chunks: list[bytes] = []
    assert run_apart(lambda: leave_after_first(chunks)) is True
    assert 1 <= len(chunks) <= 2 and all(chunk == b"chunk" for chunk in chunks)
