"""Loading: bad rules reported (the others loaded), filters, log sources, output, pushdown."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from eventsweep.detect import Detection, detection_record, load_rules, summary
from eventsweep.detect.view import View
from tests.detect.conftest import WriteRule
from tests.detect.events import journal, sysmon, win

GOOD = "selection:\n  CommandLine|contains: evil\ncondition: selection"


def test_bad_rules_are_reported_the_others_loaded(write_rule: WriteRule, tmp_path: Path) -> None:
    good = write_rule(GOOD, name="good.yml")
    broken = tmp_path / "rules" / "broken.yml"
    broken.write_text("title: x\ndetection: [unclosed\n")
    write_rule("selection:\n  CommandLine|nosuch: evil\ncondition: selection", name="mod.yml")
    write_rule("selection:\n  CommandLine: evil\ncondition: selection and other", name="cond.yml")
    write_rule(GOOD, logsource="product: aws\n  service: cloudtrail", name="aws.yml")
    write_rule(GOOD, logsource="product: linux\n  service: auditd", name="auditd.yml")
    write_rule("selection:\n  CommandLine|utf16|base64: x\ncondition: selection", name="bom.yml")
    write_rule("selection:\n  User|expand: '%admins%'\ncondition: selection", name="expand.yml")
    write_rule("selection:\n  TimeCreated|hour: 3\ncondition: selection", name="hour.yml")
    (tmp_path / "rules" / "notes.txt").write_text("not a rule")
    rules = load_rules([str(tmp_path / "rules"), str(tmp_path / "missing")])
    assert [rule.path for rule in rules.rules] == [str(good)]
    problems = {Path(problem.path).name: problem.reason for problem in rules.problems}
    assert set(problems) == {
        "broken.yml", "mod.yml", "cond.yml", "aws.yml", "auditd.yml", "bom.yml", "expand.yml",
        "hour.yml", "missing",
    }  # fmt: skip
    assert all("\n" not in reason and reason for reason in problems.values())
    assert "nosuch" in problems["mod.yml"]
    assert "other" in problems["cond.yml"]
    assert "aws" in problems["aws.yml"]
    assert "auditd" in problems["auditd.yml"]
    assert "utf16" in problems["bom.yml"]
    assert "placeholder %admins%" in problems["expand.yml"]
    assert "time part" in problems["hour.yml"]
    assert problems["missing"] == "no such file or directory"
    assert rules.problems[0].line().startswith(rules.problems[0].path + ": ")


def test_a_path_may_start_with_home(
    write_rule: WriteRule, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_rule(GOOD)
    monkeypatch.setenv("HOME", str(tmp_path))
    rules = load_rules(["~/rules"])
    assert len(rules.rules) == 1 and rules.problems == ()


def test_correlation_rules_are_loaded_and_reported(tmp_path: Path, write_rule: WriteRule) -> None:
    base = write_rule(GOOD, name="base.yml")
    correlation = tmp_path / "rules" / "many.yml"
    correlation.write_text(
        "title: many\nid: 11111111-0000-0000-0000-000000000000\ncorrelation:\n  type: event_count\n"
        "  rules:\n    - rule 0\n  group-by:\n    - Computer\n  timespan: 5m\n"
        "  condition:\n    gte: 10\n"
    )
    rules = load_rules([str(base), str(correlation)])
    assert [rule.path for rule in rules.rules] == [str(base)]
    (problem,) = rules.problems
    assert problem.path == str(correlation)
    assert problem.reason.endswith("correlation rules are not supported")


def test_filters_by_level_status_and_tag(write_rule: WriteRule, tmp_path: Path) -> None:
    tags = "tags:\n  - attack.execution\n  - attack.t1059.001\n"
    write_rule(GOOD, extra=tags)
    rules_dir = [str(tmp_path / "rules")]
    assert len(load_rules(rules_dir, levels=frozenset({"high", "critical"})).rules) == 1
    assert len(load_rules(rules_dir, levels=frozenset({"low"})).rules) == 0
    assert len(load_rules(rules_dir, statuses=frozenset({"test"})).rules) == 1
    assert len(load_rules(rules_dir, statuses=frozenset({"stable"})).rules) == 0
    assert len(load_rules(rules_dir, tags=frozenset({"attack.t1059"})).rules) == 1  # sub-tag
    assert len(load_rules(rules_dir, tags=frozenset({"ATTACK.T1059.001"})).rules) == 1
    assert len(load_rules(rules_dir, tags=frozenset({"attack.t1059.00"})).rules) == 0
    assert len(load_rules(rules_dir, tags=frozenset({"attack.t1003"})).rules) == 0


PROCESS = "product: windows\n  category: process_creation"
IMAGE = "selection:\n  Image|endswith: '\\whoami.exe'\ncondition: selection"


def test_process_creation_reads_sysmon_and_security(write_rule: WriteRule) -> None:
    rules = load_rules([str(write_rule(IMAGE, logsource=PROCESS))])
    assert rules.match(sysmon({"Image": "C:\\Windows\\whoami.exe"}))
    assert rules.match(win({"NewProcessName": "C:\\Windows\\whoami.exe"}, event_id=4688))
    assert not rules.match(win({"NewProcessName": "C:\\Windows\\whoami.exe"}, event_id=4624))
    assert not rules.match(sysmon({"Image": "C:\\Windows\\whoami.exe"}, event_id=3))
    assert not rules.match(journal("C:\\Windows\\whoami.exe", data={"Image": "\\whoami.exe"}))
    wanted = rules.wanted()
    assert wanted.logs == frozenset({"microsoft-windows-sysmon/operational", "security"})
    assert wanted.event_ids == frozenset({1, 4688})
    assert wanted.by_log == {
        "microsoft-windows-sysmon/operational": frozenset({1}),
        "security": frozenset({4688}),
    }
    assert wanted.identifiers == frozenset()  # no Linux rule: no journal entry wanted


def test_linux_rules_read_their_identifiers(write_rule: WriteRule) -> None:
    sshd = write_rule(
        "keywords:\n  - 'Failed password'\ncondition: keywords",
        logsource="product: linux\n  service: sshd",
    )
    rules = load_rules([str(sshd)])
    assert rules.match(journal("Failed password for root", identifier="sshd"))
    assert not rules.match(journal("Failed password for root", identifier="CRON"))
    assert not rules.match(win({}, message="Failed password for root"))
    assert rules.wanted().identifiers == frozenset({"sshd"})
    assert rules.wanted().logs == frozenset()
    anywhere = write_rule(
        "keywords:\n  - 'segfault'\ncondition: keywords", logsource="product: linux"
    )
    assert load_rules([str(sshd), str(anywhere)]).wanted().identifiers is None


def test_a_detection_is_the_event_and_the_rule(write_rule: WriteRule) -> None:
    path = write_rule(
        "selection:\n  EventID: 4688\n  CommandLine|contains: evil\n  User: bob\n"
        "condition: selection",
        extra="tags:\n  - attack.t1059\n",
    )
    rules = load_rules([str(path)])
    event = win({"CommandLine": "an evil one", "user": "BOB"})
    (detection,) = rules.match(event)
    assert detection == Detection(
        id="00000000-0000-0000-0000-000000000000",
        title="rule 0",
        level="high",
        status="test",
        tags=("attack.t1059",),
        path=str(path),
        fields=("event_id", "CommandLine", "user"),  # as the event names them
    )
    record = detection_record(event, detection)
    assert {key: value for key, value in record.items() if key != "rule"} == event.to_dict()
    assert record["rule"] == {
        "id": detection.id,
        "title": "rule 0",
        "level": "high",
        "status": "test",
        "tags": ["attack.t1059"],
        "path": str(path),
        "fields": ["event_id", "CommandLine", "user"],
    }
    other = win({"CommandLine": "evil", "User": "bob"}, target="case/host2.evtx")
    counts = summary((e, d) for e in [event, event, other] for d in rules.match(e))
    assert {(row.title, row.target): n for row, n in counts.items()} == {
        ("rule 0", "case/host1.evtx"): 2,
        ("rule 0", "case/host2.evtx"): 1,
    }


def test_keyword_fields_name_where_they_matched(write_rule: WriteRule) -> None:
    rules = load_rules([str(write_rule("keywords:\n  - mimikatz\ncondition: keywords"))])
    (detection,) = rules.match(win({"Tool": "mimikatz.exe"}))
    assert detection.fields == ("Tool",)
    (detection,) = rules.match(win({}, message="mimikatz ran"))
    assert detection.fields == ("message",)


def test_fields_name_the_branches_that_matched(write_rule: WriteRule) -> None:
    """Every part of a true ``and`` gave fields, of an ``or`` only the parts that hold, of a
    ``not`` none; the same again for the next event (tests are built once, when first used)."""
    path = write_rule(
        "cli:\n  CommandLine|contains: evil\nwho:\n  User: bob\nimage:\n  Image|endswith: x.exe\n"
        "quiet:\n  Quiet: 'yes'\ncondition: cli and (who or image) and not quiet"
    )
    rules = load_rules([str(path)])
    for _ in range(2):
        (found,) = rules.match(win({"CommandLine": "evil", "User": "bob", "Image": "a.exe"}))
        assert found.fields == ("CommandLine", "User")
        (found,) = rules.match(win({"CommandLine": "evil", "User": "al", "Image": "C:\\x.exe"}))
        assert found.fields == ("CommandLine", "Image")
        (found,) = rules.match(win({"CommandLine": "evil", "User": "bob", "Image": "x.exe"}))
        assert found.fields == ("CommandLine", "User", "Image")
        assert rules.match(win({"CommandLine": "evil", "User": "bob", "Quiet": "yes"})) == []


def test_a_rule_set_pickles_for_worker_processes(write_rule: WriteRule) -> None:
    rules = load_rules([str(write_rule(GOOD))])
    event = win({"CommandLine": "an evil one"})
    assert rules.match(event)  # its closures are built: they are not pickled
    again = pickle.loads(pickle.dumps(rules))
    assert again.rules == rules.rules and again.match(event) == rules.match(event)


SSHD = "product: linux\n  service: sshd"


def test_a_journal_bucket_on_keywords_alone_is_gated_on_its_message(
    write_rule: WriteRule,
) -> None:
    """Journal entries whose rules all anchor on keywords are looked at through the message
    alone (no view): one that holds a needle still matches, one that holds none does not,
    and a rule without an anchor turns the gate off."""
    words = ["segfault at", "Failed password", "error: kex", "Did not receive", "PAM: bad"]
    paths = [
        write_rule(f"keywords:\n  - '{word}'\ncondition: keywords", logsource=SSHD)
        for word in words
    ]
    rules = load_rules([str(path) for path in paths])
    assert [d.title for d in rules.match(journal("x FAILED PASSWORD for root"))] == ["rule 1"]
    assert rules.match(journal("Accepted publickey for root")) == []
    assert rules.match(journal("")) == []
    assert rules.match(journal("x", data={"NOTE": "Failed password"})) == []  # the message only
    assert rules._candidates[("journal", "sshd", None)].gate is not None
    loose = write_rule("selection:\n  USER|startswith: ab\ncondition: selection", logsource=SSHD)
    rules = load_rules([str(path) for path in [*paths, loose]])
    assert [d.title for d in rules.match(journal("hi", data={"USER": "abe"}))] == ["rule 5"]
    assert [d.title for d in rules.match(journal("PAM: bad", data={"USER": "x"}))] == ["rule 4"]
    assert rules._candidates[("journal", "sshd", None)].gate is None


def test_keywords_are_found_in_a_win_record_without_its_strings_twice(
    write_rule: WriteRule,
) -> None:
    """A win:// record's message joins its insertion strings (which its named fields repeat):
    a keyword in any of them, across the join, or only in another data value still matches,
    each once."""
    words = ["mimikatz", "evil; more", "cafe0123", "S-1-5-99"]
    rules = load_rules(
        [str(write_rule(f"keywords:\n  - '{word}'\ncondition: keywords")) for word in words]
    )
    strings = ["C:\\tools\\MIMIKATZ.exe", "evil", "more"]
    data = {"event_id_raw": 4688, "strings": strings, "binary": "cafe0123",
            "user_sid": "S-1-5-99", "NewProcessName": strings[0], "Status": strings[1]}  # fmt: skip
    record = win(data, message="; ".join(strings))
    found = {detection.title: detection.fields for detection in rules.match(record)}
    assert found == {
        "rule 0": ("message", "strings", "NewProcessName"),
        "rule 1": ("message",),
        "rule 2": ("binary",),
        "rule 3": ("user_sid",),
    }
    assert View(record).blob(True).count("mimikatz") == 1
    other = win({"strings": strings, "NewProcessName": "mimikatz"}, message="not their join")
    assert [d.title for d in rules.match(other)] == ["rule 0"]
    assert View(other).blob(True).count("mimikatz") == 2  # (not the join: every value is read)
