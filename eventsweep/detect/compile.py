"""pySigma's parse of a rule, turned into our own plain plan (tuples of text and numbers).

pySigma parses the YAML, applies the modifiers (values come out typed: SigmaString with
wildcards, SigmaRegularExpression, SigmaCIDRExpression…) and the log source pipelines, and
builds the condition tree. This module walks that tree once and writes a *plan*: nested tuples
that pickle fast (the cache holds them) and that :mod:`eventsweep.detect.match` turns into
closures. pySigma is imported by this module, logsources and parse only, which run for the
files the cache does not hold: a warm load never imports it.

The plan format is :mod:`eventsweep.detect.plan`'s.
"""

from __future__ import annotations

import re
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from eventsweep.detect.plan import Node

MERGEABLE = frozenset(("eq", "prefix", "suffix", "contains", "num", "cidr"))
_OPERATORS = {
    CompareOperators.LT: "lt",
    CompareOperators.LTE: "lte",
    CompareOperators.GT: "gt",
    CompareOperators.GTE: "gte",
    CompareOperators.NEQ: "neq",
}
_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}


class Unsupported(Exception):
    """A construct the matcher does not evaluate; its text is the problem's reason."""


def plan(rule: SigmaRule) -> Node:
    """The plan of a rule whose pipelines are applied: its conditions, OR-ed."""
    hidden = {
        id(detection)
        for name, detection in rule.detection.detections.items()
        if name.startswith("_cond_")
    }
    trees = [_node(condition.parsed, hidden) for condition in rule.detection.parsed_condition]
    return trees[0] if len(trees) == 1 else ("or", tuple(trees))


def _node(item: Any, hidden: set[int]) -> Node:
    if isinstance(item, ConditionAND | ConditionOR):
        kind = "and" if isinstance(item, ConditionAND) else "or"
        return _merge(kind, [_node(arg, hidden) for arg in item.args])
    if isinstance(item, ConditionNOT):
        return ("not", _node(item.args[0], hidden))
    if isinstance(item, ConditionFieldEqualsValueExpression):
        return _value(item.field, item.value, not _added(item, hidden))
    if isinstance(item, ConditionValueExpression):
        return _value(None, item.value, True)
    raise Unsupported(f"condition element {type(item).__name__} is not supported")


def _added(item: Any, hidden: set[int]) -> bool:
    """True when the leaf comes from a detection a pipeline added (``_cond_…``)."""
    parent = getattr(item, "parent", None)
    while parent is not None:
        if isinstance(parent, SigmaDetection) and id(parent) in hidden:
            return True
        if not isinstance(parent, SigmaDetection | SigmaDetectionItem):
            return False
        parent = getattr(parent, "parent", None)
    return False


def _merge(kind: str, nodes: list[Node]) -> Node:
    """An and/or node; under "or", leaves of one kind on one field become one leaf."""
    if kind == "or":
        nodes = _merge_leaves(nodes)
    return nodes[0] if len(nodes) == 1 else (kind, tuple(nodes))


def _merge_leaves(nodes: list[Node]) -> list[Node]:
    groups: dict[tuple[Any, ...], list[Any]] = {}
    order: list[tuple[bool, tuple[Any, ...]]] = []  # (is a group key, node or key)
    for node in nodes:
        if node[0] not in MERGEABLE:
            order.append((False, node))
            continue
        key = (node[0], node[1], node[2], node[4:])
        if key not in groups:
            groups[key] = []
            order.append((True, key))
        groups[key].extend(node[3])
    return [
        (item[0], item[1], item[2], tuple(dict.fromkeys(groups[item])), *item[3])
        if is_key
        else item
        for is_key, item in order
    ]


def _value(field: str | None, value: Any, shown: bool) -> Node:
    if isinstance(value, SigmaExpansion):
        return _merge("or", [_value(field, item, shown) for item in value.values])
    if isinstance(value, SigmaString):
        return _string(field, value, shown, isinstance(value, SigmaCasedString))
    if isinstance(value, SigmaTimestampPart):
        raise Unsupported("the time part modifiers (minute, hour…) are not supported")
    if isinstance(value, SigmaNumber):
        if field is None:
            return ("contains", None, shown, (str(value.number),), False)
        return ("num", field, shown, (value.number,))
    if field is None:
        if isinstance(value, SigmaRegularExpression):
            return ("re", None, shown, str(value.regexp), _flags(value))
        raise Unsupported(f"a keyword of type {type(value).__name__} is not supported")
    return _typed(field, value, shown)


def _typed(field: str, value: Any, shown: bool) -> Node:
    if isinstance(value, SigmaRegularExpression):
        return ("re", field, shown, str(value.regexp), _flags(value))
    if isinstance(value, SigmaCIDRExpression):
        return ("cidr", field, shown, (str(value.network),))
    if isinstance(value, SigmaCompareExpression):
        return ("cmp", field, shown, _OPERATORS[value.op], value.number.number)
    if isinstance(value, SigmaNull):
        return ("null", field, shown)
    if isinstance(value, SigmaExists):
        return ("exists", field, shown, bool(value.exists))
    if isinstance(value, SigmaBool):
        return ("bool", field, shown, bool(value.boolean))
    if isinstance(value, SigmaFieldReference):
        mode = "startswith" if value.starts_with else "endswith" if value.ends_with else "eq"
        return ("ref", field, shown, value.field, mode)
    raise Unsupported(f"a value of type {type(value).__name__} is not supported")


def _flags(value: SigmaRegularExpression) -> int:
    flags = 0
    for flag in value.flags:
        flags |= _RE_FLAGS[flag]
    return flags


def _string(field: str | None, value: SigmaString, shown: bool, cased: bool) -> Node:
    parts = [_part(part, cased) for part in value.s]
    if field is None:  # a keyword matches anywhere in the text: drop the outer wildcards
        while parts and parts[0] is SpecialChars.WILDCARD_MULTI:
            parts.pop(0)
        while parts and parts[-1] is SpecialChars.WILDCARD_MULTI:
            parts.pop()
        literal = [part for part in parts if isinstance(part, str)]
        if len(literal) == len(parts):
            return ("contains", None, shown, ("".join(literal),), cased)
        return ("search", None, shown, _regex(parts), cased)
    texts = [part for part in parts if isinstance(part, str)]
    specials = [part for part in parts if not isinstance(part, str)]
    if not specials:
        return ("eq", field, shown, ("".join(texts),), cased)
    if specials == [SpecialChars.WILDCARD_MULTI] * len(specials) and len(texts) == 1:
        kind = _affix(parts)
        if kind is not None:
            return (kind, field, shown, (texts[0],), cased)
    return ("glob", field, shown, _regex(parts), cased)


def _affix(parts: list[str | SpecialChars]) -> str | None:
    multi = SpecialChars.WILDCARD_MULTI
    shape = tuple(part is multi for part in parts)
    return {
        (False, True): "prefix",
        (True, False): "suffix",
        (True, False, True): "contains",
    }.get(shape)


def _part(part: Any, cased: bool) -> str | SpecialChars:
    if isinstance(part, SpecialChars):
        return part
    if isinstance(part, str):
        return part if cased else part.lower()
    raise Unsupported(f"placeholder %{getattr(part, 'name', part)}% is not supported")


def _regex(parts: list[str | SpecialChars]) -> str:
    out = []
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append(re.escape(str(part)))
    return "".join(out)
