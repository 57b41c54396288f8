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
from collections.abc import Callable
from ipaddress import ip_address, ip_network
from typing import Any

from eventsweep.detect.compile import Node
from eventsweep.detect.fields import LEVEL_NUMBERS, event_field
from eventsweep.model import Event

Test = Callable[["View"], bool]
_MISSING = object()


def _text(value: Any) -> str | tuple[str, ...] | None:
    """The text(s) a value is compared as: None stays None, a list gives each item's text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        texts = [_text(item) for item in value]
        return tuple(text for text in texts if isinstance(text, str))
    return str(value)


def _lower(text: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
    if text is None or isinstance(text, str):
        return text.lower() if text is not None else None
    return tuple(item.lower() for item in text)


_FOLDED: dict[tuple[str, ...], dict[str, str]] = {}


def _folded(keys: tuple[str, ...]) -> dict[str, str]:
    """Lower-cased key → key, shared by the events of one shape (bounded)."""
    folded = _FOLDED.get(keys)
    if folded is None:
        if len(_FOLDED) > 4096:
            _FOLDED.clear()
        folded = _FOLDED[keys] = {key.lower(): key for key in keys}
    return folded


class View:
    """One event as the rules read it; every field's text is computed once, then cached."""

    __slots__ = (
        "_blob",
        "_folded",
        "_keywords",
        "_keywords_low",
        "_low",
        "_raw",
        "_text",
        "event",
        "linux",
    )

    def __init__(self, event: Event) -> None:
        self.event = event
        self.linux = event.log == "journal"
        self._raw: dict[str, Any] = {}
        self._low: dict[str, Any] = {}
        self._blob: dict[bool, str] = {}
        self._text: dict[str, Any] = {}
        self._folded: dict[str, str] | None = None
        self._keywords: tuple[tuple[str, str], ...] | None = None
        self._keywords_low: tuple[tuple[str, str], ...] | None = None

    def raw(self, name: str) -> Any:
        """The value a Sigma field name reads (``_MISSING`` when the event has no such field)."""
        try:
            return self._raw[name]
        except KeyError:
            value = self._raw[name] = self._read(name)
            return value

    def _read(self, name: str) -> Any:
        attr = event_field(name, linux=self.linux)
        if attr is not None:
            if attr == "level_number":
                return LEVEL_NUMBERS.get(self.event.level, _MISSING)
            return getattr(self.event, attr)
        return self.event.data.get(self.key(name), _MISSING)

    def key(self, name: str) -> str:
        """The data key a field name reads: its own spelling, else the one equal in any case."""
        data = self.event.data
        if name in data:
            return name
        if self._folded is None:
            self._folded = _folded(tuple(data))
        return self._folded.get(name.lower(), name)

    def field_name(self, name: str) -> str:
        """The event field name a Sigma field name reads (for a detection's ``fields``)."""
        return event_field(name, linux=self.linux) or self.key(name)

    def text(self, name: str) -> str | tuple[str, ...] | None:
        try:
            return self._text[name]  # type: ignore[no-any-return]
        except KeyError:
            value = self.raw(name)
            text = self._text[name] = None if value is _MISSING else _text(value)
            return text

    def low(self, name: str) -> str | tuple[str, ...] | None:
        try:
            return self._low[name]  # type: ignore[no-any-return]
        except KeyError:
            low = self._low[name] = _lower(self.text(name))
            return low

    def keywords(self, low: bool) -> tuple[tuple[str, str], ...]:
        """(field name, text) of what keywords search, lower-cased if ``low``: the message,
        and for Windows events every data value."""
        if self._keywords is None:
            found = [("message", self.event.message or "")]
            if not self.linux:
                for key, value in self.event.data.items():
                    text = _text(value)
                    for item in (text,) if isinstance(text, str) else text or ():
                        found.append((key, item))
            self._keywords = tuple(found)
        if not low:
            return self._keywords
        if self._keywords_low is None:
            self._keywords_low = tuple((key, text.lower()) for key, text in self._keywords)
        return self._keywords_low

    def blob(self, low: bool) -> str:
        """Every keyword text in one, NUL between them (no keyword holds a NUL); a data value
        the message already holds (an .evtx message renders the data) is not repeated."""
        try:
            return self._blob[low]
        except KeyError:
            blob = self._blob[low] = self.blob(False).lower() if low else self._join()
            return blob

    def _join(self) -> str:
        message = self.event.message or ""
        data = self.event.data
        if self.linux or not data or _renders(message, data):
            return message
        parts = [message]
        for value in data.values():
            text = _text(value)
            parts.extend((text,) if isinstance(text, str) else text or ())
        return "\0".join(parts)


def _renders(message: str, data: dict[str, Any]) -> bool:
    """True when the message is the data's own Name=Value rendering (an .evtx record without
    message text), which holds every text and number value as it is."""
    first = next(iter(data))
    return message.startswith(f"{first}=") and all(
        value.__class__ is str or value.__class__ is int for value in data.values()
    )


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
    """Many needles (emoji, homoglyphs: hundreds), filed by their first character: only those
    whose first character the text holds are looked for."""
    by_first: dict[str, list[str]] = {}
    for value in values:
        by_first.setdefault(value[:1], []).append(value)
    if "" in by_first:  # an empty needle is in every text
        return lambda text: True

    def contains(text: str) -> bool:
        return any(
            value in text for first in by_first.keys() & set(text) for value in by_first[first]
        )

    return contains


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
    if isinstance(value, bool) or value is None or value is _MISSING:
        return None
    if isinstance(value, int | float):
        return value
    try:
        return int(str(value), 0) if str(value)[:2].lower() == "0x" else float(value)
    except ValueError:
        return None


def _numbers(view: View, field: str) -> list[float]:
    value = view.raw(field)
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
    return lambda view: view.raw(field) in (_MISSING, None, "")


def _exists(field: str, wanted: bool) -> Test:
    return lambda view: (view.raw(field) not in (_MISSING, None)) is wanted


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
    nets = [ip_network(network) for network in networks]

    def inside(text: str) -> bool:
        try:
            address = ip_address(text.strip("[]"))
        except ValueError:
            return False
        return any(address in net for net in nets if net.version == address.version)

    return lambda view: _any_text(view.text(field), inside)


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


def explain(node: Node, memo: dict[int, Test], view: View) -> list[str]:
    """The event field names that make a matching node true (empty when it is false)."""
    if not memo[id(node)](view):
        return []
    kind = node[0]
    if kind == "not":
        return []
    if kind == "and" or kind == "or":
        names = [name for child in node[1] for name in explain(child, memo, view)]
        return list(dict.fromkeys(names))
    if not node[2]:  # added by a pipeline (the log source), not the rule's selection
        return []
    if kind == "const":
        return [view.field_name(node[1])] if node[1] is not None else []
    if node[1] is None:
        test = _text_test(node[0], node[3:])
        texts = view.keywords(kind != "re" and node[-1] is not True)
        return list(dict.fromkeys(name for name, text in texts if test(text)))
    names = [view.field_name(node[1])]
    if kind == "ref":
        names.append(view.field_name(node[3]))
    return names
