"""A prefilter for the log sources with several rules (Sysmon 1, Security 4688: a thousand).

Most rules can only match when some field holds some text: ``Image|endswith: '\\whoami.exe'``
needs ``\\whoami.exe`` in Image, ``CommandLine|contains`` its needle, a keyword the needle in
the message. :func:`anchor` finds such a necessary set of (field, needle) for a plan: under
``and`` the best of its parts', under ``or`` all of its branches' together, for a wildcard
pattern its longest literal run; negations, regexes, numbers and short needles give none. The
:class:`Prefilter` puts every needle of a field in one Aho-Corasick automaton (pyahocorasick);
for an event it runs each indexed field's text through its automaton once, and gives the
rules whose anchor holds (plus the rules without one). Exact: a rule it leaves out can't match
the event.
"""

from __future__ import annotations

from collections.abc import Sequence

import ahocorasick

from eventsweep.detect.plan import Node
from eventsweep.detect.view import View

GRAM = 4  # the shortest needle worth anchoring on (shorter ones are in most texts)
KEYWORDS = ""  # the pseudo-field of keyword needles (the event's keyword texts)
_TEXT = frozenset(("eq", "prefix", "suffix", "contains"))

Atom = tuple[str, str]  # (field, lower-cased needle)


def anchor(node: Node) -> list[Atom] | None:
    """Atoms one of which holds whenever the plan does; None when there is no such set."""
    kind = node[0]
    if kind == "and":
        found = [atoms for atoms in map(anchor, node[1]) if atoms is not None]
        return min(found, key=_score) if found else None
    if kind == "or":
        atoms: list[Atom] = []
        for child in node[1]:
            more = anchor(child)
            if more is None:
                return None
            atoms.extend(more)
        return atoms
    field = KEYWORDS if node[1] is None else node[1]
    if kind in ("glob", "search"):  # a wildcard pattern holds its literal runs
        longest = max(literals(node[3]), key=len).lower()
        return [(field, longest)] if len(longest) >= GRAM else None
    if kind not in _TEXT or (node[1] is None and kind != "contains"):
        return None
    needles = [str(value).lower() for value in node[3]]
    if any(len(needle) < GRAM for needle in needles):
        return None
    return [(field, needle) for needle in needles]


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


def _score(atoms: list[Atom]) -> tuple[int, int]:
    return (len(atoms), -min(len(needle) for _, needle in atoms))


class Prefilter:
    """Which of a bucket's plans could hold for an event (indexes into ``plans``): per field,
    one Aho-Corasick automaton (pyahocorasick) of every needle anchored on it, which finds in
    one pass over the field's text every needle it holds."""

    def __init__(self, plans: Sequence[Node]) -> None:
        anchors = [anchor(plan) for plan in plans]
        self.always = [number for number, atoms in enumerate(anchors) if atoms is None]
        needles: dict[str, dict[str, list[int]]] = {}
        for number, atoms in enumerate(anchors):
            for field, needle in atoms or ():
                needles.setdefault(field, {}).setdefault(needle, []).append(number)
        self.tables: dict[str, ahocorasick.Automaton] = {}
        for field, found in needles.items():
            automaton = ahocorasick.Automaton()
            for needle, numbers in found.items():
                automaton.add_word(needle, tuple(numbers))
            automaton.make_automaton()
            self.tables[field] = automaton

    def select(self, view: View) -> list[int]:
        chosen = set(self.always)
        for field, automaton in self.tables.items():
            for text in _texts(view, field):
                for _, numbers in automaton.iter(text):
                    chosen.update(numbers)
        return sorted(chosen)


def _texts(view: View, field: str) -> tuple[str, ...]:
    if field == KEYWORDS:
        return (view.blob(True),)
    value = view.low(field)
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value
