"""The ``win://`` source: the engine's view of one Windows event log target.

``events()`` connects, logs on, binds and reads in worker threads (one hop per stage and per
read buffer), then yields each buffer's events as one list on the loop. The connect stage has
its own deadline (``WinOptions.connect_timeout``) so a silent host ends as ``timeout`` in that
time. On cancellation or early close the session's socket is shut down at once (no thread is
left blocked); on a normal end it logs off politely.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass

from eventsweep.concurrency import run_in_thread
from eventsweep.model import Event, Query, TargetStatus
from eventsweep.sources.winrpc import reader
from eventsweep.sources.winrpc.credentials import Credentials
from eventsweep.sources.winrpc.failures import ConnectTimeout
from eventsweep.sources.winrpc.session import Session
from eventsweep.sources.winrpc.target import WinTarget


@dataclass(frozen=True, slots=True)
class WinSource:
    """One ``win://`` target, ready to be read (see ``eventsweep.sources`` for the contract)."""

    spec: WinTarget
    credentials: Credentials
    connect_timeout: float = 10.0

    @property
    def target(self) -> str:
        return self.spec.text

    def logs(self, query: Query) -> tuple[str, ...]:
        """``--log`` names replace the target's own log."""
        return query.logs or (self.spec.log,)

    async def events(
        self, query: Query, status: TargetStatus
    ) -> AsyncGenerator[Event | list[Event], None]:
        """Lists of events (one per read buffer), newest first; see the source contract."""
        session = Session(self.spec, self.credentials, self.connect_timeout)
        done = False
        try:
            await self._connect(session)
            wanted = reader.decoders(self.target, self.logs(query), query)
            chunks = reader.chunks(session, wanted, status.resume)
            remaining = query.limit
            while (chunk := await run_in_thread(_next_chunk, chunks)) is not None:
                if chunk.damaged:
                    status.warn(chunk.damaged[0], count=len(chunk.damaged))
                for note in chunk.notes:
                    status.warn(note, 0, partial=False)
                for mark in chunk.marks:
                    status.bookmark(mark)
                events = chunk.events if remaining is None else chunk.events[:remaining]
                if events:
                    yield events
                if remaining is not None:
                    remaining -= len(events)
                    if remaining <= 0:
                        break
            done = True
        finally:
            if done:
                try:
                    await run_in_thread(session.close)
                except asyncio.CancelledError:
                    session.abort()  # the logoff hangs past the deadline: the worker ends now
                    raise
            else:
                session.abort()  # never blocks: shuts the socket, any worker's call fails now
                session.close()  # after abort: releases the socket, sends nothing

    async def _connect(self, session: Session) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                await run_in_thread(session.connect)
        except TimeoutError as exc:
            if isinstance(exc, ConnectTimeout):
                raise
            raise ConnectTimeout.after(self.spec.address, self.connect_timeout) from exc
        await run_in_thread(session.login)
        await run_in_thread(session.bind)


def _next_chunk(chunks: Iterator[reader.Chunk]) -> reader.Chunk | None:
    return next(chunks, None)
