"""Bad values are one clear line naming the flag (or the target), exit status 2, no traceback:
times out of range, empty values, catastrophic regular expressions, seconds, counts and sizes
that are not finite or positive, malformed hosts, passwords in targets (never echoed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventsweep.cli import main
from eventsweep.errors import UsageError
from eventsweep.model import iso
from eventsweep.query import (
    build_query,
    parse_count,
    parse_grep,
    parse_seconds,
    parse_size,
    parse_time,
)
from eventsweep.sources import Settings, plan, redacted
from eventsweep.sources.ssh import parse_target as ssh_target
from eventsweep.sources.winrpc.target import parse_target as win_target
from tests.testbed.corpus import SMALL

NOW = datetime(2024, 1, 19, 12, 0, 0, tzinfo=UTC)


def usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str
) -> tuple[str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("eventsweep: ") and "Traceback" not in err
    assert all(needle in err for needle in needles), err
    return out, err


# ---- times -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["99999999d", "9999999999999w", "9" * 400 + "s", "9999-12-31T23:00-05:00",
     "0001-01-01T00:00+01:00", "", "   "],
)  # fmt: skip
def test_times_out_of_range_or_empty(text: str) -> None:
    for flag in ("--since", "--until"):
        with pytest.raises(UsageError, match=flag):
            parse_time(flag, text, NOW)


def test_early_years_keep_the_fixed_width_text() -> None:
    assert parse_time("--since", "0999-01-01T00:30+01:00", NOW) == "0998-12-31T23:30:00.000000Z"
    assert iso(datetime(5, 1, 1)) == "0005-01-01T00:00:00.000000Z"


def test_empty_values_are_errors_not_no_filter() -> None:
    for flags in ({"since": ""}, {"until": ""}, {"grep": ""}, {"sources": [""]},
                  {"levels": [","]}, {"event_ids": [" "]}, {"logs": [""]}):  # fmt: skip
        with pytest.raises(UsageError, match="empty"):
            build_query(**flags)
    assert build_query(since=None, until=None).since is None  # None is "no window"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--since", "99999999d"], "--since"),
        (["--since", "9999-12-31T23:00-05:00"], "--since"),
        (["--until", "0001-01-01T00:00+01:00"], "--until"),
        (["--since", ""], "--since"),
        (["--until", ""], "--until"),
        (["--grep", ""], "--grep"),
        (["--grep", "a{99999999999}"], "--grep"),
        (["--grep", "(" * 5000 + ")" * 5000], "--grep"),
        (["--source", ""], "--source"),
        (["--level", ""], "--level"),
    ],
)
def test_bad_query_values_through_the_cli(
    capsys: pytest.CaptureFixture[str], corpus: Path, argv: list[str], flag: str
) -> None:
    usage_error(capsys, ["sweep", str(corpus / SMALL), *argv], flag)


def test_a_huge_limit_is_fine(capsys: pytest.CaptureFixture[str], corpus: Path) -> None:
    code = main(["sweep", str(corpus / SMALL), "--all", "--limit", "9" * 30, "--format", "jsonl"])
    out, _ = capsys.readouterr()
    assert code == 0 and len(out.splitlines()) == 4


# ---- regular expressions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a{99999999999}", "repetition count"),
        ("a{2,5000}", "repetition count"),
        ("(a{1001})", "repetition count"),
        ("(" * 33 + ")" * 33, "nested 33 deep"),
        ("(" * 100000 + ")" * 100000, "longer than"),
        ("(", "not a valid regular expression"),
    ],
)
def test_catastrophic_patterns_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_grep(pattern)


@pytest.mark.parametrize(
    "pattern", [r"Failed password", r"a{2,1000}", r"\{99999}", r"[(]{3}", "[](]+" + "(x)" * 40]
)
def test_ordinary_patterns_pass(pattern: str) -> None:
    assert parse_grep(pattern) is not None


# ---- seconds, counts, sizes ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1", "0", "", "x", "1e300", "NaN"])
def test_bad_seconds(text: str) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        parse_seconds("--timeout", text)


def test_good_seconds_and_counts() -> None:
    assert parse_seconds("--connect-timeout", "2.5") == 2.5 and parse_count("--c", " 64 ") == 64


@pytest.mark.parametrize("text", ["0", "-3", "1.5", "", "nan", "inf"])
def test_bad_counts(text: str) -> None:
    with pytest.raises(UsageError, match="--concurrency"):
        parse_count("--concurrency", text)


@pytest.mark.parametrize("text", ["0", "-1G", "inf", "nan", "", "G", "2000T", "1e400", "x"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(UsageError, match="--size"):
        parse_size("--size", text)


def test_good_sizes() -> None:
    assert [parse_size("--size", t) for t in ("200M", "1g", "1.5K", "4096", None)] == [
        200 << 20,
        1 << 30,
        1536,
        4096,
        None,
    ]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["demo-data", ""], "directory name is empty"),
        (["demo-data", "DIR", "--size", "-1"], "--size"),
        (["demo-data", "DIR", "--size", "0"], "--size"),
    ],
)
def test_bad_demo_values_through_the_cli(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    flag: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    usage_error(capsys, argv, flag)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even in the current directory


@pytest.mark.parametrize(
    "argv",
    [
        ["--timeout", "nan"],
        ["--timeout", "inf"],
        ["--connect-timeout", "nan"],
        ["--connect-timeout", "1e300"],
    ],
)
def test_bad_seconds_through_the_cli(
    capsys: pytest.CaptureFixture[str], corpus: Path, argv: list[str]
) -> None:
    usage_error(capsys, ["sweep", str(corpus / SMALL), "--all", *argv], argv[0])


def test_infinite_demo_size_through_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    usage_error(capsys, ["demo-data", str(tmp_path / "d"), "--size", "inf"], "--size")


# ---- hosts and passwords ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ssh://[::1", "without its ']'"),
        ("ssh://admin@[::1", "without its ']'"),
        ("ssh://[zz]:22", "not an IPv6 address"),
        ("ssh://[::1]x", "after the address"),
        ("ssh://[::1]:0", "port '0'"),
        ("ssh://h:65536", "port '65536'"),
        ("ssh://h:", "port ''"),
        ("ssh://h:²", "port '²'"),
        ("ssh://@", "no host name"),
        ("ssh://a b", "not a host name"),
        ("ssh://[fe80::1%]", "zone"),
    ],
)
def test_malformed_ssh_hosts(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ssh_target(text)


@pytest.mark.parametrize(
    "text",
    ["win://u@[::1", "win://u@[::1]:445x", "win://[zz]", "win://u@[::1]:99999/System",
     "win://u@h:0", "win://u@", "win://u@:445", "win://u@a[b]"],
)  # fmt: skip
def test_malformed_win_hosts(text: str) -> None:
    with pytest.raises(UsageError):
        win_target(text)


def test_bracketed_hosts_still_parse() -> None:
    assert ssh_target("ssh://[fe80::1%eth0]:2200")[0].host == "fe80::1%eth0"
    assert win_target("win://admin@[2001:db8::7]:4450/System").address == "[2001:db8::7]:4450"


SECRET = "hunter2"
WITH_SECRETS = [
    f"ssh://root:{SECRET}@host",
    f"ssh://root:{SECRET}@host:2222?sudo=1",
    f"SSH://root:{SECRET}@[::1]:22",
    f"ssh://root:x{SECRET}/y@host",  # a secret with a slash
    f"ssh://root:{SECRET}?@host",  # with a question mark
    f"ssh://root:{SECRET}@x@host",  # with an @
    f"win://CORP\\admin:{SECRET}@dc01/System",
    f"win://admin:{SECRET}@[fe80::1]",
    f"journal://u:{SECRET}@x",
    f"nosuch://u:{SECRET}@x",
]


@pytest.mark.parametrize("text", WITH_SECRETS)
def test_a_password_in_any_target_is_refused_unechoed(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        plan([text], Settings())
    assert SECRET not in str(caught.value) and "password" in str(caught.value)
    assert SECRET not in redacted(text)


@pytest.mark.parametrize("text", WITH_SECRETS[:3])
def test_the_ssh_parser_refuses_a_password_itself(text: str) -> None:
    with pytest.raises(UsageError, match="password") as caught:
        ssh_target(text)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("where", ["argument", "inventory"])
def test_no_password_in_any_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path, where: str
) -> None:
    outcomes = tmp_path / "outcomes.jsonl"
    inventory = tmp_path / "targets.txt"
    inventory.write_text("\n".join(WITH_SECRETS) + "\n")
    targets = WITH_SECRETS[:1] if where == "argument" else ["-i", str(inventory)]
    argv = ["sweep", str(corpus / SMALL), *targets, "--outcomes", str(outcomes)]
    _, err = usage_error(capsys, argv, "password")
    assert SECRET not in err and not outcomes.exists()


def test_targets_without_a_password_are_kept() -> None:
    for text in ("ssh://admin@[::1]:22", "ssh://h?args=--grep+a:b@c", "win://CORP\\a@dc01"):
        assert redacted(text) == text
        assert plan([text], Settings())[0].target == text
