"""The one way blocking work leaves the event loop: threads for clients, processes for parsing.

Threads suit blocking network clients (impacket); processes suit CPU-bound parsing (.evtx),
which the GIL would otherwise serialise. Both pools are created lazily, once per process.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_pools: dict[str, Executor] = {}
# concurrent.futures.process, imported after this module (by process_pool), is torn down before
# it at exit: a process pool still held here then would be collected once that module's globals
# are gone ("Exception ignored in ... weakref_cb"). It is let go at exit, while they live.
atexit.register(_pools.pop, "process", None)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_threads = [72]


def reserve_threads(count: int) -> None:
    """Make room for ``count`` blocking clients at once (one per concurrently read target, plus
    a few), so that no target waits for a thread while its deadline runs."""
    if count + 8 > _threads[0]:
        _threads[0] = count + 8
        old = _pools.pop("thread", None)
        if old is not None:
            old.shutdown(wait=False)  # its running work finishes; new work goes to a larger pool


def thread_pool() -> Executor:
    """A thread pool large enough for every concurrent blocking client of a sweep."""
    if "thread" not in _pools:
        _pools["thread"] = ThreadPoolExecutor(
            max_workers=_threads[0], thread_name_prefix="eventsweep"
        )
    return _pools["thread"]


def process_pool() -> Executor:
    """A process per core, started by a fork server (safe while threads run). multiprocessing
    is imported here, by the first sweep that parses in processes (a lone small read does not)."""
    if "process" not in _pools:
        from concurrent.futures import ProcessPoolExecutor

        context = forkserver()
        alive, kept = context.Pipe(duplex=False)
        _alive[:] = [kept]  # the writing end stays here, never written to
        _pools["process"] = ProcessPoolExecutor(
            max_workers=cores(),
            mp_context=context,
            initializer=_worker_started,
            initargs=(alive,),
        )
    return _pools["process"]


_alive: list[Any] = []  # the pipe whose end tells a worker that its parent is gone


def forkserver() -> Any:
    """The multiprocessing context of the parsing workers: a fork server, which preloads what
    they run."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["eventsweep.sources.evtx_worker"])
    return context


def _worker_started(alive: Any) -> None:
    """A worker leaves Ctrl-C to the parent (the terminal sends it to the whole process group):
    the parent stops the sweep and ends its workers. A parent that dies without doing so (a
    SIGKILL) closes the pipe ``alive`` reads: the worker ends too, whatever it was doing (its
    result has nobody to go to)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with_parent, args=(alive,), daemon=True).start()


def _end_with_parent(alive: Any) -> None:
    with contextlib.suppress(EOFError, OSError):
        alive.recv()  # nothing is ever sent: this returns when the parent is gone
    os._exit(1)


def shutdown() -> None:
    """Release the pools without waiting for work nobody awaits any more: queued work is
    cancelled, a worker finishes the one group it is parsing (well under a second), and any
    worker still alive after that is ended.

    The process pool's manager thread is given that moment to end first: at interpreter exit,
    concurrent.futures wakes every manager thread still known, and one closing its wake-up
    pipe right then makes that fail with a traceback (``OSError: [Errno 9] Bad file
    descriptor`` in ``_python_exit``; CPython 3.11's ``_ThreadWakeup`` has no lock); and a
    worker ended under a live manager makes it fail on the cancelled futures
    (``InvalidStateError`` in ``terminate_broken``)."""
    processes = list(getattr(_pools.get("process"), "_processes", {}).values())
    # taken before shutdown(), which forgets the manager thread when it does not wait
    managers = [getattr(pool, "_executor_manager_thread", None) for pool in _pools.values()]
    for pool in _pools.values():
        pool.shutdown(wait=False, cancel_futures=True)
    for manager in managers:
        if manager is not None:
            manager.join(timeout=2.0)
    for process in processes:
        with contextlib.suppress(Exception):
            if process.is_alive():
                process.terminate()
    _pools.clear()


async def run_in_thread(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(thread_pool(), function, *args)


_process_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def process_slots() -> asyncio.Semaphore:
    """Slots for results of process work, shared by every source of the running loop: take one
    before submitting, give it back once the result has been handed on. Bounds both the work in
    flight and the results held in memory (two per core)."""
    loop = asyncio.get_running_loop()
    return _process_slots.setdefault(loop, asyncio.Semaphore(2 * cores()))


async def run_in_process(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(process_pool(), function, *args)
