"""One rule file's text → its compiled rules and the reasons the others could not load.

The only step that needs pySigma (imported lazily by :mod:`eventsweep.detect.rules`, only for
files the cache does not hold). Never raises for a bad file: every failure becomes a reason.
"""

from __future__ import annotations

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.modifiers import SigmaUTF16Modifier, SigmaWideModifier, modifier_mapping
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from eventsweep.detect.compile import Unsupported
from eventsweep.detect.logsources import variants
from eventsweep.detect.plan import CompiledRule, FileResult

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The specification's name of the wide modifier, which pySigma 1.5 knows as wide only.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)


def compile_file(text: bytes) -> FileResult:
    """The rules of one file's text, and one line per rule (or file) that did not load."""
    try:
        # SigmaCollection.from_yaml is safe_load_all + from_dicts; libyaml's loader (same safe
        # semantics) reads the rules 5 times faster than the pure-Python one it uses
        documents = list(yaml.load_all(text, Loader=_LOADER))
        collection = SigmaCollection.from_dicts(
            documents, collect_errors=True, resolve_references=False
        )
    except Exception as error:  # a YAML or structure error: the whole file
        return FileResult((), (reason(error),))
    rules: list[CompiledRule] = []
    own = {id(error) for rule in collection.rules for error in rule.errors}
    problems = [reason(error) for error in collection.errors if id(error) not in own]
    for rule in collection.rules:
        try:
            rules.append(compile_rule(rule))
        except (SigmaError, Unsupported, ValueError) as error:
            problems.append(_named(rule, reason(error)))
    return FileResult(tuple(rules), tuple(problems))


def compile_rule(rule: object) -> CompiledRule:
    if isinstance(rule, SigmaCorrelationRule):
        raise Unsupported("correlation rules are not supported")
    if not isinstance(rule, SigmaRule):
        raise Unsupported(f"{type(rule).__name__} documents are not supported")
    if rule.errors:
        raise rule.errors[0]
    if any(SigmaUTF16Modifier in item.modifiers for item in _items(rule.detection.detections)):
        # pySigma 1.5 encodes its byte order mark as UTF-8 (EF BB BF), not as UTF-16 (FF FE)
        raise Unsupported("the utf16 modifier is not supported (use utf16le or utf16be)")
    return CompiledRule(
        str(rule.id or ""),
        str(rule.title or ""),
        rule.level.name.lower() if rule.level else "",
        rule.status.name.lower() if rule.status else "",
        tuple(str(tag) for tag in rule.tags),
        variants(rule),
    )


def _items(detections: dict[str, SigmaDetection]) -> list[SigmaDetectionItem]:
    found: list[SigmaDetectionItem] = []
    pending: list[SigmaDetection | SigmaDetectionItem] = list(detections.values())
    while pending:
        item = pending.pop()
        if isinstance(item, SigmaDetection):
            pending.extend(item.detection_items)
        else:
            found.append(item)
    return found


def reason(error: BaseException) -> str:
    """An error as one line (pySigma's location suffix left out)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _named(rule: object, text: str) -> str:
    title = getattr(rule, "title", None)
    return f"{title}: {text}" if title else text
