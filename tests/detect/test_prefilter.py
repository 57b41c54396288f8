"""The prefilter's anchors: what each kind of leaf gives, that every clause of an ``and`` must
hold, and that a regex's needles are in every text it matches (exactness on real events is
tests/detect/test_index.py's; every modifier case checks it too, see test_modifiers.fires)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from eventsweep.detect import prefilter
from eventsweep.detect.plan import Node
from eventsweep.detect.prefilter import Prefilter, regex_needles, worth
from eventsweep.detect.view import View
from tests.detect.events import win


@pytest.mark.parametrize(
    ("pattern", "flags", "needles"),
    [
        ("ipconfig\\s+/all", 0, ["ipconfig"]),
        ("(?i)ipconfig\\s+/all", 0, ["pconf"]),  # i and s end a run under IGNORECASE
        ("ipconfig", re.IGNORECASE, ["pconf"]),
        ("(?:net|netsh)\\s+interface", 0, ["interface"]),
        ("(?:abcd|efgh)x", 0, ["abcd", "efgh"]),  # one of an alternation's
        ("(?:powershell)+-e", 0, ["powershell"]),  # a repeat of at least one
        ("(?:powershell)?cmd", 0, None),  # an optional part holds nothing for sure
        ("[a-z]+\\.EXE", 0, [".exe"]),  # lower-cased, like the text it is looked for in
        ("(?i:abc)defg", 0, ["defg"]),
        ("(?-i:tristan)", re.IGNORECASE, ["tristan"]),  # case-sensitive again inside
        ("\\$PSHome\\[", 0, ["$pshome["]),
        ("caf\u00e9 au lait", 0, [" au lait"]),  # ASCII runs only
        ("ab|cdefg", 0, None),  # a branch without a needle
        ("bad(", 0, None),
    ],
)
def test_regex_needles(pattern: str, flags: int, needles: list[str] | None) -> None:
    assert regex_needles(pattern, flags) == needles


@pytest.mark.parametrize(
    ("pattern", "flags", "text"),
    [
        ("(?i)process", 0, "PROCE\u017f\u017f"),  # (?i)s matches the long s, whose lower is itself
        ("(?i)mimikatz", 0, "M\u0131M\u0131KATZ"),  # (?i)i matches the dotless i
        ("powershell.+-enc", 0, "x powershell -nop -enc AAAA"),
        ("(?:cmd|pwsh)\\.exe /c", 0, "C:\\pwsh.exe /c whoami"),
        ("(?i)invoke-(?:expression|webrequest)", 0, "INVOKE-WEBREQUEST http://x"),
    ],
)
def test_a_regex_match_holds_one_of_its_needles(pattern: str, flags: int, text: str) -> None:
    assert re.search(pattern, text, flags)
    needles = regex_needles(pattern, flags)
    assert needles is None or any(needle in text.lower() for needle in needles)


def test_what_needles_are_worth_anchoring_on() -> None:
    assert worth("abcd") and worth("~1\\") and worth("^^") and worth("\u00e9")
    assert not worth("abc") and not worth(".ex") and not worth("")


def leaf(kind: str, field: str, *arguments: Any) -> Node:
    return (kind, field, True, *arguments)


def chosen(plans: list[Node], data: dict[str, Any]) -> list[int]:
    return Prefilter(plans).select(View(win(data)))


def test_every_clause_of_an_and_must_hold() -> None:
    both = ("and", (leaf("suffix", "Image", ("\\evil.exe",), False),
                    leaf("contains", "CommandLine", ("--steal",), False)))  # fmt: skip
    other = leaf("contains", "CommandLine", ("mimikatz",), False)
    plans = [both, other]
    assert chosen(plans, {"Image": "C:\\EVIL.exe", "CommandLine": "evil --STEAL"}) == [0]
    assert chosen(plans, {"Image": "C:\\evil.exe", "CommandLine": "evil"}) == []
    assert chosen(plans, {"Image": "C:\\good.exe", "CommandLine": "x --steal mimikatz"}) == [1]


def test_whole_values_and_numbers_are_looked_up() -> None:
    rdp = ("and", (leaf("num", "LogonType", (10,)),
                   leaf("eq", "IpAddress", ("::1", "127.0.0.1"), False)))  # fmt: skip
    network = leaf("num", "LogonType", (3,))
    plans = [rdp, network]
    for logon_type in ("10", 10, "0xA", ["4", "10"]):
        assert chosen(plans, {"LogonType": logon_type, "IpAddress": "::1"}) == [0]
    assert chosen(plans, {"LogonType": "10", "IpAddress": "10.0.0.1"}) == []
    assert chosen(plans, {"LogonType": 3, "IpAddress": "::1"}) == [1]
    assert chosen(plans, {"IpAddress": "127.0.0.1"}) == []


@pytest.mark.parametrize("shaped", [0, 4])
def test_fields_are_found_whatever_the_shape_of_the_event(
    shaped: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which fields an event has is worked out once per shape (its data keys in any order)
    when a bucket indexes many fields; a key in another case is the same field, and a
    missing one holds nothing."""
    monkeypatch.setattr(prefilter, "SHAPED", shaped)
    plans = [
        leaf("contains", "CommandLine", ("mimikatz",), False),
        leaf("eq", "User", ("bob",), False),
    ]
    chooser = Prefilter(plans)
    assert chooser._shaped is (shaped == 0)
    events = [
        ({"CommandLine": "run mimikatz"}, [0]),
        ({"commandline": "RUN MIMIKATZ", "user": "BOB"}, [0, 1]),
        ({"Other": "mimikatz"}, []),
        ({"CommandLine": "calc", "User": "bob"}, [1]),
        ({"User": "bob", "CommandLine": "mimikatz"}, [0, 1]),  # the same keys, another order
        ({"commandline": "calc"}, []),
    ]
    for _ in range(2):  # the second time, from the shapes already seen
        assert [chooser.select(View(win(data))) for data, _ in events] == [
            expected for _, expected in events
        ]
    # the reordered keys: one shape (each order also kept, to be found quicker)
    assert len({id(reads) for reads in chooser._shapes.values()}) == (5 if shaped == 0 else 0)


def test_a_data_value_of_any_kind_is_read_as_the_rules_read_it() -> None:
    """The prefilter reads texts straight from the data key the shape resolves, and keeps
    them for the rules; other values (numbers, lists, None) go through the view."""
    plans = [
        leaf("contains", "CommandLine", ("mimikatz",), False),
        leaf("eq", "User", ("bob",), False),
        leaf("num", "LogonType", (10,)),
        leaf("prefix", "TargetUser", ("#-",), False),
        leaf("eq", "Ids", ("42",), False),
    ]
    chooser = Prefilter(plans)
    assert chooser._shaped
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"commandline": "RUN MIMIKATZ", "USER": "Bob"}, [0, 1]),
        ({"CommandLine": ["a", "x mimikatz"], "User": None, "LogonType": "10"}, [0, 2]),
        ({"LogonType": 10, "TargetUser": "#-1", "Ids": [7, 42]}, [2, 3, 4]),
        ({"CommandLine": 7, "User": ["alice", "BOB"], "Ids": 42}, [1, 4]),
    ]
    for data, expected in cases:
        view = View(win(data))
        assert chooser.select(view) == expected
        fresh = View(win(data))  # what it kept is what a view reads
        assert view.lows and view.lows == {name: fresh.low(name) for name in view.lows}
