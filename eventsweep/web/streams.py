"""The live sweeps' server-sent event streams, answered as plain ASGI.

Fifty pages watching one sweep are fifty streams opened on the event loop that runs the
sweep: each costs what the stack under it costs. :class:`LiveStreams` (a middleware inside the
:class:`~eventsweep.web.security.Guard`) answers ``GET /api/live/{id}/stream`` of a sweep it
knows without FastAPI's routing and dependencies, and :func:`respond` sends the chunks of
:func:`~eventsweep.web.live.watch` with one task of its own per stream (the one that notices
the page leaving). Anything else (an unknown sweep, a bad ``seen``) goes on to the FastAPI
route of the same path, which answers the errors, documents the stream in the OpenAPI
document, and serves it the same way (:class:`StreamResponse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from eventsweep.web.live import PING, LiveSweep, Sweeps, watch

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]
PATH = re.compile(r"/api/live/([0-9A-Za-z_-]{1,64})/stream")


async def respond(chunks: AsyncGenerator[bytes, None], receive: Receive, send: Send) -> None:
    """Send ``chunks`` as one streamed response; stop (and close them) when the client
    leaves."""
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    streaming = asyncio.current_task()
    assert streaming is not None
    sending = True

    async def listen() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if sending:
            streaming.cancel()

    listener = asyncio.get_running_loop().create_task(listen())
    try:
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        sending = False  # a disconnect from now on is the end, not a reason to cancel
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not listener.done() or listener.cancelled():
            raise  # cancelled from outside (the server stopping)
        streaming.uncancel()  # the client left: the stream ends quietly
    finally:
        sending = False
        listener.cancel()


def seen_of(query_string: bytes) -> int | None:
    """``seen`` of the query (0 if absent), or None when it is not a whole number ≥ 0."""
    values = parse_qs(query_string.decode("latin-1")).get("seen", ["0"])
    text = values[-1]
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


class LiveStreams:
    """ASGI middleware: the stream of a live sweep this server knows, answered here."""

    ping = PING  # seconds of nothing before a comment is sent

    def __init__(self, app: ASGIApp, sweeps: Sweeps) -> None:
        self.app, self.sweeps = app, sweeps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live = self._live(scope)
        seen = seen_of(scope.get("query_string", b"")) if live is not None else None
        if live is None or seen is None:
            await self.app(scope, receive, send)
            return
        await respond(watch(live, seen, self.ping), receive, send)

    def _live(self, scope: Scope) -> LiveSweep | None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        found = PATH.fullmatch(scope.get("path", ""))
        return self.sweeps.get(found[1]) if found else None


class StreamResponse(Response):
    """The FastAPI route's response: the same stream (:func:`respond`)."""

    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncGenerator[bytes, None], status_code: int = 200) -> None:
        super().__init__(status_code=status_code)  # (FastAPI reads the default for OpenAPI)
        self.chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(self.chunks, receive, send)
