"""ssh:// target text → where to connect and how to run journalctl (no network)."""

from __future__ import annotations

import pytest

from eventsweep.errors import UsageError
from eventsweep.sources import Settings, plan
from eventsweep.sources.journald import Journalctl
from eventsweep.sources.ssh import Remote, SshSource, parse_target


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
        plan(["ssh://h"], Settings(known_hosts=f"{tmp_path}/absent"))
    with pytest.raises(UsageError, match="--ssh-config"):
        plan(["ssh://h"], Settings(ssh_config=f"{tmp_path}/absent"))
