"""Our own Sigma matcher: a rule's plan (see :mod:`eventsweep.detect.compile`) as closures.

:func:`build` turns a plan into one predicate over a :class:`View` (an event with the text of
its fields lower-cased once, whatever the number of rules asking). Leaves compare with plain
string methods (``==``, ``startswith`` with a tuple, ``in``) or a regex compiled the first time
it runs; ``and`` / ``or`` short-circuit, leaves before subtrees, negations last.

Value semantics (the Sigma specification's): text is compared case-insensitively unless the
rule says ``cased``; a list value (of a data field) matches when one of its items does; numbers
match numbers and the text of numbers; ``null`` is a missing, None or empty field; a keyword
is searched for in the message and, for Windows events, in every data value; ``re`` is
case-sensitive unless its ``i`` flag is set and matches anywhere in the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from ipaddress import ip_address, ip_network
from typing import Any

from ahocorasick_rs import AhoCorasick

from eventsweep.detect.plan import Node
from eventsweep.detect.view import MISSING, View

Test = Callable[[View], bool]


def build(node: Node, memo: dict[int, Test] | None = None) -> Test:
    """The predicate of a plan node (``memo`` keeps every subtree's, for :func:`explain`)."""
    kind = node[0]
    if kind == "and" or kind == "or":
        tests = [build(child, memo) for child in sorted(node[1], key=_cost)]
        test = _all(tests) if kind == "and" else _any(tests)
    elif kind == "not":
        inner = build(node[1], memo)
        test = _not(inner)
    else:
        test = _leaf(node)
    if memo is not None:
        memo[id(node)] = test
    return test


def _cost(node: Node) -> int:
    """Cheap leaves first, then other leaves, subtrees, negations last."""
    return {"not": 3, "and": 2, "or": 2}.get(node[0], 0 if node[0] in _CHEAP else 1)


_CHEAP = frozenset(("const", "eq", "num", "prefix", "suffix", "contains", "null", "exists", "bool"))


def _all(tests: list[Test]) -> Test:
    if len(tests) == 2:
        first, second = tests
        return lambda view: first(view) and second(view)

    def every(view: View) -> bool:
        return all(test(view) for test in tests)

    return every


def _any(tests: list[Test]) -> Test:
    if len(tests) == 2:
        first, second = tests
        return lambda view: first(view) or second(view)

    def some(view: View) -> bool:
        return any(test(view) for test in tests)

    return some


def _not(test: Test) -> Test:
    return lambda view: not test(view)


def _leaf(node: Node) -> Test:
    kind, field = node[0], node[1]
    if kind == "const":
        value: bool = node[3]
        return lambda view: value
    cased = kind == "re" or node[-1] is True  # a regex reads the text as it is
    if field is None and kind == "contains":
        return _keyword_blob(_text_test(kind, node[3:]), cased)
    if field is None:
        return _keyword(_text_test(kind, node[3:]), cased)
    if kind in _TEXT_KINDS:
        return _on_text(field, _text_test(kind, node[3:]), cased)
    return _OTHER[kind](field, *node[3:])


def _on_text(field: str, test: Callable[[str], bool], cased: bool) -> Test:
    def on_text(view: View) -> bool:
        value = view.text(field) if cased else view.low(field)
        if value is None:
            return False
        if isinstance(value, str):
            return test(value)
        return any(test(item) for item in value)

    return on_text


def _keyword(test: Callable[[str], bool], cased: bool) -> Test:
    def keyword(view: View) -> bool:
        return any(test(text) for _, text in view.keywords(not cased))

    return keyword


def _keyword_blob(test: Callable[[str], bool], cased: bool) -> Test:
    # a literal can't match across the NULs of the blob: one search instead of one per text
    return lambda view: test(view.blob(not cased))


def _text_test(kind: str, args: tuple[Any, ...]) -> Callable[[str], bool]:
    """A test of one text, given lower-cased unless the leaf is cased or a regex."""
    if kind == "re":
        return _lazy_regex(args[0], args[1], "search")
    values = args[0]
    if kind == "glob":
        return _lazy_regex(values, re.DOTALL, "fullmatch")
    if kind == "search":
        return _lazy_regex(values, re.DOTALL, "search")
    if kind == "eq":
        options = frozenset(values)
        return options.__contains__
    if kind == "prefix":
        return lambda text: text.startswith(values)
    if kind == "suffix":
        return lambda text: text.endswith(values)
    if len(values) == 1:
        (value,) = values
        return lambda text: value in text

    if len(values) > MANY:
        return _contains_many(values)

    def contains(text: str) -> bool:  # `in` for each: 3 times faster than a regex of them
        return any(value in text for value in values)

    return contains


MANY = 16


def _contains_many(values: tuple[str, ...]) -> Callable[[str], bool]:
    """Many needles (emoji, homoglyphs, a keyword list: hundreds) in one Aho-Corasick
    automaton: one pass over the text."""
    if "" in values:  # an empty needle is in every text
        return lambda text: True
    return Needles(dict.fromkeys(values, True)).any


class Needles:
    """An Aho-Corasick automaton (ahocorasick-rs: Rust's aho-corasick) of needles (no empty
    one), each with a value. ``search(text, True)`` gives (needle number, start, end) for
    every occurrence of every needle, ``values[number]`` the needle's value; ``any(text)``
    whether the text holds one."""

    __slots__ = ("search", "values")

    def __init__(self, words: Mapping[str, Any]) -> None:
        self.values = list(words.values())
        self.search = AhoCorasick(list(words)).find_matches_as_indexes

    def any(self, text: str) -> bool:
        return bool(self.search(text))


_TEXT_KINDS = frozenset(("eq", "prefix", "suffix", "contains", "glob", "search", "re"))


def _lazy_regex(pattern: str, flags: int, method: str) -> Callable[[str], bool]:
    """A regex test that compiles its pattern the first time it runs (a warm load of many
    rules compiles none of them)."""
    compiled: list[Callable[[str], Any]] = []

    def test(text: str) -> bool:
        if not compiled:
            compiled.append(getattr(re.compile(pattern, flags), method))
        return compiled[0](text) is not None

    return test


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    if isinstance(value, int | float):
        return value
    try:
        return int(str(value), 0) if str(value)[:2].lower() == "0x" else float(value)
    except ValueError:
        return None


def _numbers(view: View, field: str) -> list[float]:
    return numbers_of(view.raw(field))


def numbers_of(value: Any) -> list[float]:
    """The numbers a field's raw value reads as (each item's, for a list)."""
    items = value if isinstance(value, list) else [value]
    return [number for number in map(_number, items) if number is not None]


def _num(field: str, values: tuple[float, ...]) -> Test:
    options = frozenset(values)

    def num(view: View) -> bool:
        value = view.raw(field)
        if value.__class__ is int:
            return value in options
        return any(number in options for number in _numbers(view, field))

    return num


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "neq": lambda a, b: a != b,
}


def _cmp(field: str, operator: str, bound: float) -> Test:
    compare = _COMPARE[operator]
    return lambda view: any(compare(number, bound) for number in _numbers(view, field))


def _null(field: str) -> Test:
    return lambda view: view.raw(field) in (MISSING, None, "")


def _exists(field: str, wanted: bool) -> Test:
    return lambda view: (view.raw(field) not in (MISSING, None)) is wanted


def _bool(field: str, wanted: bool) -> Test:
    return lambda view: view.low(field) == ("true" if wanted else "false")


def _ref(field: str, other: str, mode: str) -> Test:
    def ref(view: View) -> bool:
        mine, theirs = view.low(field), view.low(other)
        if not isinstance(mine, str) or not isinstance(theirs, str):
            return False
        if mode == "startswith":
            return mine.startswith(theirs)
        return mine.endswith(theirs) if mode == "endswith" else mine == theirs

    return ref


def _cidr(field: str, networks: tuple[str, ...]) -> Test:
    ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for network in map(ip_network, networks):
        ranges[network.version].append((int(network.network_address), int(network.netmask)))

    def inside(text: str) -> bool:
        address = _address(text)
        if address is None:
            return False
        version, number = address
        return any(number & mask == start for start, mask in ranges[version])

    return lambda view: _any_text(view.text(field), inside)


@lru_cache(maxsize=4096)  # the addresses of a fleet's logs repeat; parsing one costs ~2 µs
def _address(text: str) -> tuple[int, int] | None:
    """An IP address' version and number (a bracketed IPv6 address too), None if not one."""
    try:
        address = ip_address(text.strip("[]"))
    except ValueError:
        return None
    return address.version, int(address)


def _any_text(value: str | tuple[str, ...] | None, test: Callable[[str], bool]) -> bool:
    if value is None:
        return False
    return test(value) if isinstance(value, str) else any(map(test, value))


_OTHER: dict[str, Callable[..., Test]] = {
    "num": _num,
    "cmp": _cmp,
    "null": _null,
    "exists": _exists,
    "bool": _bool,
    "ref": _ref,
    "cidr": _cidr,
}


@lru_cache(maxsize=256)
def _explained_text_test(kind: str, args: tuple[Any, ...]) -> Callable[[str], bool]:
    # built once per keyword leaf, not per detection (many needles are an automaton)
    return _text_test(kind, args)


def explain(node: Node, memo: dict[int, Test], view: View, holds: bool = False) -> list[str]:
    """The event field names that make a matching node true (empty when it is false);
    ``holds``: the node is known to be true (it is not tested again), as every part of a
    true ``and`` is."""
    if not holds and not memo[id(node)](view):
        return []
    kind = node[0]
    if kind == "not":
        return []
    if kind == "and" or kind == "or":
        parts = kind == "and"
        names = [name for child in node[1] for name in explain(child, memo, view, parts)]
        return list(dict.fromkeys(names))
    if not node[2]:  # added by a pipeline (the log source), not the rule's selection
        return []
    if kind == "const":
        return [view.field_name(node[1])] if node[1] is not None else []
    if node[1] is None:
        test = _explained_text_test(node[0], node[3:])
        texts = view.keywords(kind != "re" and node[-1] is not True)
        return list(dict.fromkeys(name for name, text in texts if test(text)))
    names = [view.field_name(node[1])]
    if kind == "ref":
        names.append(view.field_name(node[3]))
    return names
