"""Loading a rule set, and matching events against it.

:func:`load_rules` reads rule files and directories, compiles each file it has not seen
(through pySigma, see :mod:`eventsweep.detect.parse`; in worker processes when there are many)
and keeps the result in the cache; a rule that does not load is a :class:`RuleProblem`, never
an exception. :class:`RuleSet` matches an event against the rules its log source admits
(:mod:`eventsweep.detect.index`), building each rule's closures the first time it is needed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from eventsweep.detect import cache as cache_store
from eventsweep.detect.index import Variant, Wanted, key_view, specialize, wanted
from eventsweep.detect.match import Needles, Test, build, explain
from eventsweep.detect.prefilter import Prefilter
from eventsweep.detect.view import View
from eventsweep.model import Event

if TYPE_CHECKING:
    from eventsweep.detect.plan import CompiledRule, FileResult

_NEVER = ("const", None, False, False)
PARALLEL = 200  # files to compile before worker processes pay for their start
PREFILTER = 4  # entries a bucket needs before its prefilter pays (see prefilter.py)
BUCKETS = 4096  # (log, provider, event id) keys kept with their built rules


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A rule (or a whole file) that could not be loaded, and why, in one line."""

    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Rule:
    """A loaded rule: its metadata, its file and its variants (see :mod:`.logsources`)."""

    id: str
    title: str
    level: str
    status: str
    tags: tuple[str, ...]
    path: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True, slots=True)
class Detection:
    """A rule that matched an event: the rule's metadata and the event fields it matched."""

    id: str
    title: str
    level: str
    status: str
    tags: tuple[str, ...]
    path: str
    fields: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level,
            "status": self.status,
            "tags": list(self.tags),
            "path": self.path,
            "fields": list(self.fields),
        }


def detection_record(event: Event, detection: Detection) -> dict[str, Any]:
    """A detection as output: the event's own fields, unchanged, and a ``rule`` object."""
    record = event.to_dict()
    record["rule"] = detection.to_dict()
    return record


class SummaryRow(NamedTuple):
    rule_id: str
    title: str
    level: str
    target: str


def summary(pairs: Iterable[tuple[Event, Detection]]) -> Counter[SummaryRow]:
    """How many detections each rule made on each target."""
    return Counter(
        SummaryRow(detection.id, detection.title, detection.level, event.target)
        for event, detection in pairs
    )


class _Entry:
    """A rule's plan for one key, and its test, built the first time it is called (of a
    thousand rules a key admits, the prefilter hands most to no event at all)."""

    __slots__ = ("memo", "plan", "rule", "test")

    def __init__(self, rule: Rule, plan: Any) -> None:
        self.rule, self.plan = rule, plan
        self.memo: dict[int, Test] = {}
        self.test: Test = self._built

    def _built(self, view: View) -> bool:
        self.test = build(self.plan, self.memo)
        return self.test(view)


class _Bucket(NamedTuple):
    """The entries one (log, provider, event id) admits, and their prefilter if many; for a
    journal bucket prefiltered on keywords alone, the prefilter's ``gate``: a message that
    holds none of its needles matches none of the rules, found without a view."""

    entries: list[_Entry]
    prefilter: Prefilter | None
    gate: Needles | None = None


def _bucket(entries: list[_Entry], journal: bool) -> _Bucket:
    if len(entries) < PREFILTER:
        return _Bucket(entries, None)
    prefilter = Prefilter([entry.plan for entry in entries], journal)
    return _Bucket(entries, prefilter, prefilter.gate)


class RuleSet:
    """Loaded rules and the problems of those that did not load.

    ``match(event)`` gives the detections of one event (in rule order); ``wanted()`` what the
    rules could match at all. Matching is single-threaded; use one RuleSet per thread. A
    RuleSet pickles small (its plans, not its closures), to match in worker processes.
    """

    def __init__(self, rules: Sequence[Rule], problems: Sequence[RuleProblem]) -> None:
        self.rules = tuple(rules)
        self.problems = tuple(problems)
        self._candidates: dict[tuple[str, str, int | None], _Bucket] = {}
        self._order = {id(rule): number for number, rule in enumerate(self.rules)}
        self._by_log: dict[str | None, list[tuple[Rule, Variant]]] = {}
        for rule in self.rules:
            for variant in rule.variants:
                for log in variant.logs or (None,):
                    self._by_log.setdefault(log and log.lower(), []).append((rule, variant))

    def __reduce__(self) -> tuple[type[RuleSet], tuple[Any, ...]]:
        # pickles without its closures (rebuilt where it is used): for worker processes
        return (RuleSet, (self.rules, self.problems))

    def match(self, event: Event) -> list[Detection]:
        key = (event.log, event.source, event.event_id)
        bucket = self._candidates.get(key)
        if bucket is None:
            if len(self._candidates) >= BUCKETS:  # a source with ever new names: stay bounded
                self._candidates.clear()
            bucket = self._candidates[key] = _bucket(self._select(*key), key[0] == "journal")
        entries = bucket.entries
        if not entries:
            return []
        gate = bucket.gate
        if gate is not None and not gate.any((event.message or "").lower()):
            return []  # (a journal entry's keyword text is its message)
        view = View(event)
        if bucket.prefilter is not None:
            entries = [entries[number] for number in bucket.prefilter.select(view)]
        found = [self._detection(entry, view) for entry in entries if entry.test(view)]
        return found if len(found) < 2 else _distinct(found)

    def wanted(self) -> Wanted:
        return wanted(variant for rule in self.rules for variant in rule.variants)

    def _select(self, log: str, source: str, event_id: int | None) -> list[_Entry]:
        """The variants events of this key could match, each specialized for the key."""
        known = key_view(log, source, event_id)
        entries = []
        pairs = self._by_log.get(log.lower(), []) + self._by_log.get(None, [])
        for rule, variant in sorted(pairs, key=lambda pair: self._order[id(pair[0])]):
            if variant.admits(log, source, event_id):
                plan = specialize(variant.plan, known)
                if plan != _NEVER:
                    entries.append(_Entry(rule, plan))
        return entries

    @staticmethod
    def _detection(entry: _Entry, view: View) -> Detection:
        rule = entry.rule
        fields = tuple(explain(entry.plan, entry.memo, view, holds=True))  # (it matched)
        return Detection(rule.id, rule.title, rule.level, rule.status, rule.tags, rule.path, fields)


def _distinct(found: list[Detection]) -> list[Detection]:
    seen: set[tuple[str, str]] = set()
    out = []
    for detection in found:
        if (detection.id, detection.path) not in seen:
            seen.add((detection.id, detection.path))
            out.append(detection)
    return out


def load_rules(
    paths: Sequence[str],
    *,
    levels: frozenset[str] = frozenset(),
    statuses: frozenset[str] = frozenset(),
    tags: frozenset[str] = frozenset(),
    cache: str | os.PathLike[str] | None = None,
) -> RuleSet:
    """The rules of files and directories (``*.yml``, ``*.yaml``, recursively), those of the
    given levels, statuses and tags (empty: any; a tag also picks its sub-tags, attack.t1059
    picks attack.t1059.001). Compiled rules are cached by file content in ``cache`` (a
    directory; default: ``$EVENTSWEEP_CACHE`` or the user cache directory, see
    :mod:`.cache`)."""
    files, problems = _files(paths)
    texts: dict[str, bytes] = {}
    for path in files:
        try:
            with open(path, "rb") as file:
                texts[path] = file.read()
        except OSError as error:
            problems.append(RuleProblem(path, f"cannot read: {error.strerror or error}"))
    results = _compiled(texts, Path(cache) if cache is not None else cache_store.directory())
    rules: list[Rule] = []
    for path, result in results.items():
        problems.extend(RuleProblem(path, reason) for reason in result.problems)
        rules.extend(_rule(path, compiled) for compiled in result.rules)
    picked = [rule for rule in rules if _picked(rule, levels, statuses, tags)]
    return RuleSet(picked, problems)


def _rule(path: str, compiled: CompiledRule) -> Rule:
    return Rule(
        compiled.id,
        compiled.title,
        compiled.level,
        compiled.status,
        compiled.tags,
        path,
        compiled.variants,
    )


def _picked(
    rule: Rule, levels: frozenset[str], statuses: frozenset[str], tags: frozenset[str]
) -> bool:
    if levels and rule.level not in {level.lower() for level in levels}:
        return False
    if statuses and rule.status not in {status.lower() for status in statuses}:
        return False
    if not tags:
        return True
    wanted_tags = [tag.lower() for tag in tags]
    return any(
        tag == want or tag.startswith(want + ".")
        for tag in (tag.lower() for tag in rule.tags)
        for want in wanted_tags
    )


def _files(paths: Sequence[str]) -> tuple[list[str], list[RuleProblem]]:
    files: list[str] = []
    problems: list[RuleProblem] = []
    for name in paths:
        path = os.path.expanduser(name)
        if os.path.isdir(path):
            files.extend(sorted(_walk(path)))
        elif os.path.isfile(path):
            files.append(path)
        else:
            problems.append(RuleProblem(name, "no such file or directory"))
    return list(dict.fromkeys(files)), problems


def _walk(directory: str) -> Iterable[str]:
    """The rule files under a directory (os.walk: pathlib's rglob costs 0.2 s on SigmaHQ's)."""
    for folder, _, names in os.walk(directory):
        for name in names:
            if name.endswith((".yml", ".yaml")):
                yield os.path.join(folder, name)


def _compiled(texts: dict[str, bytes], where: Path) -> dict[str, FileResult]:
    """Each file's result, from the cache or compiled now (then cached)."""
    entries = cache_store.read(where)
    keys = {path: cache_store.key(text) for path, text in texts.items()}
    missing = {key: texts[path] for path, key in keys.items() if key not in entries}
    if missing:
        fresh = dict(zip(missing, _compile_all(list(missing.values())), strict=True))
        if len(entries) + len(fresh) > cache_store.LIMIT:
            entries = {key: entries[key] for key in keys.values() if key in entries}
        entries.update(fresh)
        cache_store.write(entries, where)
    return {path: entries[key] for path, key in keys.items()}


def _compile_all(texts: list[bytes]) -> list[FileResult]:
    from eventsweep.detect.parse import compile_file  # pySigma: only when something is new

    workers = min(os.cpu_count() or 1, 8)
    if len(texts) < PARALLEL or workers < 2:
        return [compile_file(text) for text in texts]
    try:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            return list(pool.map(compile_file, texts, chunksize=64))
    except (OSError, RuntimeError, BrokenProcessPool):
        # no processes here (a sandbox, an unguarded __main__): the same work in this one
        return [compile_file(text) for text in texts]
