"""Sigma rules over eventsweep's events: loading, the field map, our own matcher.

The public names (stable; the ``hunt`` command and the sweep engine use these only)::

    load_rules(paths, *, levels=frozenset(), statuses=frozenset(), tags=frozenset(),
               cache=None) -> RuleSet
        Rule files and directories (*.yml, *.yaml, recursively), parsed with pySigma and its
        Windows pipelines, compiled to our own plans and cached by file content (in ``cache``,
        else $EVENTSWEEP_CACHE, else the user cache directory). Never raises for a rule: what
        does not load is a RuleProblem.
    RuleSet
        .rules      tuple[Rule, ...]: id, title, level, status, tags, path, variants
        .problems   tuple[RuleProblem, ...]
        .match(event: Event) -> list[Detection]
        .wanted() -> Wanted, for pushdown (None: any):
            logs         frozenset[str] | None   Windows channels, lower-cased
            event_ids    frozenset[int] | None
            by_log       Mapping[str, frozenset[int] | None]   each wanted log's event ids
            identifiers  frozenset[str] | None   journald SYSLOG_IDENTIFIERs (empty: none)
        pickles without its closures, to match in worker processes
    RuleProblem(path, reason)           .line() -> "path: reason"
    Detection(id, title, level, status, tags, path, fields)   .to_dict()
    detection_record(event, detection) -> dict: event.to_dict() plus a "rule" object
    summary(pairs: Iterable[tuple[Event, Detection]]) -> Counter[SummaryRow]
        detections per (rule_id, title, level, target)

Modules: ``rules`` (loading, RuleSet), ``parse`` and ``compile`` (pySigma → our plan),
``logsources`` (pipelines → variants), ``index`` (log-source constraints, specialized plans,
Wanted), ``prefilter`` (the busy log sources), ``match`` (plans → closures), ``view`` (an event
as rules read it), ``fields`` (the Sigma field map, as data), ``cache``. pySigma is imported
only to compile a file the cache does not hold.
"""

from __future__ import annotations

from eventsweep.detect.index import Wanted
from eventsweep.detect.rules import (
    Detection,
    Rule,
    RuleProblem,
    RuleSet,
    SummaryRow,
    detection_record,
    load_rules,
    summary,
)

__all__ = [
    "Detection",
    "Rule",
    "RuleProblem",
    "RuleSet",
    "SummaryRow",
    "Wanted",
    "detection_record",
    "load_rules",
    "summary",
]
