"""The README as a test: every command in its code blocks is run here, or named as run by an
existing test, or marked as not runnable (and then listed in the README's "Commands not run by
the tests").

A command is a line of a fenced or indented code block that starts with ``eventsweep ``,
``python3 `` or ``bash ``; an ``export`` line before it in the same block sets its environment.
:data:`COMMANDS` maps each command, by its exact text, to how the suite covers it. A command
run here runs as a user would type it (a shell's words, ``&&``, ``>``), in a process of its
own, in a fresh directory, against the data and servers this suite starts: demo data
(``eventsweep.demo.generate``), journal files (systemd-journal-remote), an OpenSSH sshd and a
Samba server on loopback. The README's placeholders (``dc01``, ``web01``, ``targets.txt``…)
are replaced by those, and its documented output is checked: the format, the exit status,
the outcome lines' shape (as the README's own examples show it).

The test fails when the README gains a command that no entry covers, when an entry names a
command the README no longer has, and when an entry names a test that doesn't exist.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventsweep.demo import generate
from eventsweep.model import FIELDS, iso
from tests.testbed import sshd
from tests.testbed.corpus import SMALL
from tests.testbed.journals import Entry, make_journal
from tests.testbed.net import free_port
from tests.testbed.samba import LogRecord, Samba, instance_root

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PREFIXES = ("eventsweep ", "python3 ", "bash ")
NOT_RUN_HEADING = "## Commands not run by the tests"

# ---- the README's commands ---------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A command line of a code block, with the ``export`` lines before it in that block."""

    text: str
    exports: tuple[str, ...] = ()


def code_blocks(markdown: str) -> list[list[str]]:
    """The lines of every fenced (```) block, and of every indented one (lines indented by 4
    spaces, the first after a blank line, up to the next line that is not indented)."""
    blocks: list[list[str]] = []
    fenced: list[str] | None = None
    indented: list[str] | None = None
    blank = True
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            indented = None
            if fenced is None:
                fenced = []
            else:
                blocks.append(fenced)
                fenced = None
        elif fenced is not None:
            fenced.append(line)
        elif line.startswith("    ") and (indented is not None or blank):
            if indented is None:
                indented = []
                blocks.append(indented)
            indented.append(line)
        elif line.strip():
            indented = None
        blank = not line.strip()
    return blocks


def readme_commands(markdown: str) -> list[Command]:
    commands: list[Command] = []
    for block in code_blocks(markdown):
        exports: list[str] = []
        for line in (line.strip() for line in block):
            if line.startswith("export "):
                exports.append(line)
            elif line.startswith(PREFIXES):
                commands.append(Command(line, tuple(exports)))
    return commands


def outcome_examples(markdown: str) -> list[str]:
    """The example outcome lines of the README's "Outcomes and exit status" section."""
    section = markdown.split("## Outcomes and exit status", 1)[1]
    return [line for line in section.split("```")[1].splitlines() if line.strip()]


# the outcome line's shape: status, target, events=N, seconds, [warnings=N], [error or note]
OUTCOME = re.compile(
    r"^(?P<status>ok|partial|error|timeout|interrupted) +(?P<target>\S.*?)  "
    r"events=(?P<events>\d+) \d+\.\d\ds(?: warnings=\d+)?(?:  (?P<text>\S.*))?$"
)

# ---- running a command as a shell would ------------------------------------------------------


@dataclass
class Result:
    argv: list[str]
    code: int
    out: str
    err: str


@dataclass
class Bed:
    """A fresh directory to run README commands in, and the suite's servers, started on first
    use."""

    cwd: Path
    request: pytest.FixtureRequest
    env: dict[str, str] = field(default_factory=dict)

    def fixture(self, name: str) -> object:
        return self.request.getfixturevalue(name)

    @property
    def fleet(self) -> sshd.Fleet:
        fleet = self.fixture("readme_fleet")
        assert isinstance(fleet, sshd.Fleet)
        return fleet

    @property
    def samba(self) -> Samba:
        samba = self.fixture("readme_samba")
        assert isinstance(samba, Samba)
        return samba

    @property
    def journal(self) -> Path:
        path = self.fixture("readme_journal")
        assert isinstance(path, Path)
        return path

    def ssh_flags(self) -> list[str]:
        fleet = self.fleet
        return ["--known-hosts", str(fleet.known_hosts), "--ssh-config", str(fleet.ssh_config)]

    def demo(self, name: str = "demo", end: str | None = None) -> Path:
        """A day of demo data at ``cwd/name`` ending at ``end`` (default now)."""
        directory = self.cwd / name
        generate(directory, hosts=4, days=1, end=end)
        return directory

    def run(
        self,
        command: Command,
        replace: Mapping[str, str] | None = None,
        extra: Sequence[str] = (),
    ) -> list[Result]:
        """Run the command's exports and words (``&&`` and ``>`` as a shell does), each
        placeholder of ``replace`` replaced first; ``extra`` goes after eventsweep's own
        arguments. The results of the commands run (a chain stops at a failure)."""
        lines = [*command.exports, command.text]
        for old, new in (replace or {}).items():
            assert any(old in line for line in lines), f"{old!r} not in {command.text!r}"
            lines = [line.replace(old, new) for line in lines]
        results: list[Result] = []
        for line in lines:
            for words in _chain(shlex.split(line, comments=True)):
                result = self._run_words(words, extra)
                if result is None:
                    continue
                results.append(result)
                if result.code != 0:
                    return results
        return results

    def _run_words(self, words: list[str], extra: Sequence[str]) -> Result | None:
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return None
        target = None
        if ">" in words:
            at = words.index(">")
            words, target = words[:at], self.cwd / words[at + 1]
        program = {"eventsweep": [sys.executable, "-m", "eventsweep.cli"], "python3": [
            sys.executable]}[words[0]]  # fmt: skip
        argv = [*program, *words[1:], *(extra if words[0] == "eventsweep" else ())]
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        with contextlib.ExitStack() as stack:
            stdout = stack.enter_context(open(target, "w")) if target else subprocess.PIPE
            done = subprocess.run(
                argv,
                cwd=self.cwd,
                env=env,
                stdout=stdout,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=180,
                check=False,
            )
        return Result(argv, done.returncode, done.stdout or "", done.stderr)


def _chain(words: list[str]) -> Iterator[list[str]]:
    part: list[str] = []
    for word in words:
        if word == "&&":
            yield part
            part = []
        else:
            part.append(word)
    if part:
        yield part


def events_of(text: str) -> list[dict[str, object]]:
    events = [json.loads(line) for line in text.splitlines()]
    assert all(tuple(event) == FIELDS for event in events)
    return events


def outcomes_of(err: str) -> list[re.Match[str]]:
    """stderr's lines, each one outcome line of the documented shape."""
    matches = [OUTCOME.match(line) for line in err.splitlines()]
    assert matches and all(matches), err
    return [match for match in matches if match is not None]


def all_ok(result: Result, count: int) -> list[re.Match[str]]:
    assert result.code == 0, result.err
    found = outcomes_of(result.err)
    assert [m["status"] for m in found] == ["ok"] * count, result.err
    return found


def hours_ago(hours: float) -> str:
    return iso(datetime.now(UTC) - timedelta(hours=hours))


# ---- the servers and data the commands run against --------------------------------------------

WEB, DB = "127.0.0.21", "127.0.0.22"  # ssh://admin@web01, ssh://web02:2222
PASSWORD = "Readme-pw-1"
HOUR_US = 3_600_000_000


def host_entries(host: str) -> list[Entry]:
    """Per host: two failed logins (sshd), a login, an error, and an error from yesterday."""
    now = int(time.time() * 1_000_000)
    return [
        Entry(now - 2 * HOUR_US, "Failed password for root from 10.0.0.1", 5, "sshd", host),
        Entry(now - 3 * HOUR_US // 2, "Failed password for bob from 10.0.0.2", 5, "sshd", host),
        Entry(now - HOUR_US, "Accepted publickey for admin", 6, "sshd", host),
        Entry(now - HOUR_US // 2, "I/O error on /dev/sda", 3, "kernel", host),
        Entry(now - 30 * HOUR_US, "an error of yesterday", 3, "app", host),
    ]


@pytest.fixture(scope="module")
def readme_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.Fleet]:
    with sshd.running(tmp_path_factory.mktemp("readme-fleet"), [WEB, DB]) as fleet:
        make_journal(fleet.journal_dir(WEB), host_entries("web01"))
        make_journal(fleet.journal_dir(DB), host_entries("web02"))
        yield fleet


@pytest.fixture(scope="module")
def readme_sigma_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sigma-cache")


@pytest.fixture(scope="module")
def readme_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_journal(tmp_path_factory.mktemp("readme-journal"), host_entries("local"))


@pytest.fixture(scope="module")
def readme_samba() -> Iterator[Samba]:
    """One Samba server standing for dc01 and 10.0.0.7: System with errors, warnings and
    information over the last 7 hours; Application with 10 records in the last half hour."""
    samba = Samba(instance_root(), logs=("System", "Application"), users={"root": PASSWORD})
    now = int(time.time())
    try:
        samba.start()
        samba.write("System", [
            LogRecord(now - 25200 + 600 * n, event_type=(1, 2, 4)[n % 3], computer="DC01",
                      source="Service Control Manager", strings=(f"service {n}",))
            for n in range(40)
        ])  # fmt: skip
        samba.write("Application", [LogRecord(now - 1800 + 60 * n) for n in range(10)])
        yield samba
    finally:
        samba.stop()
        shutil.rmtree(samba.root, ignore_errors=True)


@pytest.fixture
def bed(tmp_path: Path, request: pytest.FixtureRequest) -> Bed:
    return Bed(tmp_path, request)


# ---- the commands run here: one function each -------------------------------------------------


def intro_files_and_a_glob(bed: Bed, command: Command) -> None:
    demo = bed.demo()
    shutil.copy(demo / "DC01/Security.evtx", bed.cwd / "Security.evtx")
    for host in ("FS01", "SQL01"):  # nested: '**' must reach them
        shutil.copytree(demo / host, bed.cwd / "cases" / host.lower() / "2024-01")
    (result,) = bed.run(command)
    found = all_ok(result, 7)
    assert {m["target"] for m in found} == {"Security.evtx"} | {
        f"cases/{host}/2024-01/{log}.evtx"
        for host in ("fs01", "sql01")
        for log in ("Security", "System", "Application")
    }
    events = events_of(result.out)
    assert {event["level"] for event in events} <= {"error", "warning"}
    assert all(str(event["time"]) >= hours_ago(8.01) for event in events)


def intro_inventory_window_to_a_file(bed: Bed, command: Command) -> None:
    demo = bed.demo("january", end="2024-01-19T12:00:00Z")
    files = sorted(demo.rglob("*.evtx"))
    (bed.cwd / "targets.txt").write_text("# the servers\n\n" + "\n".join(map(str, files)) + "\n")
    (result,) = bed.run(command)
    all_ok(result, 12)
    assert result.out == ""  # the events went to events.jsonl
    events = events_of((bed.cwd / "events.jsonl").read_text())
    assert len(events) > 100
    assert all("2024-01-19T00:00" <= str(e["time"]) <= "2024-01-19T06:00" for e in events)


def intro_mixed_targets_in_one_timeline(bed: Bed, command: Command) -> None:
    shutil.copytree(bed.demo() / "DC01", bed.cwd / "evidence")
    replace = {
        "'win://CORP\\admin@dc01/System'": bed.samba.url("System"),
        "ssh://admin@web01": bed.fleet.target(WEB),
        "journal: ./evidence": f"journal:{bed.journal} ./evidence",
    }
    bed.env["EVENTSWEEP_PASSWORD"] = PASSWORD
    (result,) = bed.run(command, replace, bed.ssh_flags())
    found = all_ok(result, 6)
    events = events_of(result.out)
    times = [str(event["time"]) for event in events]
    assert times == sorted(times, reverse=True)  # one timeline, newest first
    kinds = {str(event["target"]).split(":")[0] for event in events}
    assert {"win", "ssh", "journal"} < kinds and len(found) == 6


def quick_start(bed: Bed, command: Command) -> None:
    # the suite runs from the source tree: the install itself is not run (see the README note);
    # serve runs until stopped: it is started in the background, with a "browser" that notes
    # the page it is asked to open, and that page is read
    serve = " && eventsweep serve --open"
    assert command.text.endswith(serve)
    first = Command(command.text[: -len(serve)], command.exports)
    written, swept = bed.run(first, {"python3 -m pip install . && ": ""})
    assert written.code == 0 and len(written.out.splitlines()) == 12
    assert all((bed.cwd / line).is_file() for line in written.out.splitlines())
    all_ok(swept, 12)
    assert len(events_of(swept.out)) > 50
    opened = bed.cwd / "opened.txt"
    browser = bed.cwd / "browser.py"
    browser.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **bed.env, "EVENTSWEEP_PORT": str(port),
           "BROWSER": f"{sys.executable} {browser} %s"}  # fmt: skip
    argv = [sys.executable, "-m", "eventsweep.cli", "serve", "--open"]
    server = subprocess.Popen(argv, cwd=bed.cwd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not opened.exists() or not opened.read_text():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        url = opened.read_text()
        assert url.startswith(f"http://127.0.0.1:{port}/")
        import httpx

        page = httpx.get(url, timeout=30)
        assert page.status_code == 200
        assert "DC01.corp.example.com" in page.text and "Security" in page.text
    finally:
        server.terminate()
        server.communicate(timeout=30)


def windows_two_logs(bed: Bed, command: Command) -> None:
    replace = {
        "'win://CORP\\admin@dc01/System'": bed.samba.url("System"),
        "win://admin@10.0.0.7:445/Application": bed.samba.url("Application"),
        "'…'": PASSWORD,
    }
    (result,) = bed.run(command, replace)
    all_ok(result, 2)
    events = events_of(result.out)
    assert [event["log"] for event in events].count("Application") == 10
    assert {event["log"] for event in events} == {"System", "Application"}


def windows_inventory_log_and_levels(bed: Bed, command: Command) -> None:
    (bed.cwd / "windows-servers.txt").write_text(bed.samba.url("Application") + "\n")
    (result,) = bed.run(command, {"'…'": PASSWORD})  # the block's export
    all_ok(result, 1)
    events = events_of(result.out)
    assert len(events) == 27  # 40 records, 13 of them information
    assert {(e["log"], e["level"]) for e in events} == {("System", "error"), ("System", "warning")}


def linux_two_hosts_errors(bed: Bed, command: Command) -> None:
    replace = {"ssh://admin@web01": bed.fleet.target(WEB), "ssh://web02:2222": bed.fleet.target(DB)}
    (result,) = bed.run(command, replace, bed.ssh_flags())
    all_ok(result, 2)
    events = events_of(result.out)
    assert [(e["computer"], e["level"], e["message"]) for e in events] == [
        ("web01", "error", "I/O error on /dev/sda"),
        ("web02", "error", "I/O error on /dev/sda"),
    ]


def linux_inventory_source_grep(bed: Bed, command: Command) -> None:
    fleet = bed.fleet
    (bed.cwd / "linux-hosts.txt").write_text(f"{fleet.target(WEB)}\n{fleet.target(DB)}\n")
    (result,) = bed.run(command, extra=bed.ssh_flags())
    all_ok(result, 2)
    events = events_of(result.out)
    assert len(events) == 4 and {e["source"] for e in events} == {"sshd"}
    assert all("Failed password" in str(e["message"]) for e in events)
    times = [str(e["time"]) for e in events]
    assert times == sorted(times, reverse=True)


def this_machines_journal(bed: Bed, command: Command) -> None:
    (result,) = bed.run(command)
    (found,) = outcomes_of(result.err)
    assert found["target"] == "journal:" and result.code in (0, 1)
    # a container may have no journal, a machine without systemd no journalctl: then that is
    # the one clear line
    assert found["status"] in ("ok", "partial") or str(found["text"]).startswith(
        ("open: no journal", "open: journalctl not found")
    )
    assert all(event["log"] == "journal" for event in events_of(result.out))


def a_journal_directory(bed: Bed, command: Command) -> None:
    (result,) = bed.run(command, {"/var/log/journal/remote": str(bed.journal)})
    all_ok(result, 1)
    events = events_of(result.out)
    assert len(events) == 4 and {e["computer"] for e in events} == {"local"}


def fleet_to_evtx(bed: Bed, command: Command) -> None:
    fleet = bed.fleet
    demo = bed.demo()
    targets = [fleet.target(WEB), fleet.target(DB), str(demo / "WEB01/System.evtx")]
    (bed.cwd / "fleet.txt").write_text("\n".join(targets) + "\n")
    (result,) = bed.run(command, extra=bed.ssh_flags())
    all_ok(result, 3)
    as_jsonl = Command("eventsweep sweep -i fleet.txt --since 24h --format jsonl")
    (expected,) = bed.run(as_jsonl, extra=bed.ssh_flags())
    (back,) = bed.run(Command("eventsweep sweep fleet.evtx --all --format jsonl"))
    all_ok(back, 1)
    assert len(events_of(back.out)) == len(events_of(expected.out)) > 8


def demo_data(bed: Bed, command: Command) -> None:
    (result,) = bed.run(command)
    assert result.code == 0 and result.err == ""
    written = [Path(line) for line in result.out.splitlines()]
    assert sorted(path.relative_to("demo").as_posix() for path in written) == sorted(
        f"{host}/{log}.evtx"
        for host in ("DC01", "FS01", "SQL01", "WEB01")
        for log in ("Security", "System", "Application")
    )
    assert all((bed.cwd / path).stat().st_size > 4096 for path in written)


def demo_sweep(bed: Bed, command: Command) -> None:
    bed.demo()  # what the line before it in the README writes
    (result,) = bed.run(command)
    all_ok(result, 12)
    events = events_of(result.out)
    assert len(events) > 50 and all(str(e["time"]) >= hours_ago(8.01) for e in events)


def demo_size(bed: Bed, command: Command) -> None:
    # 1G takes a minute and a gigabyte: the same flag with 48M (past the default largest file)
    (result,) = bed.run(command, {"--size 1G": "--size 48M"})
    assert result.code == 0
    sizes = {path: path.stat().st_size for path in (bed.cwd / "big").rglob("*.evtx")}
    largest = max(sizes, key=sizes.__getitem__)
    assert largest == bed.cwd / "big/DC01/Security.evtx"
    assert 0.8 * (48 << 20) < sizes[largest] < 1.25 * (48 << 20)


# ---- hunting ---------------------------------------------------------------------------------

SCM_RULE = """\
title: Service Control Manager errors
id: 0b0e1f6a-8d0c-4a53-9a7a-7e3f2c9d0001
status: test
level: high
logsource: {product: windows, service: system}
detection:
  selection: {Provider_Name: Service Control Manager, EventID: 1000}
  filter: {Level: 4}
  condition: selection and not filter
"""
SSHD_RULE = """\
title: sshd failed password
id: 0b0e1f6a-8d0c-4a53-9a7a-7e3f2c9d0002
status: test
level: medium
logsource: {product: linux, service: sshd}
detection:
  keywords: ['Failed password']
  condition: keywords
"""
LOCKOUT_RULE = """\
title: Account locked out (my rule)
id: 0b0e1f6a-8d0c-4a53-9a7a-7e3f2c9d0003
status: stable
level: critical
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4740}
  condition: selection
"""


def _sigma() -> Path:
    from tests.testbed.sigma import SIGMA

    return SIGMA


def _hunt_bed(bed: Bed) -> None:
    """Compiled rules cached once for the whole module (the first load compiles them all)."""
    cache = bed.fixture("readme_sigma_cache")
    assert isinstance(cache, Path)
    bed.env["EVENTSWEEP_CACHE"] = str(cache)


def _rules_dir(bed: Bed, name: str, **texts: str) -> Path:
    folder = bed.cwd / name
    folder.mkdir()
    for file, text in texts.items():
        (folder / f"{file}.yml").write_text(text)
    return folder


def hunted(result: Result, count: int) -> None:
    """all_ok, past the lines about rules that did not load."""
    err = "".join(
        f"{line}\n" for line in result.err.splitlines() if not line.startswith("eventsweep: ")
    )
    all_ok(Result(result.argv, result.code, result.out, err), count)


def detections_of(text: str) -> list[dict[str, object]]:
    found = [json.loads(line) for line in text.splitlines()]
    assert all(tuple(record) == (*FIELDS, "rule") for record in found)
    return found


def hunt_fleet_sigmahq(bed: Bed, command: Command) -> None:
    _hunt_bed(bed)
    demo = bed.demo()
    fleet = bed.fleet
    files = sorted(map(str, demo.rglob("*.evtx")))
    (bed.cwd / "fleet.txt").write_text("\n".join([fleet.target(WEB), *files]) + "\n")
    (result,) = bed.run(command, {"~/sigma/rules": str(_sigma() / "rules")}, bed.ssh_flags())
    hunted(result, 13)
    found = detections_of(result.out)
    assert len(found) > 10 and all(str(r["time"]) >= hours_ago(24.01) for r in found)
    assert {"User Logoff Event"} <= {r["rule"]["title"] for r in found}  # type: ignore[index]


def hunt_case_two_rule_sets(bed: Bed, command: Command) -> None:
    _hunt_bed(bed)
    shutil.copytree(bed.demo("week-demo", end="2024-01-20T00:00:00Z"), bed.cwd / "case")
    _rules_dir(bed, "my-rules", lockout=LOCKOUT_RULE)
    window = ["--since", "2024-01-13T00:00:00Z", "--until", "2024-01-20T00:00:00Z"]
    replace = {"~/sigma/rules": str(_sigma() / "rules")}
    (result,) = bed.run(command, replace, [*window, "--format", "jsonl"])
    hunted(result, 12)
    found = detections_of(result.out)
    levels = {r["rule"]["level"] for r in found}  # type: ignore[index]
    assert levels <= {"high", "critical"} and "critical" in levels
    assert "Account locked out (my rule)" in {r["rule"]["title"] for r in found}  # type: ignore[index]
    times = [str(r["time"]) for r in found]
    assert times == sorted(times, reverse=True)


def hunt_windows_and_linux_to_jsonl(bed: Bed, command: Command) -> None:
    _hunt_bed(bed)
    _rules_dir(bed, "rules", scm=SCM_RULE, sshd=SSHD_RULE)
    bed.env["EVENTSWEEP_PASSWORD"] = PASSWORD
    replace = {
        "'win://CORP\\admin@dc01/Security'": bed.samba.url("System"),
        "ssh://web01": bed.fleet.target(WEB),
    }
    (result,) = bed.run(command, replace, bed.ssh_flags())
    hunted(result, 2)
    found = detections_of((bed.cwd / "detections.jsonl").read_text())
    titles = [r["rule"]["title"] for r in found]  # type: ignore[index]
    # System: 40 records, a third of each type; the rule wants the non-information ones
    assert titles.count("Service Control Manager errors") == 27
    assert titles.count("sshd failed password") == 2


def hunt_summary(bed: Bed, command: Command) -> None:
    _hunt_bed(bed)
    _rules_dir(bed, "rules", sshd=SSHD_RULE, lockout=LOCKOUT_RULE)
    demo = bed.demo("week-demo", end="2024-01-20T00:00:00Z")
    fleet = bed.fleet
    targets = [fleet.target(WEB), fleet.target(DB), str(demo / "DC01/Security.evtx")]
    (bed.cwd / "fleet.txt").write_text("\n".join(targets) + "\n")
    window = ["--since", "2024-01-13T00:00:00Z"]
    (result,) = bed.run(command, extra=[*window, *bed.ssh_flags()])
    hunted(result, 3)
    header, *rows = result.out.splitlines()
    assert header.split() == ["count", "level", "rule", "target"]
    counted = {(row.split()[-1], row.split()[0]) for row in rows}
    assert (fleet.target(WEB), "2") in counted and (fleet.target(DB), "2") in counted
    assert any(target.endswith("DC01/Security.evtx") for target, _ in counted)


def hunt_stored_sigmahq(bed: Bed, command: Command) -> None:
    _hunt_bed(bed)
    demo = bed.demo()
    sweep = Command(f"eventsweep sweep {demo} --since 7d --format jsonl", ())
    (swept,) = bed.run(sweep)
    assert swept.code == 0, swept.err
    replace = {"~/sigma/rules": str(_sigma() / "rules"), "'ssh://web*'": "'*/WEB01/*'"}
    (result,) = bed.run(command, replace, ["--format", "jsonl"])
    assert result.code == 0, result.err
    found = detections_of(result.out)
    assert found and {str(r["target"]).split("/")[-2] for r in found} == {"WEB01"}
    assert "User Logoff Event" in {r["rule"]["title"] for r in found}  # type: ignore[index]


def rules_check_sigmahq(bed: Bed, command: Command) -> None:
    _hunt_bed(bed)
    (result,) = bed.run(command, {"~/sigma/rules": str(_sigma() / "rules")})
    assert result.code == 1  # SigmaHQ has rules for products eventsweep doesn't read
    lines = result.out.splitlines()
    assert re.fullmatch(r"\d+ rules loaded \(\d+ Windows, \d+ Linux\), \d+ not loaded", lines[-1])
    assert int(lines[-1].split()[0]) > 2000
    assert all(line.startswith("not loaded  ") for line in lines[:-1])


# ---- how each README command is covered --------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Run here by ``check`` (``servers``: it needs sshd, Samba or journal files)."""

    check: Callable[[Bed, Command], None]
    servers: bool = False
    xfail: str | None = None  # a known failure outside this module's reach (strict)


@dataclass(frozen=True)
class Covered:
    """Run by an existing test, ``tests/x/test_y.py::test_name``."""

    test: str


@dataclass(frozen=True)
class NotRunnable:
    """Not run by any test, for ``reason`` (listed in the README too)."""

    reason: str


COMMANDS: dict[str, Run | Covered | NotRunnable] = {
    "eventsweep sweep Security.evtx 'cases/**/*.evtx' --since 8h --level error,warning": Run(
        intro_files_and_a_glob
    ),
    "eventsweep sweep -i targets.txt --since 2024-01-19T00:00Z --until 2024-01-19T06:00Z "
    "--format jsonl > events.jsonl": Run(intro_inventory_window_to_a_file),
    "eventsweep sweep 'win://CORP\\admin@dc01/System' ssh://admin@web01 journal: ./evidence "
    "--group time": Run(intro_mixed_targets_in_one_timeline, servers=True),
    "python3 -m pip install . && eventsweep demo-data demo && eventsweep sweep demo --since 7d "
    "&& eventsweep serve --open": Run(quick_start, servers=True),
    "bash scripts/test": NotRunnable(
        "it is the whole suite (CI runs it: .ci/run, checked by "
        "tests/cli/test_cli.py::test_ci_runs_the_readme_test_command)"
    ),
    "eventsweep sweep 'win://CORP\\admin@dc01/System' win://admin@10.0.0.7:445/Application "
    "--since 8h": Run(windows_two_logs, servers=True),
    "eventsweep sweep -i windows-servers.txt --log System --since 8h --level error,warning": Run(
        windows_inventory_log_and_levels, servers=True
    ),
    "eventsweep sweep ssh://admin@web01 ssh://web02:2222 --since 8h --level error": Run(
        linux_two_hosts_errors, servers=True
    ),
    "eventsweep sweep -i linux-hosts.txt --source sshd --grep 'Failed password' --group time": (
        Run(linux_inventory_source_grep, servers=True)
    ),
    "eventsweep sweep journal:                           # this machine's journal": Run(
        this_machines_journal
    ),
    "eventsweep sweep journal:/var/log/journal/remote    # a journal directory or one journal "
    "file": Run(a_journal_directory, servers=True),
    "eventsweep sweep -i fleet.txt --since 24h --format evtx -o fleet.evtx": Run(
        fleet_to_evtx, servers=True
    ),
    "eventsweep demo-data ./demo              # 4 servers × Security, System, Application": Run(
        demo_data
    ),
    "eventsweep sweep ./demo --since 8h": Run(demo_sweep),
    # the Store section: run as written against demo files and a journal by tests/store/
    "eventsweep sweep -i fleet.txt --since 24h            # printed as today, and kept in the "
    "store": Covered(
        "tests/store/test_cli_store.py::test_sweep_keeps_and_new_reads_only_what_arrived"
    ),
    "eventsweep sweep -i fleet.txt --new                  # only what arrived since the last "
    "sweep of each target": Covered(
        "tests/store/test_cli_store.py::test_sweep_keeps_and_new_reads_only_what_arrived"
    ),
    "eventsweep follow -i fleet.txt                       # like tail -f across a fleet; Ctrl-C "
    "ends cleanly": Covered(
        "tests/store/test_cli_store.py::"
        "test_follow_prints_new_events_newest_last_and_ends_with_the_outcomes"
    ),
    "eventsweep query --since 7d --level error --grep 'disk' --format jsonl": Covered(
        "tests/store/test_cli_store.py::test_query_by_level_and_text"
    ),
    "eventsweep query --target 'ssh://web*' --event-id 4625 --group time": Covered(
        "tests/store/test_cli_store.py::test_query_by_target_pattern_and_event_id"
    ),
    "eventsweep sweeps                                    # past sweeps: when, query, "
    "targets ok/failed, events": Covered(
        "tests/store/test_cli_store.py::test_sweeps_lists_what_was_kept"
    ),
    "eventsweep prune --before 90d                        # retention": Covered(
        "tests/store/test_cli_store.py::test_prune_keeps_the_last_90_days"
    ),
    "eventsweep demo-data ./big --size 1G     # grow the largest file to about 1 GB "
    "(benchmarks)": Run(demo_size),
    "eventsweep hunt -i fleet.txt --rules ~/sigma/rules --since 24h                  # every "
    "detection, newest first": Run(hunt_fleet_sigmahq, servers=True),
    "eventsweep hunt ./case/ --rules ~/sigma/rules/windows --rules my-rules/ --rule-level "
    "high,critical --group time": Run(hunt_case_two_rule_sets),
    "eventsweep hunt 'win://CORP\\admin@dc01/Security' ssh://web01 --rules rules/ --format jsonl "
    "> detections.jsonl": Run(hunt_windows_and_linux_to_jsonl, servers=True),
    "eventsweep hunt -i fleet.txt --rules rules/ --summary                           # counts per "
    "rule and host, no events": Run(hunt_summary, servers=True),
    "eventsweep rules check ~/sigma/rules                                            # which "
    "rules load, which don't, and why": Run(rules_check_sigmahq),
    "eventsweep hunt --stored --rules ~/sigma/rules --since 7d --target 'ssh://web*'  # the "
    "store's events, no host contacted": Run(hunt_stored_sigmahq),
    # the Web application section: serve runs until stopped, so tests/web/ runs these
    "eventsweep demo-data demo && eventsweep sweep demo --since 7d && eventsweep serve": Covered(
        "tests/web/test_readme_web.py::test_quick_start_serves_the_demo"
    ),
    "eventsweep serve --store cases/acme.db --port 8443 --token-file token --inventory-dir "
    "inventories": Covered(
        "tests/web/test_readme_web.py::test_a_case_store_with_a_token_and_inventories"
    ),
}


def _params() -> list[object]:
    params: list[object] = []
    for text, entry in COMMANDS.items():
        if not isinstance(entry, Run):
            continue
        marks = [pytest.mark.servers] if entry.servers else []
        if entry.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=entry.xfail))
        params.append(pytest.param(text, marks=marks, id=entry.check.__name__))
    return params


@pytest.fixture(scope="module")
def commands() -> dict[str, Command]:
    return {command.text: command for command in readme_commands(README.read_text())}


@pytest.mark.parametrize("text", _params())
def test_readme_command(text: str, commands: dict[str, Command], bed: Bed) -> None:
    entry = COMMANDS[text]
    assert isinstance(entry, Run)
    entry.check(bed, commands[text])


def test_every_readme_command_has_an_entry_and_every_entry_a_command(
    commands: dict[str, Command],
) -> None:
    assert len(commands) >= 15
    missing = [text for text in commands if text not in COMMANDS]
    assert not missing, f"README commands no test covers (add them to COMMANDS): {missing}"
    stale = [text for text in COMMANDS if text not in commands]
    assert not stale, f"COMMANDS entries for commands the README no longer has: {stale}"


def test_entries_name_tests_that_exist() -> None:
    for entry in COMMANDS.values():
        if isinstance(entry, Covered):
            assert names_a_test(entry.test), entry.test
    for reason in (e.reason for e in COMMANDS.values() if isinstance(e, NotRunnable)):
        for named in re.findall(r"tests/\S+\.py::\w+", reason):
            assert names_a_test(named), named


def names_a_test(nodeid: str) -> bool:
    path, _, name = nodeid.partition("::")
    file = ROOT / path
    if not file.is_file():
        return False
    tree = ast.parse(file.read_text())
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in tree.body
    )


def test_commands_not_run_are_listed_in_the_readme() -> None:
    readme = README.read_text()
    assert NOT_RUN_HEADING in readme
    note = readme.split(NOT_RUN_HEADING, 1)[1].split("\n## ", 1)[0]
    for text, entry in COMMANDS.items():
        if isinstance(entry, NotRunnable):
            assert f"`{text}`" in note, text
    assert "`python3 -m pip install .`" in note  # the part of the quick start not run


def test_the_outcome_examples_have_the_checked_shape() -> None:
    examples = outcome_examples(README.read_text())
    assert len(examples) == 4 and all(OUTCOME.match(line) for line in examples)


def test_the_extractor_reads_fenced_and_indented_blocks() -> None:
    markdown = (
        "text\n\n```\neventsweep a\n# not a command\n```\n\n    export X='1'\n"
        "    eventsweep b  # comment\n\n    [ini]\n  eventsweep list-item\n"
    )
    assert readme_commands(markdown) == [
        Command("eventsweep a"),
        Command("eventsweep b  # comment", ("export X='1'",)),
    ]


# ---- every format, to stdout and to a file (the Output table) ---------------------------------


def check_format(name: str, text: str, events: int) -> None:
    if name == "jsonl":
        assert len(events_of(text)) == events
    elif name == "csv":
        header, *rows = list(csv.reader(io.StringIO(text, newline="")))
        assert tuple(header) == FIELDS and len(rows) == events
        assert text.startswith('"time","target",')
    else:  # table: a header, the target, one line per event
        lines = text.splitlines()
        assert lines[0].split()[:2] == ["time", "computer"] and lines[0].split()[-1] == "message"
        assert lines[1].startswith("== ") and len(lines) == 2 + events


@pytest.mark.parametrize("name", ["table", "jsonl", "csv"])
@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "file"])
def test_every_text_format(bed: Bed, corpus: Path, name: str, to_file: bool) -> None:
    output = ["-o", "out"] if to_file else []
    line = f"eventsweep sweep {corpus / SMALL} --all --format {name} {' '.join(output)}"
    (result,) = bed.run(Command(line))
    all_ok(result, 1)
    check_format(name, (bed.cwd / "out").read_text() if to_file else result.out, 4)
    assert result.out == "" or not to_file


def test_evtx_to_a_file(bed: Bed, corpus: Path) -> None:
    (result,) = bed.run(Command(f"eventsweep sweep {corpus / SMALL} --all --format evtx -o o.evtx"))
    all_ok(result, 1)
    (back,) = bed.run(Command("eventsweep sweep o.evtx --all --format jsonl"))
    all_ok(back, 1)
    assert len(events_of(back.out)) == 4


def test_evtx_needs_a_file(bed: Bed, corpus: Path) -> None:
    (result,) = bed.run(Command(f"eventsweep sweep {corpus / SMALL} --all --format evtx"))
    assert result.code == 2 and result.out == ""
    assert result.err == "eventsweep: --format evtx: give a file with -o FILE\n"
