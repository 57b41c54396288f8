"""The log-source index: which events a compiled rule could match at all.

Every variant of a rule (see :mod:`eventsweep.detect.logsources`) carries the channels,
providers and event ids its plan requires, read off the plan (a field compared for equality
under ``and`` constrains the event; ``or`` of constrained branches unions them; ``not`` says
nothing). The rule set keeps, per (log, provider, event id) of the events it has seen, the
variants that admit them: an event is only ever tested against those. The same constraints,
unioned, are what a rule set asks a host for (:class:`Wanted`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from eventsweep.detect.fields import INDEXED, event_field
from eventsweep.detect.match import build
from eventsweep.detect.plan import Node
from eventsweep.detect.view import View
from eventsweep.model import Event


class Variant(NamedTuple):
    """One way a rule reads events: its plan and where those events come from (None: any).

    ``linux`` variants read journal events only, the others every log but the journal.
    Values are as the rules spell them; :meth:`admits` compares case-insensitively.
    """

    plan: Node
    linux: bool
    logs: frozenset[str] | None
    sources: frozenset[str] | None
    event_ids: frozenset[int] | None

    def admits(self, log: str, source: str, event_id: int | None) -> bool:
        if self.linux != (log == "journal"):
            return False
        return (
            _has(self.logs, log)
            and _has(self.sources, source)
            and (self.event_ids is None or event_id in self.event_ids)
        )


def _has(values: frozenset[str] | None, value: str) -> bool:
    return values is None or value.lower() in {item.lower() for item in values}


def constraint(node: Node, field: str, numeric: bool = False) -> frozenset[Any] | None:
    """The values ``field`` must equal for the plan to hold, or None when any value could."""
    kind = node[0]
    if kind == "and":
        known = [c for c in (constraint(n, field, numeric) for n in node[1]) if c is not None]
        return frozenset.intersection(*known) if known else None
    if kind == "or":
        found = [constraint(n, field, numeric) for n in node[1]]
        if any(values is None for values in found):
            return None
        return frozenset().union(*(values for values in found if values is not None))
    if node[1] != field:
        return None
    if numeric and kind == "num":
        return frozenset(int(value) for value in node[3] if float(value).is_integer())
    if kind == "eq":
        if not numeric:
            return frozenset(node[3])
        if all(str(value).isdigit() for value in node[3]):
            return frozenset(int(value) for value in node[3])
    return None


def narrow(first: frozenset[str] | None, second: frozenset[str] | None) -> frozenset[str] | None:
    """Both constraints at once (case-insensitively)."""
    if first is None or second is None:
        return first if second is None else second
    folded = {value.lower() for value in second}
    return frozenset(value for value in first if value.lower() in folded)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a rule set could match at all, for pushdown to win:// and ssh:// targets.

    logs         the Windows logs some rule reads (as the rules spell them); None: any log
    event_ids    the event ids some Windows rule reads; None: any
    by_log       each wanted log's event ids (None: any), when ``logs`` is not None
    identifiers  the journald SYSLOG_IDENTIFIERs some Linux rule reads; None: any entry;
                 empty: no Linux rule (read no journal)
    """

    logs: frozenset[str] | None
    event_ids: frozenset[int] | None
    by_log: Mapping[str, frozenset[int] | None]
    identifiers: frozenset[str] | None


def wanted(variants: Iterable[Variant]) -> Wanted:
    """The union of the variants' constraints."""
    variants = list(variants)
    windows = [variant for variant in variants if not variant.linux]
    linux = [variant for variant in variants if variant.linux]
    logs = _union(variant.logs for variant in windows)
    event_ids = _union(variant.event_ids for variant in windows)
    by_log: dict[str, frozenset[int] | None] = {}
    for variant in windows:
        for log in variant.logs or ():
            known = by_log.get(log, frozenset())
            ids = variant.event_ids
            by_log[log] = None if known is None or ids is None else known | ids
    return Wanted(
        logs,
        event_ids,
        by_log if logs is not None else {},
        _union(variant.sources for variant in linux),
    )


def _union(sets: Iterable[frozenset[Any] | None]) -> frozenset[Any] | None:
    found: set[Any] = set()
    for values in sets:
        if values is None:
            return None
        found |= values
    return frozenset(found)


def specialize(node: Node, known: View) -> Node:
    """The plan for events of one (log, provider, event id): leaves on those fields are
    evaluated against ``known`` (an event holding just them) and folded away. A leaf of the
    rule's selection stays as a ``const`` leaf (reported in a detection's fields); a plan that
    folds to ``("const", None, False, False)`` can't match such events at all."""
    kind = node[0]
    if kind == "and" or kind == "or":
        return _fold(kind, [specialize(child, known) for child in node[1]])
    if kind == "not":
        inner = specialize(node[1], known)
        return _const(not inner[3]) if inner[0] == "const" else ("not", inner)
    if kind == "const" or node[1] is None:
        return node
    if event_field(node[1], linux=known.linux) not in INDEXED:
        return node
    value = build(node)(known)
    return ("const", node[1], node[2], value) if node[2] and value else _const(value)


def _const(value: bool) -> Node:
    return ("const", None, False, value)


def _fold(kind: str, children: list[Node]) -> Node:
    absorbing = kind == "or"  # True absorbs an or, False an and
    kept: list[Node] = []
    for child in children:
        if child[0] == "const" and child[3] is absorbing:
            return child
        if child[0] == "const" and child[1] is None:
            continue  # the neutral element, hidden
        kept.append(child)
    if not kept:
        return _const(not absorbing)
    return kept[0] if len(kept) == 1 else (kind, tuple(kept))


def key_view(log: str, source: str, event_id: int | None) -> View:
    """An event holding only what the index knows of events: for :func:`specialize`."""
    return View(Event("", "", "", log, None, event_id, "", source, None, "", {}))
