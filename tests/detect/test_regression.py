"""SigmaHQ's own positive regression samples, each detected by its rule with every rule loaded.

Each folder of regression_data names a rule (by id) and how many times it must fire on the
sample (``match_count``, at least once where none is given); the sample is read through
eventsweep's own .evtx reader, and the whole three rule sets are loaded, as a hunt loads them.
"""

from __future__ import annotations

from collections import Counter

import pytest

from eventsweep.detect import RuleSet
from tests.testbed.run import sweep
from tests.testbed.sigma import Sample, samples

SAMPLES = samples()


def test_every_sample_is_there() -> None:
    assert len(SAMPLES) == 101  # the corpus README: 101 of SigmaHQ's 203


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.folder.name for sample in SAMPLES])
def test_the_rule_detects_its_sample(sigma_rules: RuleSet, sample: Sample) -> None:
    events, outcomes = sweep([str(sample.evtx)])
    assert [outcome.status for outcome in outcomes] == ["ok"]
    fired = Counter(d.id for event in events for d in sigma_rules.match(event))
    assert fired[sample.rule_id] >= sample.match_count, sample.title


def test_the_rules_of_the_samples_are_loaded(sigma_rules: RuleSet) -> None:
    loaded = {rule.id for rule in sigma_rules.rules}
    assert {sample.rule_id for sample in SAMPLES} <= loaded


def test_windows_rules_that_do_not_load_say_why(sigma_rules: RuleSet) -> None:
    # Every Windows rule loads but those whose log source no event log holds (ETW-only
    # categories) and those using a placeholder (%name%, filled by a pipeline of one's own).
    reasons = {
        problem.reason.split(": ", 1)[-1]
        for problem in sigma_rules.problems
        if "/windows/" in problem.path
    }
    assert reasons <= {
        "log source category 'file_access' is mapped to no Windows event log",
        "log source category 'file_rename' is mapped to no Windows event log",
        "placeholder %known_cdcs% is not supported",
    }, reasons
    assert len(sigma_rules.rules) > 2800
