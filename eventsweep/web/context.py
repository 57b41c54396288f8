"""What every route shares: the configuration, the store, the live sweeps; and starting a sweep.

The store is read only through :class:`~eventsweep.store.reader.Reader` (in a worker thread:
its calls block) and written only by :class:`~eventsweep.store.writer.StoreWriter` as an
output of :func:`eventsweep.runner.run`, started by :meth:`Context.start_sweep`: the same
query builder as ``eventsweep query`` and the same sweep call as ``eventsweep sweep``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from eventsweep.errors import UsageError
from eventsweep.query import build_query
from eventsweep.runner import Request, plan_request
from eventsweep.sinks import Output
from eventsweep.sources import Settings
from eventsweep.store import schema
from eventsweep.store.reader import Filter, Reader
from eventsweep.store.writer import StoreWriter, query_dict
from eventsweep.web.inventory import Inventories
from eventsweep.web.live import LiveSweep, Sweeps
from eventsweep.web.security import Keys

T = TypeVar("T")

MAX_TARGETS = 10_000
SUMMARIES = 32  # histograms and facets kept (by filter, while the store is unchanged)


@dataclass(frozen=True)
class WebConfig:
    """How ``eventsweep serve`` was started (plain values)."""

    store: str
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    inventory_dirs: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    settings: Settings = field(default_factory=Settings)
    concurrency: int = 64
    timeout: float = 60.0
    demo_dir: str | None = None  # where "sweep the demo data" writes it (None: not offered)

    def host_names(self) -> set[str]:
        names = {"127.0.0.1", "localhost", "[::1]", self.host.lower(), *self.allow_hosts}
        if ":" in self.host and not self.host.startswith("["):
            names.add(f"[{self.host.lower()}]")
        return names


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """A sweep as the form or the API asks for it (texts, parsed like the command line's).

    ``password`` is used for this sweep's win:// targets only: it goes into the sweep's
    settings and nowhere else (never stored, logged, echoed or put in a URL)."""

    targets: tuple[str, ...] = ()
    inventories: tuple[str, ...] = ()
    since: str = "24h"
    until: str = ""
    levels: tuple[str, ...] = ()
    event_ids: str = ""
    sources: str = ""
    logs: str = ""
    grep: str = ""
    new: bool = False
    password: str = field(default="", repr=False)

    def without_secret(self) -> SweepSpec:
        return replace(self, password="")


class Context:
    def __init__(self, config: WebConfig, keys: Keys) -> None:
        self.config = config
        self.keys = keys
        self.sweeps = Sweeps()
        self.inventories = Inventories(config.inventory_dirs)
        self._summaries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    # ---- the store -------------------------------------------------------------------------

    def has_store(self) -> bool:
        return schema.check(self.config.store) != 0

    def reader(self) -> Reader | None:
        """The store's reader, or None while there is no store yet."""
        if not self.has_store():
            return None
        return Reader(self.config.store)

    def store_version(self) -> tuple[int, ...]:
        """What changes whenever the store does (a commit grows the WAL or, at a checkpoint,
        rewrites the file): size and time of both."""
        found: list[int] = []
        for suffix in ("", "-wal"):
            try:
                info = os.stat(self.config.store + suffix)
                found += [info.st_mtime_ns, info.st_size]
            except OSError:
                found += [0, 0]
        return tuple(found)

    async def summary(self, kind: str, where: Filter, call: Callable[[Reader], T], empty: T) -> T:
        """:meth:`read` for a histogram or facets, kept while the store is unchanged (paging
        through a result asks for the same ones again)."""
        key = (kind, where, self.store_version())
        if key in self._summaries:
            self._summaries.move_to_end(key)
            found: T = self._summaries[key]
            return found
        value = await self.read(call, empty)
        self._summaries[key] = value
        while len(self._summaries) > SUMMARIES:
            self._summaries.popitem(last=False)
        return value

    async def read(self, call: Callable[[Reader], T], empty: T) -> T:
        """``call(reader)`` in a worker thread (``empty`` when there is no store yet)."""

        def work() -> T:
            reader = self.reader()
            return empty if reader is None else call(reader)

        return await run_in_threadpool(work)

    # ---- sweeps ----------------------------------------------------------------------------

    async def start_sweep(self, spec: SweepSpec) -> LiveSweep:
        """Plan and start a sweep through the one sweep call; UsageError for a bad form."""
        request = await run_in_threadpool(self._request, spec)
        planned = await run_in_threadpool(plan_request, request)
        if not planned.sources:
            raise UsageError("no target to read (a directory or glob matched no file)")
        if spec.new:  # resume each planned target after its bookmarks, as sweep --new does
            from eventsweep.cli.storing import with_bookmarks

            planned = await run_in_threadpool(with_bookmarks, planned, self.config.store)
        command = "sweep --new" if spec.new else "sweep"
        store = self.config.store

        def outputs() -> Sequence[Output]:
            return [StoreWriter(store, command=command)]

        shown: dict[str, Any] = {**query_dict(request.query), "new": spec.new}
        return self.sweeps.start(planned, shown, outputs)

    def _request(self, spec: SweepSpec) -> Request:
        targets = [text.strip() for text in spec.targets if text.strip()]
        for name in spec.inventories:
            targets.extend(self.inventories.targets(name))
        if not targets:
            raise UsageError("no target given: type targets or pick an inventory")
        if len(targets) > MAX_TARGETS:
            raise UsageError(f"too many targets ({len(targets)}; at most {MAX_TARGETS})")
        query = build_query(
            since=spec.since.strip() or None,
            until=spec.until.strip() or None,
            levels=spec.levels,
            event_ids=[spec.event_ids] if spec.event_ids.strip() else [],
            sources=[spec.sources] if spec.sources.strip() else [],
            logs=[spec.logs] if spec.logs.strip() else [],
            grep=spec.grep if spec.grep else None,
        )
        return Request(
            targets=tuple(targets),
            query=query,
            settings=self._settings(spec.password),
            concurrency=self.config.concurrency,
            timeout=self.config.timeout,
        )

    def _settings(self, password: str) -> Settings:
        if not password:
            return self.config.settings
        from eventsweep.sources.winrpc.options import WinOptions

        options = dict(self.config.settings.options)
        win = options.get("win")
        base = win if isinstance(win, WinOptions) else WinOptions()
        options["win"] = replace(base, password=password, interactive=False)
        return Settings(options)
