"""A hunt matched in the .evtx workers gives exactly what matching in the parent gives.

The same hunt (every SigmaHQ rule, SigmaHQ's regression samples and the shared .evtx corpus,
the whole window) is run three ways through the one sweep call: matched in the parent (the
.evtx source told nothing of the rules), matched in the workers with only the detections sent
back, and matched in the workers with every event sent back (as when the store keeps them).
The detections (every field but ``collected_at``, in order), the summary counts and the
outcomes must be the same; and every regression sample is still detected by its rule.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from eventsweep import concurrency
from eventsweep.detect import Detection, RuleSet, SummaryRow, detection_record
from eventsweep.detect.hunt import Hunt
from eventsweep.detect.workers import MatchedEvent, RuleRef, rules_of, shared
from eventsweep.model import Event, Query
from eventsweep.runner import Request, run
from eventsweep.sources import Settings
from eventsweep.sources.evtx import EvtxOptions
from tests.testbed.corpus import corpus_files
from tests.testbed.sigma import samples

SAMPLES = samples()


class Kept:
    """A detection writer that keeps each detection as its output record."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, event: Event, detection: Detection) -> None:
        record = detection_record(event, detection)
        del record["collected_at"]  # when the event was read: differs from run to run
        self.records.append(record)

    def close(self) -> None:
        pass


Result = tuple[list[dict[str, Any]], Counter[SummaryRow], list[tuple[str, str, int, int]]]


def _hunt(targets: list[str], rules: RuleSet, options: EvtxOptions) -> Result:
    kept, counts = Kept(), Counter[SummaryRow]()
    request = Request(tuple(targets), Query(), settings=Settings.of(evtx=options), timeout=600)

    async def main() -> list[Any]:
        try:
            return await run(request, [Hunt(rules, kept, counts)])
        finally:
            concurrency.shutdown()

    outcomes = asyncio.run(main())
    ends = [(o.target, o.status, o.events, o.warnings) for o in outcomes]
    return kept.records, counts, ends


@pytest.fixture(scope="module")
def targets() -> list[str]:
    return [str(sample.evtx) for sample in SAMPLES] + [str(path) for path in corpus_files()]


@pytest.fixture(scope="module")
def in_parent(sigma_rules: RuleSet, targets: list[str]) -> Result:
    return _hunt(targets, sigma_rules, EvtxOptions())


@pytest.mark.parametrize("every", [False, True], ids=["detections only", "every event"])
def test_matching_in_the_workers_gives_the_same_hunt(
    sigma_rules: RuleSet, targets: list[str], in_parent: Result, every: bool
) -> None:
    with shared(sigma_rules) as ref:
        in_workers = _hunt(targets, sigma_rules, EvtxOptions(rules=ref, every=every))
    records, counts, ends = in_parent
    assert len(records) > 2000 and len(ends) == len(targets)
    assert in_workers[2] == ends  # every outcome, its event count included
    assert in_workers[1] == counts
    assert in_workers[0] == records


def test_every_sample_is_detected_in_the_workers(in_parent: Result) -> None:
    records, _, _ = in_parent
    fired = Counter((record["target"], record["rule"]["id"]) for record in records)
    for sample in SAMPLES:
        assert fired[str(sample.evtx), sample.rule_id] >= sample.match_count, sample.title


def test_a_shared_rule_set_loads_once_per_process_and_is_checked(
    sigma_rules: RuleSet, tmp_path: Any
) -> None:
    with shared(sigma_rules) as ref:
        loaded = rules_of(ref)
        assert rules_of(ref) is loaded
        assert [rule.id for rule in loaded.rules] == [rule.id for rule in sigma_rules.rules]
    forged = tmp_path / "rules.pickle"
    forged.write_bytes(b"not the rule set")
    with pytest.raises(ValueError, match="not the rule set the hunt shared"):
        rules_of(RuleRef("0" * 64, str(forged)))  # a file that is not what its key says


def test_a_matched_event_pickles_with_its_detections(sigma_rules: RuleSet) -> None:
    import pickle

    detection = Detection("id", "title", "high", "test", ("attack.t1",), "rule.yml", ("x",))
    line = b'{"time":"2024-01-01T00:00:00.000000Z","target":"t","computer":"c","log":"Security",'
    line += b'"record_id":1,"event_id":4624,"level":"audit_success","source":"s","category":null,'
    line += b'"message":"m","data":{},"collected_at":""}\n'
    event = MatchedEvent("2024-01-01T00:00:00.000000Z", line, (detection,))
    again = pickle.loads(pickle.dumps(event))
    assert isinstance(again, MatchedEvent) and again.detections == (detection,)
    assert again == event and again.event_id == 4624
