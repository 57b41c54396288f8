"""A rule set matched where the events are read: in the .evtx worker processes.

The parent writes its :class:`~eventsweep.detect.rules.RuleSet` once to a file (it pickles
without its closures, ~3 MB for SigmaHQ's rules) named by the sha256 of that pickle, and hands
the readers a :class:`RuleRef` (that key and the file), a few bytes per group of chunks. Each
worker process unpickles the set the first time it meets the key and keeps it (closures and
buckets are built there, once per process), so every group after the first is matched with
no loading at all.

    with shared(rules) as ref:                  # the file exists for the block's duration
        options = EvtxOptions(rules=ref)        # the .evtx source matches in its workers
    rules_of(ref).match(event)                  # in a worker: the set, loaded once

An event matched in a worker reaches the parent as a :class:`MatchedEvent`: its JSON line, as
any worker's event, and its detections, which the hunt's output takes as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from eventsweep.model import EncodedEvent

if TYPE_CHECKING:
    from eventsweep.detect.rules import Detection, RuleSet

KEPT = 4  # rule sets a process keeps loaded (one per hunt, and per thread that matches)
_loaded: dict[tuple[str, int], RuleSet] = {}
_lock = threading.Lock()


class RuleRef(NamedTuple):
    """A rule set as the readers receive it: the sha256 of its pickle, and the pickle's file."""

    key: str
    path: str


@contextlib.contextmanager
def shared(rules: RuleSet) -> Iterator[RuleRef]:
    """``rules`` written to a private temporary file for the readers; removed afterwards."""
    blob = pickle.dumps(rules, protocol=pickle.HIGHEST_PROTOCOL)
    key = hashlib.sha256(blob).hexdigest()
    with tempfile.TemporaryDirectory(prefix="eventsweep-rules-") as directory:
        path = os.path.join(directory, f"{key}.pickle")
        with open(path, "wb") as file:
            file.write(blob)
        del blob
        yield RuleRef(key, path)


def rules_of(ref: RuleRef) -> RuleSet:
    """The rule set ``ref`` names, loaded the first time this process (and thread) meets it:
    a RuleSet matches in one thread at a time."""
    slot = (ref.key, threading.get_ident())
    rules = _loaded.get(slot)
    if rules is None:
        rules = _load(ref)
        with _lock:
            if len(_loaded) >= KEPT:
                _loaded.clear()
            _loaded[slot] = rules
    return rules


def _load(ref: RuleRef) -> RuleSet:
    from eventsweep.detect.rules import RuleSet

    with open(ref.path, "rb") as file:
        blob = file.read()
    if hashlib.sha256(blob).hexdigest() != ref.key:
        raise ValueError(f"{ref.path}: not the rule set the hunt shared")
    rules = pickle.loads(blob)  # our own file, its sha256 checked
    if not isinstance(rules, RuleSet):
        raise TypeError(f"{ref.path}: not a rule set")
    return rules


class MatchedEvent(EncodedEvent):
    """An encoded event matched where it was read: ``detections`` are the rule set's (empty
    when no rule matched it). It equals its fields, as any event; it pickles with them."""

    __slots__ = ("detections",)
    detections: tuple[Detection, ...]

    def __init__(
        self,
        time: str,
        line: bytes | None,
        detections: tuple[Detection, ...],
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(time, line, fields)
        object.__setattr__(self, "detections", detections)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (MatchedEvent, (self.time, self.line, self.detections))
