"""win:// records' insertion strings named by their templates: the table itself, and SigmaHQ's
own rules hunting a real Samba server's Security log through the command line."""

from __future__ import annotations

import importlib.util
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsweep import cli
from eventsweep.sources.winrpc.templates import DOCUMENTED, names_of, templates
from tests.testbed.corpus import CORPUS
from tests.testbed.samba import LogRecord, Samba, samba_with
from tests.testbed.sigma import rule_sets

PASSWORD = "Root-pw-1"
NOW = int(time.time()) // 60 * 60
SECURITY = "Microsoft-Windows-Security-Auditing"
ROOT = Path(__file__).resolve().parents[2]


def test_every_template_names_each_string_once() -> None:
    found = templates()
    assert len(found) > 150
    for (provider, _, count), names in found.items():
        assert provider and len(names) == count == len(set(names))
        assert all(name.isidentifier() for name in names)
    assert names_of(SECURITY, 4625, 21)[5:7] == ("TargetUserName", "TargetDomainName")  # type: ignore[index]
    assert names_of(SECURITY, 4625, 3) is None  # another count: not guessed
    assert names_of(SECURITY, 4624, 0) is None
    assert names_of("Service Control Manager", 7036, 2) == ("param1", "param2")  # Binary apart


def test_the_documented_templates_agree_with_the_corpus_where_both_know_an_event() -> None:
    """4624 version 2 is version 1 (in the corpus) with six names more at the end."""
    version_1 = names_of(SECURITY, 4624, 21)
    assert version_1 is not None
    assert DOCUMENTED[(SECURITY, 4624, 27)][:21] == version_1


@pytest.mark.servers
def test_the_table_is_what_the_script_makes_of_the_corpus() -> None:
    spec = importlib.util.spec_from_file_location("script", ROOT / "scripts/winrpc_templates.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the corpus's damaged files
        made = script.render(script.shapes(CORPUS))
    assert made == (ROOT / "eventsweep/sources/winrpc/templates.tsv").read_text()


def logon(logon_type: str, address: str) -> tuple[str, ...]:
    """The 27 strings of a 4624 (version 2)."""
    subject = ("S-1-5-18", "DC01$", "CORP", "0x3e7")
    target = ("S-1-5-21-1-2-3-1104", "alice", "CORP", "0x8d2f1", logon_type)
    middle = ("User32", "Negotiate", "WKS-0101", "{00000000-0000-0000-0000-000000000000}", "-")
    tail = ("-", "0", "0x1f4", "C:\\Windows\\System32\\svchost.exe", address, "3389")
    return (*subject, *target, *middle, *tail, "%%1833", "-", "-", "-", "%%1843", "0x0", "%%1842")


def failed(address: str) -> tuple[str, ...]:
    """The 21 strings of a 4625."""
    subject = ("S-1-0-0", "-", "-", "0x0", "S-1-0-0", "administrator", "CORP")
    status = ("0xc000006d", "%%2313", "0xc000006a", "3", "NtLmSsp ", "NTLM", "KALI")
    return (*subject, *status, "-", "-", "0", "0x0", "-", address, "0")


@pytest.fixture(scope="module")
def samba() -> Iterator[Samba]:
    records = [
        LogRecord(NOW - 400, event_id=4625, event_type=16, source=SECURITY,
                  computer="DC01", strings=failed("203.0.113.7")),
        LogRecord(NOW - 300, event_id=4625, event_type=16, source=SECURITY,
                  computer="DC01", strings=failed("10.1.2.3")),
        LogRecord(NOW - 200, event_id=4624, event_type=8, source=SECURITY,
                  computer="DC01", strings=logon("10", "198.51.100.20")),
        LogRecord(NOW - 100, event_id=4624, event_type=8, source=SECURITY,
                  computer="DC01", strings=logon("10", "192.168.1.9")),
    ]  # fmt: skip
    with samba_with({"Security": records}, PASSWORD) as server:
        yield server


@pytest.mark.servers
def test_sigmahq_rules_on_named_fields_hunt_a_samba_security_log(
    samba: Samba,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTSWEEP_PASSWORD", PASSWORD)
    monkeypatch.setenv("EVENTSWEEP_CACHE", str(tmp_path / "cache"))
    folder = Path(rule_sets()[0]) / "windows/builtin/security/account_management"
    rules = [
        folder / "win_security_susp_failed_logon_source.yml",
        folder / "win_security_successful_external_remote_rdp_login.yml",
    ]
    argv = ["hunt", samba.url("Security"), "--since", "1h", "--format", "jsonl", "--no-store"]
    code = cli.main([*argv, *(item for rule in rules for item in ("--rules", str(rule)))])
    out, err = capsys.readouterr()
    assert code == 0, err
    found = [json.loads(line) for line in out.splitlines()]
    assert sorted((d["event_id"], d["data"]["IpAddress"], d["rule"]["title"]) for d in found) == [
        (4624, "198.51.100.20", "External Remote RDP Logon from Public IP"),
        (4625, "203.0.113.7", "Failed Logon From Public IP"),
    ]  # the private addresses' events are left out by the rules' own filters
    rdp = next(d for d in found if d["event_id"] == 4624)
    assert rdp["data"]["TargetUserName"] == "alice" and rdp["data"]["ElevatedToken"] == "%%1842"
    assert rdp["data"]["strings"][5] == "alice"  # the list stays
    assert set(rdp["rule"]["fields"]) >= {"event_id", "LogonType"}
