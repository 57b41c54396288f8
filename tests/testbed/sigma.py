"""Where the shared Sigma rule sets and SigmaHQ's regression samples live.

Read from ../shared/corpus/sigma beside the repository (or ``$EVENTSWEEP_SIGMA``), never
copied in (see its README for the commit and licence).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml


def _shared() -> Path:
    """../shared/corpus/sigma of the nearest folder above the repository that has one (the
    main checkout and its worktrees sit at different depths)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared/corpus/sigma").is_dir():
            return parent / "shared/corpus/sigma"
    return Path(__file__).resolve().parents[3] / "shared/corpus/sigma"


SIGMA = Path(os.environ.get("EVENTSWEEP_SIGMA") or _shared())
RULE_SETS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def evtx_corpus() -> Path:
    """The shared .evtx corpus (tests/testbed/corpus.py's, else the one beside the rules)."""
    from tests.testbed.corpus import CORPUS

    return CORPUS if CORPUS.is_dir() else SIGMA.parent / "evtx"


def rule_sets() -> list[str]:
    """The three published rule sets, as load_rules paths."""
    return [str(SIGMA / name) for name in RULE_SETS]


@dataclass(frozen=True, slots=True)
class Sample:
    """One regression folder: the rule it tests, how often it must fire, the .evtx."""

    folder: Path
    rule_id: str
    title: str
    match_count: int
    evtx: Path


def samples() -> list[Sample]:
    """Every regression_data folder (each has an info.yml and its .evtx), sorted."""
    found = []
    for info in sorted((SIGMA / "regression_data").rglob("info.yml")):
        meta = yaml.safe_load(info.read_text())
        rule = meta["rule_metadata"][0]
        test = meta["regression_tests_info"][0]
        evtx = next(info.parent.glob("*.evtx"))
        found.append(
            Sample(info.parent, rule["id"], rule["title"], int(test.get("match_count") or 1), evtx)
        )
    return found
