"""The plan of a compiled rule: nested tuples of text and numbers (they pickle fast and need
nothing but Python to read: a warm load never imports pySigma), and the records the cache
holds (:class:`CompiledRule`, :class:`FileResult`: unpickling them imports this module only).

A plan node is one of::

    ("and", (node, …))   ("or", (node, …))   ("not", node)
    (kind, field, shown, *arguments)          a leaf; field None for a keyword

Leaf kinds and arguments (text values already lower-cased unless ``cased``):

    eq / prefix / suffix / contains   values (tuple), cased
    glob      regex of a wildcard pattern (whole value), cased
    search    regex of a keyword pattern (anywhere), cased
    re        the rule's regex, re flags           (case-sensitive unless the i flag)
    cidr      networks (tuple of text)
    num       numbers (tuple)
    cmp       operator ("lt", "lte", "gt", "gte", "neq"), number
    null / exists (True or False) / bool (True or False)
    ref       the other field, "eq" | "startswith" | "endswith"
    const     the value (True or False): a leaf decided for one log source (index.specialize)

``shown`` is False for the conditions a pipeline added (the log source's channel and event
id): they are not reported in a detection's ``fields``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from eventsweep.detect.index import Variant

Node = tuple[Any, ...]


class CompiledRule(NamedTuple):
    """A rule as the cache holds it: its metadata and its variants (no path: the same text
    anywhere compiles the same)."""

    id: str
    title: str
    level: str
    status: str
    tags: tuple[str, ...]
    variants: tuple[Variant, ...]


class FileResult(NamedTuple):
    rules: tuple[CompiledRule, ...]
    problems: tuple[str, ...]
