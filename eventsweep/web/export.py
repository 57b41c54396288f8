"""Export of the current search as JSON Lines, CSV or .evtx, streamed.

The reader's :meth:`~eventsweep.store.reader.Reader.batches` feed the command line's own
outputs (:func:`eventsweep.sinks.open_output`) in a worker thread; what they write goes
through a bounded queue to the response as it is written (JSON Lines and CSV: the first bytes
leave before the last events are read). An .evtx file is written oldest first with header
fixes at the end, so it is made in a temporary file, then streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import IO, Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse

from eventsweep.errors import UsageError
from eventsweep.model import now_iso
from eventsweep.sinks import SinkOptions, SweepInfo, open_output
from eventsweep.store.reader import Filter, Reader
from eventsweep.web.api import Ctx, Searched
from eventsweep.web.context import Context
from eventsweep.web.search import Search

router = APIRouter(tags=["api"])

KINDS = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "evtx": "application/octet-stream",
}
CHUNK = 1 << 16
_END = object()
_WAIT = object()


def _next(chunks: queue.Queue[Any]) -> Any:
    try:
        return chunks.get(timeout=0.5)
    except queue.Empty:
        return _WAIT


class _Pipe(io.RawIOBase):
    """A binary stream whose writes go to a bounded queue (the writer waits when it is full)."""

    def __init__(self, into: queue.Queue[Any]) -> None:
        self.into = into
        self.cancelled = threading.Event()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.cancelled.is_set():
            raise BrokenPipeError("the client left")
        chunk = bytes(data)
        while not self.cancelled.is_set():
            with contextlib.suppress(queue.Full):
                self.into.put(chunk, timeout=0.5)
                return len(chunk)
        raise BrokenPipeError("the client left")


def _write_all(reader: Reader, where: Filter, name: str, stream: IO[Any], search: Search) -> None:
    output = open_output(name, stream, SinkOptions(group="time"))
    output.open(SweepInfo(id="export", targets=(), query=_no_query(), group="time"))
    try:
        for batch in reader.batches(where, newest_first=search.order == "desc"):
            output.write(batch)
    finally:
        output.close()


def _no_query() -> Any:
    from eventsweep.model import Query

    return Query()


async def _stream(ctx: Context, where: Filter, name: str, search: Search) -> AsyncIterator[bytes]:
    reader = ctx.reader()
    if reader is None:
        return
    chunks: queue.Queue[Any] = queue.Queue(maxsize=64)
    pipe = _Pipe(chunks)
    work = _evtx_job if name == "evtx" else _text_job
    thread = threading.Thread(
        target=work, args=(reader, where, name, pipe, chunks, search), daemon=True
    )
    thread.start()
    try:
        while True:
            item = await asyncio.to_thread(_next, chunks)
            if item is _WAIT:
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        pipe.cancelled.set()


def _finishing(chunks: queue.Queue[Any], job: Callable[[], None]) -> None:
    try:
        job()
    except BrokenPipeError:
        return
    except BaseException as exc:
        chunks.put(exc)
        return
    chunks.put(_END)


def _text_job(
    reader: Reader, where: Filter, name: str, pipe: _Pipe, chunks: queue.Queue[Any], search: Search
) -> None:
    def job() -> None:
        # a text stream (what the formats take), its bytes buffered in CHUNKs on the pipe
        text = io.TextIOWrapper(io.BufferedWriter(pipe, CHUNK), encoding="utf-8", newline="")
        _write_all(reader, where, name, text, search)
        text.flush()

    _finishing(chunks, job)


def _evtx_job(
    reader: Reader, where: Filter, name: str, pipe: _Pipe, chunks: queue.Queue[Any], search: Search
) -> None:
    def job() -> None:
        with tempfile.TemporaryFile() as file:
            _write_all(reader, where, name, file, search)
            file.seek(0)
            while block := file.read(CHUNK):
                pipe.write(block)

    _finishing(chunks, job)


def export_response(ctx: Context, search: Search, name: str) -> StreamingResponse:
    if name not in KINDS:
        raise HTTPException(400, f"format: one of {', '.join(KINDS)}")
    now = datetime.now(UTC)
    try:
        where = search.pinned(now).filter(now)
    except UsageError as exc:
        raise HTTPException(400, str(exc)) from None
    stamp = now_iso()[:19].replace(":", "").replace("-", "")
    disposition = f'attachment; filename="eventsweep-{stamp}.{name}"'
    return StreamingResponse(
        _stream(ctx, where, name, search),
        media_type=KINDS[name],
        headers={"content-disposition": disposition, "cache-control": "no-store"},
    )


@router.get("/api/export")
async def export(ctx: Ctx, search: Searched, format: str = "jsonl") -> StreamingResponse:
    """Every event of the search (not only one page), as ``format``: jsonl, csv or evtx."""
    return export_response(ctx, search, format)
