"""False positives: the whole Windows rule set over the shared .evtx corpus and the demo data.

A rule that fires on nearly every event of a file is a mapping bug (a field read from the
wrong place, a log source that admits everything), not a detection. Each file's busiest rules
are printed (``pytest -s``) to be looked at; on this corpus they are (2026-12): User Logoff
Event (4634/4647, informational: every logoff by design), VSSAudit Security Event Source
Registration, the demo's own synthetic svchost/powershell process trees (true positives of
what the demo writes), PowerShell Scripts Installed as Services on the Tchopper sample (its
attack).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from eventsweep.demo import generate
from eventsweep.detect import RuleSet
from eventsweep.model import Event
from tests.testbed.run import sweep
from tests.testbed.sigma import evtx_corpus

BUSY = 200  # events a file needs before a rule's share of them means anything
SHARE = 0.5


def busiest(rules: RuleSet, events: list[Event]) -> dict[str, Counter[str]]:
    """Per file (target), how many of its events each rule fired on."""
    found: dict[str, Counter[str]] = {}
    for event in events:
        for detection in rules.match(event):
            found.setdefault(event.target, Counter())[detection.title] += 1
    return found


def check(rules: RuleSet, events: list[Event]) -> set[str]:
    """Asserts no rule fires on most events of a busy file; the titles of those that fired."""
    sizes = Counter(event.target for event in events)
    fired: set[str] = set()
    for target, counts in sorted(busiest(rules, events).items()):
        print(Path(target).name, sizes[target], counts.most_common(3))
        fired |= set(counts)
        if sizes[target] >= BUSY:
            noisy = {title: n for title, n in counts.items() if n > SHARE * sizes[target]}
            assert not noisy, (target, sizes[target], noisy)
    return fired


def test_the_shared_corpus(sigma_rules: RuleSet) -> None:
    files = sorted(evtx_corpus().rglob("*.evtx"))
    assert len(files) > 30
    events, _ = sweep([str(path) for path in files])
    assert len(events) > 50_000
    check(sigma_rules, events)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    directory = tmp_path_factory.mktemp("demo")
    files = generate(directory, end="2024-01-20T00:00:00Z")
    events, _ = sweep([str(path) for path in files])
    return events


def test_the_demo_data(sigma_rules: RuleSet, demo: list[Event]) -> None:
    assert len(demo) > 30_000
    # the demo's logoffs: a rule that fires on every one by design
    assert "User Logoff Event" in check(sigma_rules, demo)
