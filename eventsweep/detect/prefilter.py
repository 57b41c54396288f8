"""A prefilter for the busy log sources (Sysmon 1, Security 4688: a thousand rules each).

Most rules can only match when some field holds some text: ``Image|endswith: '\\whoami.exe'``
needs ``\\whoami.exe`` in Image, ``CommandLine|contains`` its needle, a keyword the needle in
the message. :func:`anchor` finds such a necessary set of (field, needle) for a plan: under
``and`` the best of its parts', under ``or`` all of its branches' together, for a wildcard
pattern its longest literal run; negations, regexes, numbers and short needles give none. The
:class:`Prefilter` indexes every needle by its rarest 4-character piece, per field; for an
event it takes the pieces of each indexed field's text, checks the needles filed under them,
and gives the rules whose anchor holds (plus the rules without one). Exact: a rule it leaves
out can't match the event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from eventsweep.detect.plan import Node
from eventsweep.detect.view import View

GRAM = 4
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
    """Which of a bucket's plans could hold for an event (indexes into ``plans``)."""

    def __init__(self, plans: Sequence[Node]) -> None:
        anchors = [anchor(plan) for plan in plans]
        self.always = [number for number, atoms in enumerate(anchors) if atoms is None]
        counts: Counter[tuple[str, str]] = Counter(
            (field, needle[i : i + GRAM])
            for atoms in anchors
            for field, needle in atoms or ()
            for i in range(len(needle) - GRAM + 1)
        )
        self.tables: dict[str, dict[str, list[tuple[str, int]]]] = {}
        for number, atoms in enumerate(anchors):
            for field, needle in atoms or ():
                pieces = {needle[i : i + GRAM] for i in range(len(needle) - GRAM + 1)}
                rarest = min(sorted(pieces), key=lambda piece: counts[(field, piece)])
                table = self.tables.setdefault(field, {})
                table.setdefault(rarest, []).append((needle, number))

    def select(self, view: View) -> list[int]:
        chosen = set(self.always)
        for field, table in self.tables.items():
            for text in _texts(view, field):
                pieces = {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}
                for piece in pieces.intersection(table):
                    for needle, number in table[piece]:
                        if number not in chosen and needle in text:
                            chosen.add(number)
        return sorted(chosen)


def _texts(view: View, field: str) -> tuple[str, ...]:
    if field == KEYWORDS:
        return (view.blob(True),)
    value = view.low(field)
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value
