"""The compiled-rule cache: warm loads are fast and equal, changed files are read again."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from eventsweep.detect import load_rules, rules
from eventsweep.detect.cache import NAME
from tests.detect.conftest import WriteRule
from tests.detect.events import win
from tests.testbed.sigma import SIGMA


def test_a_warm_load_compiles_nothing_and_is_equal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = [str(SIGMA / "rules" / "windows" / "builtin")]  # a few hundred rules
    cold = load_rules(windows, cache=tmp_path)

    def compile_nothing(texts: list[bytes]) -> list[object]:
        raise AssertionError(f"a warm load compiled {len(texts)} file(s)")

    monkeypatch.setattr(rules, "_compile_all", compile_nothing)
    warm = load_rules(windows, cache=tmp_path)  # every file from the cache, pySigma unused
    assert len(cold.rules) > 300
    assert warm.rules == cold.rules and warm.problems == cold.problems


def test_a_changed_file_is_read_again(write_rule: WriteRule, own_cache: Path) -> None:
    path = write_rule("selection:\n  CommandLine: one\ncondition: selection")
    assert load_rules([str(path)]).match(win({"CommandLine": "one"}))
    assert (own_cache / NAME).is_file()  # the default: $EVENTSWEEP_CACHE
    path.write_text(path.read_text().replace("CommandLine: one", "CommandLine: two"))
    rules = load_rules([str(path)])
    assert not rules.match(win({"CommandLine": "one"}))
    assert rules.match(win({"CommandLine": "two"}))


def test_the_same_text_elsewhere_is_its_own_rule(write_rule: WriteRule, tmp_path: Path) -> None:
    first = write_rule("selection:\n  CommandLine: one\ncondition: selection", name="a.yml")
    second = tmp_path / "copy.yml"
    second.write_bytes(first.read_bytes())
    rules = load_rules([str(first), str(second)])
    assert [rule.path for rule in rules.rules] == [str(first), str(second)]


def test_a_damaged_cache_is_ignored(write_rule: WriteRule, own_cache: Path) -> None:
    path = write_rule("selection:\n  CommandLine: one\ncondition: selection")
    own_cache.mkdir(parents=True)
    (own_cache / NAME).write_bytes(b"not a pickle")
    assert load_rules([str(path)]).match(win({"CommandLine": "one"}))
    with (own_cache / NAME).open("rb") as file:
        assert isinstance(pickle.load(file), tuple)  # rewritten


def test_an_unwritable_cache_is_not_an_error(write_rule: WriteRule, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    path = write_rule("selection:\n  CommandLine: one\ncondition: selection")
    assert load_rules([str(path)], cache=blocker / "cache").match(win({"CommandLine": "one"}))


def test_another_compiler_or_pysigma_version_starts_afresh(
    write_rule: WriteRule, own_cache: Path
) -> None:
    path = write_rule("selection:\n  CommandLine: one\ncondition: selection")
    load_rules([str(path)])
    with (own_cache / NAME).open("rb") as file:
        fingerprint, entries = pickle.load(file)
    stale = {key: value._replace(problems=("stale",)) for key, value in entries.items()}
    with (own_cache / NAME).open("wb") as file:
        pickle.dump((b"another version", stale), file)
    assert load_rules([str(path)]).problems == ()  # the stale entry was not used
    with (own_cache / NAME).open("rb") as file:
        assert pickle.load(file)[0] == fingerprint
