"""``eventsweep hunt``: Sigma rules over many targets at once; ``eventsweep rules check``.

A hunt is a sweep (the same targets, window, filters, outcomes, grouping, formats and exit
statuses) whose output is :class:`~eventsweep.detect.hunt.Hunt`: every detection is printed,
newest first within its target (or in one timeline with ``--group time``), or counted per rule
and target with ``--summary``. Only what some rule can match is read (:func:`pushdown`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

from eventsweep.cli import flags
from eventsweep.cli.sweep import Place, drive, printed, request_of
from eventsweep.errors import UsageError
from eventsweep.runner import Planned, Request, plan_request
from eventsweep.sinks import Output
from eventsweep.sources import Settings
from eventsweep.text import defuse

if TYPE_CHECKING:  # eventsweep.detect is imported when a hunt starts, not at start-up
    from eventsweep.detect import Detection, RuleProblem, RuleSet, SummaryRow
    from eventsweep.detect.hunt import DetectionWriter
    from eventsweep.detect.workers import RuleRef
    from eventsweep.model import Event

RULE_LEVELS = ("informational", "low", "medium", "high", "critical")
RULE_STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
DEFAULT_SINCE = "8h"  # as sweep's
LISTED = 20  # problems listed one by one; beyond, counted by reason (``rules check`` lists all)


def add_parsers(commands: Any) -> None:
    hunt = commands.add_parser(
        "hunt",
        help="run Sigma rules over many targets at once",
        description="Run Sigma rules over files, Windows hosts and Linux hosts in one pass.",
    )
    flags.add_targets(hunt)
    _add_rules(hunt)
    hunt.add_argument(
        "--summary",
        action="store_true",
        help="a table of detections per rule and target instead of the events",
    )
    flags.add_query(hunt)
    flags.add_exact(hunt)
    flags.add_output(hunt)
    flags.add_connections(hunt)
    flags.add_store(hunt)
    _add_stored(hunt)
    hunt.set_defaults(run=run_hunt, since=None)  # 8h, or with --stored every stored event
    rules = commands.add_parser("rules", help="Sigma rule sets", description="Sigma rule sets.")
    verbs = rules.add_subparsers(
        dest="verb", required=True, parser_class=type(rules), help="what to do with them"
    )
    check = verbs.add_parser(
        "check",
        help="which rules load, which don't, and why",
        description="Load rule files and directories; list the rules that can't be loaded.",
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="rule files or directories")
    check.set_defaults(run=run_check)


def _add_rules(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rules")
    add = group.add_argument
    add(
        "--rules",
        action="append",
        default=[],
        required=True,
        metavar="PATH",
        help="Sigma rule files or directories of them (repeatable)",
    )
    add("--rule-level", action="append", default=[], metavar="LEVELS", help=", ".join(RULE_LEVELS))
    add(
        "--rule-status",
        action="append",
        default=[],
        metavar="STATUSES",
        help=", ".join(RULE_STATUSES),
    )
    add("--tag", action="append", default=[], metavar="TAG", help="e.g. attack.t1059 (repeatable)")


def _add_stored(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hunting the store's events (no host is contacted)")
    add = group.add_argument
    add(
        "--stored",
        action="store_true",
        help="hunt the events kept in the store, with query's filters (no TARGET); without"
        " --since, every stored event",
    )
    flags.add_stored_filter(add, note="--stored: ")


def _words(flag: str, texts: Sequence[str], known: Sequence[str]) -> frozenset[str]:
    words = {word.strip().lower() for text in texts for word in text.split(",") if word.strip()}
    unknown = sorted(words - set(known))
    if unknown:
        raise UsageError(f"{flag}: unknown value {unknown[0]!r} (one of {', '.join(known)})")
    return frozenset(words)


def load(arguments: argparse.Namespace) -> RuleSet:
    from eventsweep.detect import load_rules

    levels = _words("--rule-level", arguments.rule_level, RULE_LEVELS)
    statuses = _words("--rule-status", arguments.rule_status, RULE_STATUSES)
    if any(not tag.strip() for tag in arguments.tag):
        raise UsageError("--tag: empty value (a tag such as attack.t1059)")
    tags = frozenset(tag.strip().lower() for tag in arguments.tag)
    for path in arguments.rules:
        if not os.path.exists(os.path.expanduser(path)):
            raise UsageError(f"--rules: {path}: no such file or directory")
    rules = load_rules(arguments.rules, levels=levels, statuses=statuses, tags=tags)
    tell_problems(rules.problems, arguments.rules)
    if not rules.rules:
        raise UsageError(f"--rules: no rule loaded from {', '.join(arguments.rules)}")
    return rules


def tell_problems(problems: Sequence[RuleProblem], paths: Sequence[str]) -> None:
    """Each rule that did not load, once, with its file and why (counted by reason when there
    are many: ``eventsweep rules check`` lists them all)."""
    if len(problems) <= LISTED:
        for problem in problems:
            print(f"eventsweep: rule not loaded: {defuse(problem.line())}", file=sys.stderr)
        return
    reasons = Counter(_kind(problem.reason) for problem in problems)
    print(
        f"eventsweep: {len(problems)} rules not loaded (eventsweep rules check"
        f" {' '.join(paths)} lists each with its file):",
        file=sys.stderr,
    )
    for reason, count in reasons.most_common(5):
        print(f"eventsweep:   {count} × {defuse(reason, 120)}", file=sys.stderr)
    if len(reasons) > 5:
        print(f"eventsweep:   and {len(reasons) - 5} other reasons", file=sys.stderr)


def _kind(reason: str) -> str:
    """A problem's reason without the rule's title and quoted names, to count alike ones."""
    return re.sub(r"'[^']*'", "'…'", reason.rsplit(": ", 1)[-1])


def run_hunt(arguments: argparse.Namespace) -> int:
    from eventsweep.cli import storing
    from eventsweep.detect.hunt import Hunt
    from eventsweep.detect.workers import shared

    if arguments.stored:
        from eventsweep.cli.hunt_stored import hunt_stored

        return hunt_stored(arguments, load)
    for flag, given in (("--target", arguments.target), ("--sweep", arguments.sweep)):
        if given:
            raise UsageError(f"{flag}: only with --stored (the store's events)")
    if arguments.since is None:
        arguments.since = DEFAULT_SINCE
    rules = load(arguments)
    every = flags.store_of(arguments) is not None  # the store keeps every event read
    with shared(rules) as ref:
        planned = plan_request(hunting(request_of(arguments), rules, ref, every))
        if not every:
            planned = matched_where_read(planned, rules)
        store = storing.store_output(arguments, planned, "hunt")
        with printed(arguments, planned, binary_ok=not arguments.summary) as place:
            counts: Counter[SummaryRow] = Counter()
            hunt = Hunt(rules, detection_writer(arguments, place, counts), counts, store)
            outputs: list[Output] = [hunt] if store is None else [hunt, store]
            return drive(planned, outputs, place.show, place.outcomes, arguments.output)


def hunting(request: Request, rules: RuleSet, ref: RuleRef, every: bool) -> Request:
    """The sweep a hunt runs: each kind of target asked only for what the rules can match
    (:func:`~eventsweep.detect.hunt.pushdown`), .evtx files matched in the workers that parse
    them (only the detections come back unless ``every``: the store keeps every event)."""
    from eventsweep.detect.hunt import pushdown
    from eventsweep.sources.evtx import EvtxOptions

    found = request.settings.options.get("evtx")
    evtx = found if isinstance(found, EvtxOptions) else EvtxOptions()
    options = {**request.settings.options, "evtx": replace(evtx, rules=ref, every=every)}
    queries = pushdown(request.query, rules.wanted())
    return replace(request, settings=Settings(options), queries=queries)


def matched_where_read(planned: Planned, rules: RuleSet) -> Planned:
    """Every source but the .evtx files (matched in their workers) matched as it yields
    (:class:`~eventsweep.detect.matching.Matching`): only detections reach the output."""
    from eventsweep.detect.matching import Matching

    schemes = planned.schemes or ("",) * len(planned.sources)
    sources = tuple(
        source if scheme == "evtx" else Matching(source, rules)
        for scheme, source in zip(schemes, planned.sources, strict=True)
    )
    return replace(planned, sources=sources)


def detection_writer(
    arguments: argparse.Namespace, place: Place, counts: Counter[SummaryRow]
) -> DetectionWriter:
    """Where detections go: the chosen format, or the ``--summary`` table of ``counts``."""
    from eventsweep.detect.hunt import open_writer

    if arguments.summary:
        return Summary(place.stream, counts)
    return open_writer(place.format, place.stream, place.options)


class Summary:
    """Counts only; the table of rule × target counts when the hunt ends."""

    def __init__(self, stream: IO[Any], counts: Counter[SummaryRow]) -> None:
        self._stream, self._counts = stream, counts

    def write(self, event: Event, detection: Detection) -> None:
        del event, detection

    def close(self) -> None:
        from eventsweep.detect.hunt import summary_lines

        for line in summary_lines(self._counts):
            self._stream.write(line + "\n")
        self._stream.flush()


def run_check(arguments: argparse.Namespace) -> int:
    from eventsweep.detect import load_rules

    rules = load_rules(arguments.paths)
    linux = sum(any(variant.linux for variant in rule.variants) for rule in rules.rules)
    for problem in rules.problems:
        print(f"not loaded  {defuse(problem.line())}")
    print(
        f"{len(rules.rules)} rules loaded ({len(rules.rules) - linux} Windows, {linux} Linux),"
        f" {len(rules.problems)} not loaded"
    )
    return 0 if not rules.problems else 1
