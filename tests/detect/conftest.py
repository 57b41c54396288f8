"""Fixtures of the detect tests: a cache of their own, and the whole SigmaHQ rule set, once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from eventsweep.detect import RuleSet, load_rules
from tests.testbed.sigma import rule_sets

WriteRule = Callable[..., Path]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test compiles into a cache of its own (never the user's)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("EVENTSWEEP_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def sigma_rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """Every rule of the three SigmaHQ rule sets, compiled once for the session."""
    return load_rules(rule_sets(), cache=tmp_path_factory.mktemp("sigma-cache"))


@pytest.fixture
def write_rule(tmp_path: Path) -> WriteRule:
    """Writes a rule file from its detection (YAML text) and log source; returns its path."""
    counter = iter(range(1_000_000))

    def write(
        detection: str,
        logsource: str = "product: windows\n  service: security",
        *,
        name: str | None = None,
        extra: str = "",
    ) -> Path:
        number = next(counter)
        body = "\n".join("  " + line if line else line for line in detection.strip().splitlines())
        text = (
            f"title: rule {number}\nid: 00000000-0000-0000-0000-{number:012}\nstatus: test\n"
            f"level: high\nlogsource:\n  {logsource}\ndetection:\n{body}\n{extra}"
        )
        path = tmp_path / "rules" / (name or f"rule_{number}.yml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write
