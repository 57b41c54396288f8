"""Every value modifier, wildcard and value form of the Sigma specification, on hand-made
rules and events (the Security log's 4688 unless told; text compared case-insensitively)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from eventsweep.detect import load_rules
from eventsweep.detect.prefilter import Prefilter
from eventsweep.detect.view import View
from eventsweep.model import Event
from tests.detect.conftest import WriteRule
from tests.detect.events import journal, win


def fires(write_rule: WriteRule, detection: str, event: Event, **options: Any) -> bool:
    rules = load_rules([str(write_rule(detection, **options))])
    assert rules.problems == () and len(rules.rules) == 1
    found = bool(rules.match(event))
    # the prefilter (built for buckets of several rules) never leaves out a rule that holds
    entries = rules._select(event.log, event.source, event.event_id)
    chosen = Prefilter([entry.plan for entry in entries]).select(View(event))
    assert {n for n, entry in enumerate(entries) if entry.test(View(event))} <= set(chosen)
    return found


def cmd(text: Any, **more: Any) -> Event:
    return win({"CommandLine": text, **more})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


MANY_NEEDLES = "CommandLine|contains:\n" + "".join(f"  - 'needle{n}'\n" for n in range(1, 20))

CASES = [
    # (detection, CommandLine, expected)
    ("CommandLine: 'whoami /ALL'", "WHOAMI /all", True),
    ("CommandLine: 'whoami /all'", "whoami /all now", False),  # equality is the whole value
    # \\ is one backslash before a wildcard; \* alone is a literal star
    ("CommandLine: 'c:\\windows\\\\*\\cmd.exe'", "C:\\Windows\\System32\\cmd.exe", True),
    ("CommandLine: 'c:\\windows\\\\*\\cmd.exe'", "C:\\Windows\\cmd.exe.bak", False),
    ("CommandLine: 'c:\\windows\\*\\cmd.exe'", "C:\\Windows\\System32\\cmd.exe", False),
    ("CommandLine: 'who?mi'", "whoami", True),
    ("CommandLine: 'who?mi'", "whomi", False),
    ("CommandLine: 'a\\*b'", "a*b", True),  # an escaped wildcard is the character itself
    ("CommandLine: 'a\\*b'", "axb", False),
    ("CommandLine: 'a\\?b'", "axb", False),
    ("CommandLine: '*'", "anything", True),
    ("CommandLine: ''", "", True),
    ("CommandLine: ''", "x", False),
    ("CommandLine|contains: 'MIMI'", "run mimikatz.exe", True),
    # over 16 needles: one automaton for them all (match._contains_many)
    (MANY_NEEDLES, "echo \u202e and \U0001f600 NEEDLE19 here", True),
    (MANY_NEEDLES, "echo NEEDLE1", True),
    (MANY_NEEDLES, "echo needle 1 and needlex", False),
    ("CommandLine|contains: 'mimi'", "run katz", False),
    ("CommandLine|startswith: 'Net '", "net user /add", True),
    ("CommandLine|startswith: 'net '", "cmd /c net user", False),
    ("CommandLine|endswith: '.PS1'", "run.ps1", True),
    ("CommandLine|endswith: '.ps1'", "run.ps1 -x", False),
    ("CommandLine|contains: 'a*c'", "xxabbbcxx", True),  # wildcards inside contains
    ("CommandLine|contains:\n  - foo\n  - bar", "a bar", True),  # a list is OR
    ("CommandLine|contains:\n  - foo\n  - bar", "baz", False),
    ("CommandLine|contains|all:\n  - foo\n  - bar", "bar then foo", True),  # all: AND
    ("CommandLine|contains|all:\n  - foo\n  - bar", "foo only", False),
    ("CommandLine|cased: 'Whoami'", "Whoami", True),
    ("CommandLine|cased: 'Whoami'", "whoami", False),
    ("CommandLine|contains|cased: 'Mimi'", "xMimix", True),
    ("CommandLine|contains|cased: 'Mimi'", "xmimix", False),
    ("CommandLine|re: 'whoami$'", "c:\\WHOAMI", False),  # a regex is case-sensitive
    ("CommandLine|re: 'who.mi$'", "c:\\whoami", True),  # and matches anywhere
    ("CommandLine|re|i: '^WHO.MI'", "whoami", True),
    ("CommandLine|re: '^second'", "first\nsecond", False),
    ("CommandLine|re|m: '^second'", "first\nsecond", True),
    ("CommandLine|re: 'a.b'", "a\nb", False),
    ("CommandLine|re|s: 'a.b'", "a\nb", True),
    ("CommandLine|base64: 'secret'", "c2VjcmV0", True),
    ("CommandLine|base64|contains: 'secret'", "x c2VjcmV0 y", True),
    ("CommandLine|base64: 'secret'", "secret", False),
    ("CommandLine|base64offset|contains: 'secret'", "enc " + b64(b"xsecret y"), True),
    ("CommandLine|base64offset|contains: 'secret'", "enc " + b64(b"xxsecret y"), True),
    ("CommandLine|base64offset|contains: 'secret'", "enc " + b64(b"public"), False),
    ("CommandLine|utf16le|base64offset|contains: 'Mimi'", b64("IEX Mimi".encode("utf-16le")), True),
    ("CommandLine|wide|base64offset|contains: 'Mimi'", b64("IEX Mimi".encode("utf-16le")), True),
    ("CommandLine|utf16be|base64offset|contains: 'Mimi'", b64("IEX Mimi".encode("utf-16be")), True),
    ("CommandLine|utf16le|base64offset|contains: 'Mimi'", b64(b"IEX Mimi"), False),
    ("CommandLine|windash|contains: ' -enc '", "powershell /enc AAA", True),
    ("CommandLine|windash|contains: ' -enc '", "powershell \u2013enc AAA", True),  # en dash
    ("CommandLine|windash|contains: ' -enc '", "powershell \u2014enc AAA", True),  # em dash
    ("CommandLine|windash|contains: ' -enc '", "powershell -enc AAA", True),
    ("CommandLine|windash|contains: ' -enc '", "powershell +enc AAA", False),
]


@pytest.mark.parametrize(("detection", "value", "expected"), CASES)
def test_string_modifiers(
    write_rule: WriteRule, detection: str, value: str, expected: bool
) -> None:
    text = f"selection:\n  {detection.replace(chr(10), chr(10) + '  ')}\ncondition: selection"
    assert fires(write_rule, text, cmd(value)) is expected


@pytest.mark.parametrize(
    ("detection", "data", "expected"),
    [
        ("Count|gt: 5", {"Count": 6}, True),
        ("Count|gt: 5", {"Count": 5}, False),
        ("Count|gte: 5", {"Count": "5"}, True),  # the text of a number is a number
        ("Count|lt: 5", {"Count": 4.5}, True),
        ("Count|lte: 5", {"Count": 6}, False),
        ("Count|gt: 5", {"Count": "many"}, False),
        ("Count|gt: 5", {}, False),
        ("LogonType: 3", {"LogonType": "3"}, True),
        ("LogonType: 3", {"LogonType": 3}, True),
        ("LogonType: 3", {"LogonType": "10"}, False),
        ("LogonType: '3'", {"LogonType": 3}, True),
        ("Enabled: true", {"Enabled": True}, True),
        ("Enabled: true", {"Enabled": "True"}, True),
        ("Enabled: true", {"Enabled": False}, False),
        ("ParentImage: null", {}, True),
        ("ParentImage: null", {"ParentImage": None}, True),
        ("ParentImage: null", {"ParentImage": ""}, True),
        ("ParentImage: null", {"ParentImage": "x.exe"}, False),
        ("User|exists: true", {"User": "bob"}, True),
        ("User|exists: true", {}, False),
        ("User|exists: false", {}, True),
        ("User|exists: false", {"User": ""}, False),
        ("ParentImage|fieldref: Image", {"Image": "A.exe", "ParentImage": "a.EXE"}, True),
        ("ParentImage|fieldref: Image", {"Image": "a.exe", "ParentImage": "b.exe"}, False),
        ("ParentImage|fieldref: Image", {"ParentImage": "b.exe"}, False),
        ("DestinationIp|cidr: 10.0.0.0/8", {"DestinationIp": "10.1.2.3"}, True),
        ("DestinationIp|cidr: 10.0.0.0/8", {"DestinationIp": "11.1.2.3"}, False),
        ("DestinationIp|cidr: 10.0.0.0/8", {"DestinationIp": "not an address"}, False),
        ("DestinationIp|cidr: 'fe80::/10'", {"DestinationIp": "fe80::1"}, True),
        ("DestinationIp|cidr: 'fe80::/10'", {"DestinationIp": "10.1.2.3"}, False),
        ("DestinationIp|cidr: 'fe80::/10'", {"DestinationIp": "[fe80::1]"}, True),
        ("DestinationIp|cidr: 'fe80::/10'", {"DestinationIp": "fec0::1"}, False),
        ("DestinationIp|cidr: 10.0.0.0/8", {"DestinationIp": "::ffff:10.1.2.3"}, False),
        ("DestinationIp|cidr: 10.1.2.3/32", {"DestinationIp": "10.1.2.3"}, True),
        ("DestinationIp|cidr: 10.1.2.3/32", {"DestinationIp": "10.1.2.4"}, False),
        (
            "DestinationIp|cidr:\n    - 10.0.0.0/8\n    - 192.168.0.0/16",
            {"DestinationIp": "192.168.9.9"},
            True,
        ),
        ("strings|contains: evil", {"strings": ["good", "EVIL service"]}, True),  # a list value
        ("strings|contains: evil", {"strings": ["good"]}, False),
        ("commandline|contains: evil", {"CommandLine": "evil"}, True),  # names in any case
        ("CommandLine|contains: evil", {"CommandLine": None}, False),
    ],
)
def test_other_values(
    write_rule: WriteRule, detection: str, data: dict[str, Any], expected: bool
) -> None:
    text = f"selection:\n  {detection}\ncondition: selection"
    assert fires(write_rule, text, win(data)) is expected


EVENT_FIELDS = [
    ("EventID: 4688", True),
    ("EventID: 4624", False),
    ("EventID:\n    - 4624\n    - 4688", True),
    ("Channel: security", True),
    ("Provider_Name: Microsoft-Windows-Security-Auditing", True),
    ("Computer: host1", True),
    ("Computer: host2", False),
    ("Level: 0", True),  # audit events log level 0
    ("Keywords: '0x8020000000000000'", True),  # audit success
    ("Keywords: '0x8010000000000000'", False),
    ("EventRecordID: 7", True),
]


@pytest.mark.parametrize(("detection", "expected"), EVENT_FIELDS)
def test_fields_of_the_event_itself(write_rule: WriteRule, detection: str, expected: bool) -> None:
    text = f"selection:\n  {detection}\ncondition: selection"
    assert fires(write_rule, text, win({})) is expected


def test_keywords_search_the_message_and_windows_data(write_rule: WriteRule) -> None:
    rule = "keywords:\n  - 'mimikatz'\n  - 'sekurlsa::*'\ncondition: keywords"
    assert fires(write_rule, rule, win({}, message="ran MimiKatz here"))
    assert fires(write_rule, rule, win({"Tool": "x sekurlsa::logonpasswords"}))
    assert fires(write_rule, rule, win({"Tools": ["a", "mimikatz"]}))
    assert not fires(write_rule, rule, win({"Tool": "katz"}, message="mimi"))


def test_keyword_wildcards_and_all(write_rule: WriteRule) -> None:
    rule = "keywords:\n  '|all':\n    - 'failed'\n    - 'root'\ncondition: keywords"
    assert fires(write_rule, rule, win({}, message="Failed password for root"))
    assert not fires(write_rule, rule, win({}, message="Failed password for bob"))
    pattern = "keywords:\n  - 'failed*for ?oot'\ncondition: keywords"
    assert fires(write_rule, pattern, win({}, message="x Failed password for root y"))
    assert not fires(write_rule, pattern, win({}, message="failed to boot"))


def test_journal_keywords_search_the_message_only(write_rule: WriteRule) -> None:
    linux = "product: linux\n  service: sshd"
    rule = "keywords:\n  - 'Failed password'\ncondition: keywords"
    assert fires(write_rule, rule, journal("Failed password for root"), logsource=linux)
    data = {"X": "Failed password"}
    assert not fires(write_rule, rule, journal("ok", data=data), logsource=linux)


SELECTIONS = """selection_a:
  CommandLine|contains: alpha
selection_b:
  CommandLine|contains: beta
filter:
  CommandLine|contains: gamma
"""
CONDITIONS = [
    ("selection_a and selection_b", {"alpha beta": True, "alpha": False}),
    ("selection_a or selection_b", {"beta": True, "delta": False}),
    ("selection_a and not filter", {"alpha": True, "alpha gamma": False}),
    ("not selection_a", {"beta": True, "alpha": False}),
    ("1 of selection_*", {"beta": True, "gamma": False}),
    ("any of selection_*", {"alpha": True, "gamma": False}),
    ("all of selection_*", {"alpha beta": True, "alpha gamma": False}),
    ("1 of them", {"gamma": True, "delta": False}),
    ("all of them", {"alpha beta gamma": True, "alpha beta": False}),
    ("1 of selection_* and not filter", {"beta": True, "beta gamma": False}),
    ("selection_a or selection_b and filter", {"alpha": True, "beta": False}),  # and first
    ("(selection_a or selection_b) and filter", {"alpha": False, "beta gamma": True}),
    ("not (selection_a or filter)", {"beta": True, "gamma": False}),
]


@pytest.mark.parametrize(("condition", "cases"), CONDITIONS)
def test_conditions(write_rule: WriteRule, condition: str, cases: dict[str, bool]) -> None:
    rules = load_rules([str(write_rule(f"{SELECTIONS}condition: {condition}"))])
    assert rules.problems == ()
    assert {text: bool(rules.match(cmd(text))) for text in cases} == cases


def test_a_selection_is_and_of_its_fields_a_list_of_maps_or(write_rule: WriteRule) -> None:
    rule = """selection:
  - Image|endswith: '\\a.exe'
    CommandLine|contains: x
  - Image|endswith: '\\b.exe'
condition: selection"""
    assert fires(write_rule, rule, cmd("x", Image="C:\\a.exe"))
    assert not fires(write_rule, rule, cmd("y", Image="C:\\a.exe"))
    assert fires(write_rule, rule, cmd("y", Image="C:\\b.exe"))


def test_several_conditions_are_or(write_rule: WriteRule) -> None:
    rule = "a:\n  CommandLine: one\nb:\n  CommandLine: two\ncondition:\n  - a\n  - b"
    assert fires(write_rule, rule, cmd("two"))
    assert not fires(write_rule, rule, cmd("three"))
