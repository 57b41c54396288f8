"""The ``journal:`` source: this machine's systemd journal, or journal files on disk.

``journal:`` reads the system journal (as ``journalctl`` does for the user running eventsweep);
``journal:/path`` reads a journal directory (``journalctl --directory``) or one journal file
(``journalctl --file``). journalctl runs as a subprocess with the same command and the same
JSON → Event mapping as the ``ssh://`` source (:mod:`eventsweep.sources.journald`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eventsweep.errors import OpenError
from eventsweep.model import Bookmark, Event, Query, TargetStatus
from eventsweep.sources import Source
from eventsweep.sources.journald.command import Journalctl
from eventsweep.sources.journald.stream import Starter, drain_into, journal_events

if TYPE_CHECKING:
    from eventsweep.sources.journald.follow import Feed

SCHEME = "journal:"


@dataclass(frozen=True, slots=True)
class JournalSource:
    """The local journal (``path`` None), or the journal directory or file at ``path``."""

    target: str
    path: str | None
    journalctl: Journalctl

    async def events(self, query: Query, status: TargetStatus) -> AsyncGenerator[list[Event], None]:
        if self.path is not None and not os.path.exists(self.path):
            raise OpenError(f"no journal: no such file or directory: {self.path}")
        stream = journal_events(started, self.journalctl, self.target, self.computer, query, status)
        async with contextlib.aclosing(stream):
            async for batch in stream:
                yield batch

    @property
    def computer(self) -> str:
        """The name an entry without ``_HOSTNAME`` is given: this machine's, for its journal."""
        return "" if self.path else socket.gethostname()

    def follow(
        self,
        query: Query,
        after: Bookmark | None,
        retry: Callable[[int], float],
        notify: Callable[[], None],
    ) -> Feed:
        """``journalctl --follow`` here (``eventsweep follow``), kept for the whole run."""
        from eventsweep.sources.journald.follow import Feed

        return Feed(self, local_session, query, after, retry, notify)


class LocalProcess:
    """A journalctl subprocess: stdout read on demand, stderr drained (bounded) beside it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr = bytearray()
        self.drain = asyncio.ensure_future(drain_into(self.stderr, process.stderr))

    async def read(self, size: int) -> bytes:
        assert self.process.stdout is not None
        return await self.process.stdout.read(size)

    async def finish(self) -> tuple[int | None, str]:
        await self.drain
        code = await self.process.wait()
        return code, self.stderr.decode("utf-8", "replace")

    async def close(self) -> None:
        self.drain.cancel()
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def started(argv: list[str]) -> AsyncIterator[LocalProcess]:
    """journalctl running here; killed and reaped on leaving, whatever happened."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise OpenError(f"{argv[0]} not found on this machine") from exc
    except OSError as exc:
        raise OpenError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    local = LocalProcess(process)
    try:
        yield local
    finally:
        await local.close()


@contextlib.asynccontextmanager
async def local_session() -> AsyncIterator[Starter]:
    """The local journal's "session": nothing to open, each command a subprocess."""
    yield started


def plan(text: str, options: object = None) -> Sequence[Source]:
    """``journal:`` (this machine) or ``journal:PATH`` (a journal directory or file)."""
    path = text[len(SCHEME) :]  # the registry only sends texts that start with the scheme
    program = shutil.which("journalctl") or "journalctl"
    if not path:
        return [JournalSource(text, None, Journalctl(program))]
    option = "--directory" if os.path.isdir(path) else "--file"
    return [JournalSource(text, path, Journalctl(program, location=(option, path)))]
