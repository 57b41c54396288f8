"""A prefilter for the log sources with several rules (Sysmon 1, Security 4688: a thousand).

Most rules can only match when some field holds some text: ``Image|endswith: '\\whoami.exe'``
needs ``\\whoami.exe`` in Image, ``CommandLine|contains`` its needle, a keyword the needle in
the message, ``LogonType: 10`` the number 10 in LogonType. :func:`clauses` finds such
necessary sets of atoms for a plan, each of which must hold: one for every part of an
``and``, and for an ``or`` one set of all its branches' best. An atom is a needle the field's
lower-cased text holds (a text leaf's values, a wildcard pattern's longest literal run, a
literal run every match of a regex contains), a whole lower-cased value (``eq``) or a number
(``num``); negations, comparisons, and needles that most texts hold (short and plain) give
none. The :class:`Prefilter` puts every needle of a field in one Aho-Corasick automaton
(ahocorasick-rs) and every whole value and number in a dict; for an event it runs each indexed
field's text through its automaton once and looks its value up, and gives the rules each of
whose clauses holds (plus the rules without any). Exact: a rule it leaves out can't match the
event.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from eventsweep.detect.match import Needles, numbers_of
from eventsweep.detect.plan import Node
from eventsweep.detect.view import View

GRAM = 4  # the shortest plain needle worth anchoring on (shorter ones are in most texts)
RARE = frozenset("^`~|;#")  # a shorter needle holding one of these is rare enough
SHAPED = 4  # more indexed fields than this: look up which of them an event's shape has
KEYWORDS = ""  # the pseudo-field of keyword needles (the event's keyword texts)
_TEXT = frozenset(("prefix", "suffix", "contains"))

Atom = tuple[str, str, Any]  # ("in", field, needle) | ("eq", field, text) | ("num", field, n)


def clauses(node: Node) -> list[list[Atom]]:
    """Sets of atoms that must each hold (one atom of each set) whenever the plan does: every
    part's under ``and``, under ``or`` one set of all its branches' best; none for a
    negation, or an ``or`` with a branch that has none."""
    kind = node[0]
    if kind == "and":
        return [found for child in node[1] for found in clauses(child)]
    if kind == "or":
        atoms: list[Atom] = []
        for child in node[1]:
            found = clauses(child)
            if not found:
                return []
            best: list[Atom] = min(found, key=_score)
            atoms.extend(best)
        return [atoms]
    if kind == "not":
        return []
    leaf = _leaf(node)
    return [leaf] if leaf is not None else []


def _leaf(node: Node) -> list[Atom] | None:
    kind, field = node[0], node[1]
    if field is None and kind not in ("contains", "glob", "search"):
        return None  # a keyword: only a needle of the keyword texts
    where = KEYWORDS if field is None else field
    if kind == "eq":
        return [("eq", where, str(value).lower()) for value in node[3]]
    if kind == "num":
        return [("num", where, value) for value in node[3]]
    if kind in _TEXT:
        return _needles(where, [str(value).lower() for value in node[3]])
    if kind in ("glob", "search"):  # a wildcard pattern holds its literal runs
        return _needles(where, [max(literals(node[3]), key=len).lower()])
    if kind == "re":
        needles = regex_needles(node[3], node[4])
        return None if needles is None else _needles(where, needles)
    return None


def _needles(field: str, needles: list[str]) -> list[Atom] | None:
    if not all(map(worth, needles)):
        return None
    return [("in", field, needle) for needle in needles]


def worth(needle: str) -> bool:
    """Whether a needle is rare enough to anchor on: long, or not plain ASCII text."""
    return (
        len(needle) >= GRAM
        or any(char > "\x7f" for char in needle)
        or (len(needle) >= 2 and not RARE.isdisjoint(needle))
    )


def literals(pattern: str) -> list[str]:
    """The literal runs of a wildcard pattern's regex (as compile.py writes it: re.escape'd
    text, ``.*`` and ``.`` between)."""
    runs: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            current.append(pattern[index + 1])
            index += 2
        elif char == ".":
            runs.append("".join(current))
            current = []
            index += 2 if pattern[index + 1 : index + 2] == "*" else 1
        else:
            current.append(char)
            index += 1
    runs.append("".join(current))
    return runs


def regex_needles(pattern: str, flags: int) -> list[str] | None:
    """Lower-cased needles one of which every text the regex matches holds (None if none is
    worth it): runs of ASCII literals it must match, through groups, repeats of at least one
    and alternations. Under IGNORECASE ``i`` and ``s`` end a run (they also match ``ı`` and
    ``ſ``, whose lower case is not theirs)."""
    try:
        parsed = _parser.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError):
        return None
    return _sequence(list(parsed), bool(parsed.state.flags & re.IGNORECASE))


def _sequence(items: list[tuple[Any, Any]], folding: bool) -> list[str] | None:
    best: list[str] | None = None
    run: list[str] = []

    def take(found: list[str] | None) -> None:
        nonlocal best
        if found is not None and (best is None or _rank(found) < _rank(best)):
            best = found

    for op, value in items:
        if op is sre.LITERAL and _plain(value, folding):
            run.append(chr(value).lower())
            continue
        take(_run(run))
        run = []
        take(_part(op, value, folding))
    take(_run(run))
    return best


def _run(run: list[str]) -> list[str] | None:
    text = "".join(run)
    return [text] if text and worth(text) else None


def _plain(code: int, folding: bool) -> bool:
    return 0x20 <= code < 0x7F and not (folding and chr(code).lower() in "is")


def _part(op: Any, value: Any, folding: bool) -> list[str] | None:
    if op is sre.SUBPATTERN:
        _, add, remove, inner = value
        folding = bool((folding or add & re.IGNORECASE) and not remove & re.IGNORECASE)
        return _sequence(list(inner), folding)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT, sre.ATOMIC_GROUP):
        if op is sre.ATOMIC_GROUP:
            return _sequence(list(value), folding)
        low, _, inner = value
        return _sequence(list(inner), folding) if low >= 1 else None
    if op is sre.BRANCH:
        needles: list[str] = []
        for alternative in value[1]:
            found = _sequence(list(alternative), folding)
            if found is None:
                return None
            needles.extend(found)
        return needles
    return None


def _rank(needles: list[str]) -> tuple[int, int]:
    """Fewer needles first, then the longest shortest one."""
    return (len(needles), -min(map(len, needles)))


_WEIGHT = {"eq": 6, "num": 0}


def _score(atoms: list[Atom]) -> tuple[int, int]:
    """As :func:`_rank`: fewer atoms first, then the most selective (long needles, whole
    values, numbers last)."""
    return (len(atoms), -min(_weight(atom) for atom in atoms))


def _weight(atom: Atom) -> int:
    kind, _, value = atom
    return _WEIGHT[kind] + len(str(value)) if kind != "in" else len(value)


class Prefilter:
    """Which of a bucket's plans could hold for an event (indexes into ``plans``): per field,
    one Aho-Corasick automaton (ahocorasick-rs) of every needle anchored on it, which finds in
    one pass over the field's text every needle it holds, and a dict of its whole values and
    numbers; a plan is given when each of its :func:`clauses` has an atom that holds."""

    def __init__(self, plans: Sequence[Node], journal: bool = False) -> None:
        self.always: list[int] = []
        self.owner: list[int] = []  # clause number → plan number
        self.need: list[int] = []  # plan number → how many clauses
        tables: dict[str, dict[str, dict[Any, list[int]]]] = {"in": {}, "eq": {}, "num": {}}
        for number, plan in enumerate(plans):
            found = clauses(plan)
            if not found:
                self.always.append(number)
            self.need.append(len(found))
            for atoms in found:
                for kind, field, value in atoms:
                    by_value = tables[kind].setdefault(field, {}).setdefault(value, [])
                    if not by_value or by_value[-1] != len(self.owner):
                        by_value.append(len(self.owner))
                self.owner.append(number)
        self.tables = {field: Needles(needles) for field, needles in _frozen(tables["in"]).items()}
        self.equal = _frozen(tables["eq"])
        self.numbers = _frozen(tables["num"])
        fields = list(dict.fromkeys([*self.tables, *self.equal, *self.numbers]))
        self._all = [self._read(field, None) for field in fields]
        self._shapes: dict[tuple[str, ...] | frozenset[str], list[_Read]] = {}
        # a journal entry's fields vary (and it lacks most), so its shape is worth knowing
        self._shaped = len(fields) > SHAPED or (journal and fields != [KEYWORDS])
        # a journal entry's keyword text is its message: when the keyword needles are all
        # this reads and every plan has a clause, a message holding none selects nothing
        alone = journal and not self.always and fields == [KEYWORDS]
        self.gate = self.tables[KEYWORDS] if alone else None

    def select(self, view: View) -> list[int]:
        held: set[int] = set()
        data, lows = view.event.data, view.lows
        for field, key, needles, equal, numbers in self._shape(view) if self._shaped else self._all:
            value = data[key] if key is not None else None
            if value.__class__ is str:  # a data text, the common case: read it directly
                low = lows[field] = value.lower()  # (as view.low reads it, for the rules)
                texts: tuple[str, ...] = (low,)
            else:
                texts = _texts(view, field)
            if needles is not None:
                for text in texts:
                    values = needles.values
                    for index, _, _ in needles.search(text, True):  # every occurrence
                        held.update(values[index])
            if equal is not None:
                for text in texts:
                    found = equal.get(text)
                    if found is not None:
                        held.update(found)
            if numbers is not None:
                raw = value if key is not None else view.raw(field)  # as the num leaf reads it
                for number in (raw,) if raw.__class__ is int else numbers_of(raw):
                    found = numbers.get(number)
                    if found is not None:
                        held.update(found)
        if not held:
            return self.always
        count: dict[int, int] = {}  # each plan's clauses that hold
        owner = self.owner
        for clause in held:
            plan = owner[clause]
            count[plan] = count.get(plan, 0) + 1
        need = self.need
        return sorted([plan for plan, hits in count.items() if hits == need[plan]] + self.always)

    def _read(self, field: str, key: str | None) -> _Read:
        return _Read(
            field, key, self.tables.get(field), self.equal.get(field), self.numbers.get(field)
        )

    def _shape(self, view: View) -> list[_Read]:
        """The indexed fields events of this one's shape have (its data keys, in any order:
        journalctl's varies; the others read as missing), worked out once per shape, each
        with the data key it reads. A Windows event is looked up by its keys in their order
        first (a tuple is quicker to make than a set, and its kind always has one order)."""
        data = view.event.data
        ordered = None if view.linux else tuple(data)
        reads = self._shapes.get(ordered) if ordered is not None else None
        if reads is None:
            if len(self._shapes) > 256:  # events of ever new shapes: stay bounded
                self._shapes.clear()
            shape = frozenset(data)
            reads = self._shapes.get(shape)
            if reads is None:
                reads = self._shapes[shape] = [
                    self._read(read.field, _data_key(view, read.field))
                    for read in self._all
                    if read.field == KEYWORDS or view.has(read.field)
                ]
            if ordered is not None:
                self._shapes[ordered] = reads
        return reads


class _Read(NamedTuple):
    """One indexed field as the prefilter reads it for events of a shape: the data key that
    holds it (None: read through the view), its automaton, whole values and numbers."""

    field: str
    key: str | None
    needles: Needles | None
    equal: dict[Any, tuple[int, ...]] | None
    numbers: dict[Any, tuple[int, ...]] | None


def _data_key(view: View, field: str) -> str | None:
    """The data key a field reads for events of the view's shape (None: not a data key)."""
    if field == KEYWORDS or view.event_field(field):
        return None
    return view.key(field)


def _frozen(table: dict[str, dict[Any, list[int]]]) -> dict[str, dict[Any, tuple[int, ...]]]:
    return {field: {k: tuple(v) for k, v in found.items()} for field, found in table.items()}


def _texts(view: View, field: str) -> tuple[str, ...]:
    if field == KEYWORDS:
        return (view.blob(True),)
    value = view.low(field)
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value
