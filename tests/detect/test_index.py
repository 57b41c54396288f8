"""The index, the specialized plans and the prefilter change nothing: on real events, the rule
set gives exactly the rules whose unspecialized plan holds among those its log source admits."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventsweep.detect import RuleSet
from eventsweep.detect.match import Test, build
from eventsweep.detect.view import View
from eventsweep.model import Event
from tests.testbed.run import sweep
from tests.testbed.sigma import evtx_corpus

SYSMON = ("omerbenamram__evtx/samples/sysmon.evtx",)


Admitted = dict[tuple[str, str, int | None], list[tuple[str, Test]]]


def reference(rules: RuleSet, event: Event, admitted: Admitted) -> set[str]:
    """The rules whose whole plan (built as it is, unspecialized) holds for the event."""
    key = (event.log, event.source, event.event_id)
    if key not in admitted:
        admitted[key] = [
            (rule.path, build(variant.plan))
            for rule in rules.rules
            for variant in rule.variants
            if variant.admits(*key)
        ]
    view = View(event)
    return {path for path, test in admitted[key] if test(view)}


@pytest.fixture(scope="module")
def busy_events() -> list[Event]:
    """Sysmon events (process creation: the prefiltered bucket) and Security ones."""
    names = [*SYSMON, "synthetic/synthetic_big_security.evtx"]
    events, _ = sweep([str(evtx_corpus() / name) for name in names])
    sysmon = [event for event in events if "Sysmon" in event.log]
    security = [event for event in events if event.log == "Security"][::20]
    assert len(sysmon) > 300 and len(security) > 1000
    return sysmon + security


def test_the_index_is_exact(sigma_rules: RuleSet, busy_events: list[Event]) -> None:
    admitted: Admitted = {}
    fresh = RuleSet(sigma_rules.rules, ())
    found = {id(event): {d.path for d in fresh.match(event)} for event in busy_events}
    mismatches = [
        (event.event_id, event.record_id)
        for event in busy_events
        if found[id(event)] != reference(fresh, event, admitted)
    ]
    assert mismatches == []
    assert sum(bool(paths) for paths in found.values()) > 50


def test_demo_process_creation_is_exact(sigma_rules: RuleSet, tmp_path: Path) -> None:
    from eventsweep.demo import generate

    files = generate(tmp_path, hosts=2, days=2, end="2024-01-20T00:00:00Z")
    events, _ = sweep([str(path) for path in files if path.name == "Security.evtx"])
    created = [event for event in events if event.event_id == 4688]
    assert len(created) > 100
    admitted: Admitted = {}
    for event in created:
        assert {d.path for d in sigma_rules.match(event)} == reference(sigma_rules, event, admitted)
