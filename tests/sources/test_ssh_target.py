"""ssh:// target text → where to connect and how to run journalctl; whether the ssh config
routes a host; asyncssh's lean import (no network)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eventsweep.errors import UsageError
from eventsweep.sources import Settings, plan
from eventsweep.sources.journald import Journalctl
from eventsweep.sources.ssh import Remote, SshOptions, SshSource, parse_target, routed_by_config


@pytest.mark.parametrize(
    ("text", "remote"),
    [
        ("ssh://web01", Remote("web01")),
        ("ssh://admin@web01", Remote("web01", user="admin")),
        ("ssh://web02:2222", Remote("web02", port=2222)),
        ("ssh://a%40b@Web03:22/", Remote("Web03", port=22, user="a@b")),
        ("ssh://[::1]:2200", Remote("::1", port=2200)),
        ("SSH://[fe80::1]", Remote("fe80::1")),
    ],
)
def test_host_user_and_port(text: str, remote: Remote) -> None:
    assert parse_target(text) == (remote, Journalctl())


def test_options() -> None:
    text = "ssh://h?sudo=1&journalctl=/usr/bin/journalctl&args=--unit+nginx.service+-k"
    _, journalctl = parse_target(text)
    assert journalctl == Journalctl(
        program="/usr/bin/journalctl", sudo=True, extra=("--unit", "nginx.service", "-k")
    )
    assert parse_target("ssh://h?sudo=no")[1].sudo is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ssh://", "expected ssh://"),
        ("ssh://@:22", "no host name"),
        ("ssh://h:0", "port '0'"),
        ("ssh://h:http", "port 'http'"),
        ("ssh://h/var/log", "no path"),
        ("ssh://h?sudo=maybe", "sudo='maybe'"),
        ("ssh://h?user=x", "unknown option 'user'"),
        ("ssh://h?args=%22unclosed", "No closing quotation"),
    ],
)
def test_bad_targets_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_target(text)


def test_plan_keeps_the_text_and_checks_files(tmp_path: object) -> None:
    (source,) = plan(["ssh://root@web01:2222?sudo=1"], Settings())
    assert isinstance(source, SshSource) and source.target == "ssh://root@web01:2222?sudo=1"
    with pytest.raises(UsageError, match="--known-hosts"):
        plan(["ssh://h"], Settings.of(ssh=SshOptions(known_hosts=f"{tmp_path}/absent")))
    with pytest.raises(UsageError, match="--ssh-config"):
        plan(["ssh://h"], Settings.of(ssh=SshOptions(ssh_config=f"{tmp_path}/absent")))


ROUTED = [  # (config, host, whether asyncssh must connect itself)
    ("Host *\n  IdentityFile ~/.ssh/k\n  User admin\n", "web01", False),
    ("Host web01\n  HostName 10.0.0.5\n", "web01", True),
    ("Host web01\n  HostName 10.0.0.5\n", "web02", False),
    ("Host WEB*\n  hostname=10.0.0.5\n", "web07", True),  # keywords and hosts in any case
    ("Port 2222\nHost web02\n  User x\n", "web01", True),  # before any Host: every host
    ("Host * !bastion\n  ProxyJump bastion\n", "web01", True),
    ("Host * !bastion\n  ProxyJump bastion\n", "bastion", False),
    ("Host db? web0?\n  ProxyCommand nc %h %p\n", "db1", True),
    ("Host db? web0?\n  ProxyCommand nc %h %p\n", "db10", False),
    ("Host 10.1.*\n  BindAddress 10.1.0.9\n", "10.1.2.3", True),
    ('Host "a.example" # comment\n  Port 2200\n', "a.example", True),
    ("Host other\n  Port 2200\n# Port 1\n", "web01", False),  # a comment is no keyword
    ("Match host web01\n  User x\n", "db1", True),  # can't be judged here
    ("Include ~/.ssh/more\n", "db1", True),
]


@pytest.mark.parametrize(("config", "host", "routed"), ROUTED)
def test_whether_the_ssh_config_routes_a_host(
    tmp_path: Path, config: str, host: str, routed: bool
) -> None:
    path = tmp_path / "ssh_config"
    path.write_text(config)
    assert routed_by_config(host, SshOptions(ssh_config=str(path))) is routed


def test_without_an_ssh_config_every_host_is_direct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert routed_by_config("web01", SshOptions()) is False
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host web01\n  HostName 10.0.0.5\n")
    assert routed_by_config("web01", SshOptions()) is True  # ~/.ssh/config, as asyncssh reads


LEAN = """
import ctypes.util, sys
compiled = []
ctypes.util._findLib_gcc = lambda name: compiled.append(name)
from eventsweep.sources.ssh import lean_import
original = ctypes.util.find_library
with lean_import():
    import asyncssh
import asyncssh.public_key
print(compiled, ctypes.util.find_library is original, "asyncssh.crypto.x509" in sys.modules,
      asyncssh.public_key._x509_available, asyncssh.crypto.ed25519_available)
"""


def test_asyncssh_is_imported_without_compiling_or_x509() -> None:
    """In a fresh interpreter: liboqs is never looked up with gcc, find_library is restored,
    asyncssh loads without X.509 and with everything OpenSSH has."""
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", LEAN], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.split() == ["[]", "True", "False", "False", "True"]


IMPORTS = """
import sys
import eventsweep.sources.ssh
import eventsweep.sources.journald.command, eventsweep.sources.journald.mapping
print("asyncssh" in sys.modules, "eventsweep.sources.ssh_session" in sys.modules)
"""


def test_the_ssh_source_loads_without_asyncssh_and_without_a_cycle() -> None:
    """ssh.py (the path before the TCP connect) and the pure journal modules load no asyncssh;
    ssh_session shares ssh_remote with ssh.py and imports nothing from it."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]
    session = Path(__file__).resolve().parents[2] / "eventsweep/sources/ssh_session.py"
    assert "eventsweep.sources.ssh import" not in session.read_text()
