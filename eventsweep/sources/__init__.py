"""Sources: the one interface the sweep engine knows, and the registry of them by scheme.

A *source* is one configured target, a frozen value parsed from the text the user gave. The
engine calls ``source.events(query, status)`` once and iterates it:

- it yields :class:`~eventsweep.model.Event` values that match the query (``query.matches`` as
  the final filter), newest first, stopping as soon as records are older than the window; a
  source that receives records in batches may yield a ``list`` of events at once (cheaper),
  or a :class:`~eventsweep.batch.Batch` of encoded events (their times and one block of
  their JSON lines, as .evtx workers make them: handed on to the outputs as it is);
- it stamps ``collected_at`` with the time it received each record;
- it reports skipped records and damage through ``status.warn(...)`` (the outcome becomes
  ``partial`` with the count) and never raises for one bad record;
- it raises a :class:`~eventsweep.errors.TargetError` subclass (connect, auth, open, read),
  chained to the foreign cause, when the target fails; the engine turns that into the
  outcome (``error``, or ``partial`` when events were already received);
- it must tolerate cancellation at any ``await`` (the per-target timeout) and release what it
  opened in ``finally`` blocks: the engine closes the generator with ``aclosing``.

Blocking clients and parsers run through :mod:`eventsweep.concurrency`, never on the loop.

A source that can stream what its target writes next (the journals: ``journalctl --follow``)
also has ``follow(query, after, retry, notify)``, for ``eventsweep follow``: a
:class:`~eventsweep.sources.journald.follow.Feed` that keeps one session to the target; each
round reads ``feed.arrived()``, a source of what arrived since the last round. The other
sources are polled (read after their bookmark, round after round).

A scheme is registered by name with the dotted path of its ``plan`` function, which is
imported only when a target of that scheme is given: a missing optional dependency disables
one source, not the tool. ``plan(text, options)`` (``options``: the scheme's own, or None)
validates the target text (raising
:class:`~eventsweep.errors.UsageError`) and returns the sources it stands for (a directory or
glob of .evtx files stands for one source per file). A source may name the thing it reads
(``identity``, e.g. an .evtx file's device and inode): of the sources one plan finds with the
same identity, only the first is kept, so a file reached through two links, two overlapping
globs or twice on the command line is read once.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eventsweep.batch import Batch
from eventsweep.errors import UsageError
from eventsweep.model import Event, Query, TargetStatus


class Source(Protocol):
    """One target, ready to be read. See the module docstring for the contract."""

    @property
    def target(self) -> str: ...

    def events(
        self, query: Query, status: TargetStatus
    ) -> AsyncGenerator[Event | list[Event] | Batch, None]: ...


@dataclass(frozen=True, slots=True)
class Settings:
    """Each source's own options, by scheme (``ssh`` → SshOptions, ``win`` → WinOptions, ``evtx``
    → EvtxOptions…): the command line assembles them, and a planner receives only the options
    of its own scheme (None when none were given: its defaults)."""

    options: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, **options: object) -> Settings:
        """``Settings.of(ssh=SshOptions(...), evtx=EvtxOptions(exact=True))``."""
        return cls(dict(options))


Planner = Callable[[str, Any], Sequence[Source]]

_REGISTRY: dict[str, str] = {}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?")
PATH_SCHEME = "evtx"


def register(scheme: str, planner: str) -> None:
    """Register ``planner`` ("package.module:function") for targets ``scheme:…``."""
    _REGISTRY[scheme.lower()] = planner


def schemes() -> list[str]:
    return sorted(_REGISTRY)


# ``scheme://user:secret@…``: a user (no ``:@/?#[]``), a colon, then anything up to the LAST
# ``@`` (a secret may hold ``@``, ``/`` or ``?``)
_SECRET = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:@/?#\[\]]*):.*@", re.DOTALL)


def redacted(text: str) -> str:
    """A target text safe to echo: a password in it (``user:secret@host``) as ``***``."""
    return _SECRET.sub(r"\1:***@", text)


def refuse_secret(text: str) -> None:
    """UsageError (echoing the target without it) when a target text holds a password:
    secrets never go on a command line or into an inventory, and never into an outcome."""
    if _SECRET.match(text):
        raise UsageError(
            f"target {redacted(text)!r} holds a password: remove it (ssh://: use a key or the "
            "agent; win://: EVENTSWEEP_PASSWORD or a credentials file)"
        )


def scheme_of(text: str) -> str:
    """The scheme a target text names; plain paths and globs belong to the .evtx source."""
    refuse_secret(text)
    match = _SCHEME.match(text)
    if match is None:
        return PATH_SCHEME
    scheme = match.group(1).lower()
    if scheme in _REGISTRY:
        return scheme
    if match.group(2):
        known = ", ".join(f"{name}:" for name in schemes())
        raise UsageError(f"target {redacted(text)!r}: unknown scheme {scheme!r} (known: {known})")
    return PATH_SCHEME


def _planner(scheme: str) -> Planner:
    module_name, _, function = _REGISTRY[scheme].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"{scheme}: source unavailable ({exc})") from exc
    planner: Planner = getattr(module, function)
    return planner


def plan(texts: Sequence[str], settings: Settings) -> list[Source]:
    """All the sources the given target texts stand for, in the order given."""
    return [source for _, source in plan_by_scheme(texts, settings)]


def plan_by_scheme(texts: Sequence[str], settings: Settings) -> list[tuple[str, Source]]:
    """:func:`plan`, each source with the scheme it was planned by; a source whose
    ``identity`` was planned already (one real file named twice) is planned once."""
    schemes = [scheme_of(text) for text in texts]  # validate every scheme first
    planned: list[tuple[str, Source]] = []
    seen: set[object] = set()
    for scheme, text in zip(schemes, texts, strict=True):
        for source in _planner(scheme)(text, settings.options.get(scheme)):
            identity = getattr(source, "identity", None)
            if identity is None or identity not in seen:
                seen.add(identity)
                planned.append((scheme, source))
    return planned


register("evtx", "eventsweep.sources.evtx:plan")
register("win", "eventsweep.sources.winrpc:plan")
register("ssh", "eventsweep.sources.ssh:plan")
register("journal", "eventsweep.sources.journal:plan")
