"""``eventsweep hunt`` and ``eventsweep rules check`` as a user runs them, over demo data with
hand-written rules: formats, --summary, rule picks, grouping, bad rules, the pushdown."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from eventsweep import cli
from eventsweep.demo import generate
from eventsweep.detect.hunt import NO_JOURNAL, pushdown, ranges
from eventsweep.detect.index import Wanted
from eventsweep.model import FIELDS, Query

END = "2024-01-20T00:00:00Z"
WEEK = ["--since", "2024-01-13T00:00:00Z", "--until", END]
FAILED = """\
title: Failed logon
id: 5c1b0e51-0c1e-4d5e-9a3c-2f1a4bde0001
status: test
level: medium
tags: [attack.credential-access, attack.t1110]
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
"""
LOCKOUT = """\
title: Account locked out
id: 5c1b0e51-0c1e-4d5e-9a3c-2f1a4bde0002
status: stable
level: high
tags: [attack.t1110.001]
logsource: {product: windows, service: security}
detection:
  selection:
    EventID: 4740
  condition: selection
"""
CRASH = """\
title: Application crash
id: 5c1b0e51-0c1e-4d5e-9a3c-2f1a4bde0003
status: experimental
level: low
logsource: {product: windows, service: application}
detection:
  selection: {EventID: 1000}
  condition: selection
"""
BROKEN = "title: [unclosed\n"
NO_SELECTION = """\
title: Names no selection
id: 5c1b0e51-0c1e-4d5e-9a3c-2f1a4bde0004
status: test
level: low
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 1}
  condition: nothing_here
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "demo"
    generate(folder, end=END)
    return folder


@pytest.fixture(autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTSWEEP_CACHE", str(tmp_path_factory.getbasetemp() / "sigma-cache"))


def _rules(folder: Path, **texts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.yml").write_text(text)
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _hunt_jsonl(
    capsys: pytest.CaptureFixture[str], demo: Path, rules: Path, *extra: str
) -> list[dict[str, object]]:
    code, out, err = _run(
        capsys, "hunt", str(demo), "--rules", str(rules), *WEEK, "--format", "jsonl", *extra
    )
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_each_detection_is_the_event_with_its_rule(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", failed=FAILED, lockout=LOCKOUT, crash=CRASH)
    found = _hunt_jsonl(capsys, demo, rules)
    assert tuple(found[0])[: len(FIELDS)] == FIELDS and tuple(found[0])[-1] == "rule"
    by_rule: dict[str, list[dict[str, object]]] = {}
    for record in found:
        rule = record["rule"]
        assert isinstance(rule, dict)
        assert set(rule) == {"id", "title", "level", "status", "tags", "path", "fields"}
        by_rule.setdefault(str(rule["title"]), []).append(record)
    assert {title: {r["event_id"] for r in rows} for title, rows in by_rule.items()} == {
        "Failed logon": {4625},
        "Account locked out": {4740},
        "Application crash": {1000},
    }
    failed = by_rule["Failed logon"][0]["rule"]
    assert isinstance(failed, dict) and failed["fields"] == ["event_id"]
    assert str(failed["path"]).endswith("failed.yml") and failed["level"] == "medium"
    _, out, _ = _run(capsys, "sweep", str(demo), *WEEK, "--event-id", "4625", "--format", "jsonl")
    assert len(by_rule["Failed logon"]) == len(out.splitlines()) > 0  # every one, no other


def test_rules_are_picked_by_level_status_and_tag(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", failed=FAILED, lockout=LOCKOUT, crash=CRASH)

    def titles(*extra: str) -> set[object]:
        rows = _hunt_jsonl(capsys, demo, rules, *extra)
        return {row["rule"]["title"] for row in rows}  # type: ignore[index]

    assert titles("--rule-level", "high,critical") == {"Account locked out"}
    assert titles("--rule-status", "experimental") == {"Application crash"}
    assert titles("--tag", "attack.t1110") == {"Failed logon", "Account locked out"}


def test_summary_counts_per_rule_and_target(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", failed=FAILED, lockout=LOCKOUT)
    found = _hunt_jsonl(capsys, demo, rules)
    code, out, err = _run(capsys, "hunt", str(demo), "--rules", str(rules), *WEEK, "--summary")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["count", "level", "rule", "target"]
    counted = {(row.split()[-1], " ".join(row.split()[2:-1])): int(row.split()[0]) for row in rows}
    expected: dict[tuple[str, str], int] = {}
    for record in found:
        key = (str(record["target"]), str(record["rule"]["title"]))  # type: ignore[index]
        expected[key] = expected.get(key, 0) + 1
    assert counted == expected
    assert len(err.splitlines()) == 12 and all(line.startswith("ok ") for line in err.splitlines())


def test_group_time_gives_every_detection_newest_first(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", failed=FAILED, crash=CRASH)
    times = [str(r["time"]) for r in _hunt_jsonl(capsys, demo, rules, "--group", "time")]
    assert times == sorted(times, reverse=True) and len(times) > 10


def test_table_and_csv_show_the_rule_beside_the_event(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", lockout=LOCKOUT)
    code, out, _ = _run(
        capsys, "hunt", str(demo), "--rules", str(rules), *WEEK, "--format", "table"
    )
    assert code == 0 and "Account locked out" in out and "4740" in out
    code, out, _ = _run(capsys, "hunt", str(demo), "--rules", str(rules), *WEEK, "--format", "csv")
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header[: len(FIELDS)] == list(FIELDS) and header[-7:][:3] == [
        "rule_id",
        "rule_title",
        "rule_level",
    ]
    assert rows and all(row[header.index("rule_title")] == "Account locked out" for row in rows)


def test_detections_as_evtx(capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path) -> None:
    rules = _rules(tmp_path / "rules", lockout=LOCKOUT)
    out = tmp_path / "detections.evtx"
    argv = ["hunt", str(demo), "--rules", str(rules), *WEEK, "--format", "evtx", "-o", str(out)]
    code, _, _ = _run(capsys, *argv)
    assert code == 0
    code, text, _ = _run(capsys, "sweep", str(out), "--all", "--format", "jsonl")
    events = [json.loads(line) for line in text.splitlines()]
    assert events and all(e["event_id"] == 4740 for e in events)
    assert all(e["data"]["sigma.title"] == "Account locked out" for e in events)


def test_bad_rules_are_reported_once_and_the_others_hunt(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    rules = _rules(tmp_path / "rules", broken=BROKEN, odd=NO_SELECTION, lockout=LOCKOUT)
    argv = ["hunt", str(demo), "--rules", str(rules), *WEEK, "--format", "jsonl"]
    code, out, err = _run(capsys, *argv)
    assert code == 0 and out.count("Account locked out") == len(out.splitlines()) > 0
    problems = [line for line in err.splitlines() if line.startswith("eventsweep: rule not")]
    assert len(problems) == 2
    assert any("broken.yml" in line for line in problems)
    assert any("odd.yml" in line for line in problems)
    code, out, _ = _run(capsys, "rules", "check", str(rules))
    assert code == 1 and out.splitlines()[-1].startswith("1 rules loaded (1 Windows, 0 Linux)")
    assert sum(line.startswith("not loaded  ") for line in out.splitlines()) == 2
    code, out, _ = _run(capsys, "rules", "check", str(rules / "lockout.yml"))
    assert code == 0


def test_no_rule_at_all_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], demo: Path, tmp_path: Path
) -> None:
    code, out, err = _run(capsys, "hunt", str(demo), "--rules", str(tmp_path / "none"))
    assert code == 2 and out == "" and err.splitlines()[-1].startswith("eventsweep: --rules: ")
    code, _, err = _run(capsys, "hunt", str(demo), "--rules", str(tmp_path), "--rule-level", "x")
    assert code == 2 and "--rule-level" in err


def test_pushdown_narrows_each_kind_of_target() -> None:
    wanted = Wanted(
        logs=frozenset({"security"}),
        event_ids=frozenset({4624, 4625, 4740}),
        by_log={"security": frozenset({4624, 4625, 4740})},
        identifiers=frozenset({"sshd", "sudo"}),
    )
    queries = pushdown(Query(), wanted)
    assert queries["win"].event_ids == ((4624, 4625), (4740, 4740)) == ranges({4740, 4625, 4624})
    assert queries["evtx"].logs == ("security",) and queries["evtx"].event_ids
    assert queries["ssh"].sources == frozenset({"sshd", "sudo"}) == queries["journal"].sources
    mine = Query(event_ids=((1, 2),), sources=frozenset({"cron"}))
    assert pushdown(mine, wanted)["win"].event_ids == ((1, 2),)  # the user's own filter wins
    assert pushdown(mine, wanted)["ssh"].sources == frozenset({"cron"})
    no_linux = Wanted(None, None, {}, frozenset())
    assert pushdown(Query(), no_linux)["ssh"].event_ids == NO_JOURNAL
    assert pushdown(Query(), no_linux)["win"] == Query()
