"""A real OpenSSH sshd on loopback standing for a fleet of Linux hosts, for tests and benchmarks.

``/usr/sbin/sshd -D`` on a free port answers on several 127.x.y.z addresses, each a
``ListenAddress`` (an sshd takes at most 16: a big fleet runs one sshd per 16 addresses, which
also gives every address its own listen backlog, as real hosts have); every address is a
host. Keys are made per fleet with ``ssh-keygen -t ed25519 -N ''``: a host key, a
client key (the only entry of the fleet's ``AuthorizedKeysFile``), a known_hosts file naming
every ``[address]:port`` and an ssh_config with the client key (``IdentitiesOnly yes``).

journalctl on sshd's PATH is a wrapper that reads the server address from ``$SSH_CONNECTION``
(client ip, client port, server ip, server port) and runs ``/usr/bin/journalctl
--directory=JOURNALS/<server ip> "$@"``: each address has its own journal directory while the
client runs the unchanged production command; it appends the address and its arguments to
``JOURNALS/calls.log`` (what the server was asked to run). Under sudo (which drops
``$SSH_CONNECTION``) the directory is ``JOURNALS/local``. ``Match LocalAddress A`` +
``SetEnv PATH=/nonexistent`` makes a host without journalctl.

sshd runs in ``unshare -m`` with an empty file bound over the user's ``~/.bashrc`` (when there is
one), so that a heavy interactive setup (pyenv init: ~150 ms per session) doesn't run for every
SSH command; the fixture stops it (SIGTERM to the pid it started) and removes nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from eventsweep.sources import Settings
from eventsweep.sources.ssh import SshOptions
from tests.testbed.net import free_port

SSHD = "/usr/sbin/sshd"
PER_SSHD = 16  # ListenAddress lines one sshd accepts
WRAPPER = """#!/bin/sh
# test bed: one journal directory per server address ($SSH_CONNECTION field 3)
rest=${{SSH_CONNECTION#* }}
rest=${{rest#* }}
server=${{rest%% *}}
printf '%s\n' "${{server:-local}} $*" >>"{journals}/calls.log"
exec /usr/bin/journalctl --directory="{journals}/${{server:-local}}" "$@"
"""


@dataclass
class Fleet:
    """A running sshd and what a client needs to reach its hosts."""

    directory: Path
    port: int
    addresses: list[str]
    processes: list[subprocess.Popen[bytes]]
    client_key: Path = field(init=False)
    known_hosts: Path = field(init=False)
    ssh_config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.client_key = self.directory / "client_key"
        self.known_hosts = self.directory / "known_hosts"
        self.ssh_config = self.directory / "ssh_config"

    @property
    def journals(self) -> Path:
        return self.directory / "journals"

    @property
    def wrapper(self) -> Path:
        return self.directory / "bin" / "journalctl"

    def journal_dir(self, address: str) -> Path:
        return self.journals / address

    def target(self, address: str, options: str = "", user: str = "root") -> str:
        return f"ssh://{user}@{address}:{self.port}" + (f"?{options}" if options else "")

    def settings(self, **changes: object) -> Settings:
        base = SshOptions(
            connect_timeout=10.0,
            known_hosts=str(self.known_hosts),
            ssh_config=str(self.ssh_config),
        )
        return Settings.of(ssh=replace(base, **changes))  # type: ignore[arg-type]


def keygen(path: Path) -> str:
    """A new ed25519 key pair at ``path`` (+ .pub); returns the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "eventsweep-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def sshd_config(
    directory: Path,
    port: int,
    listen: Sequence[str],
    no_journalctl: Sequence[str],
    name: str,
    log_level: str = "ERROR",
) -> str:
    lines = [
        f"Port {port}",
        *(f"ListenAddress {address}" for address in listen),
        f"HostKey {directory}/host_key",
        f"PidFile {directory}/{name}.pid",
        f"AuthorizedKeysFile {directory}/authorized_keys",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "MaxStartups 1024:100:1024",
        "MaxSessions 64",
        f"LogLevel {log_level}",
        f"SetEnv PATH={directory}/bin:/usr/bin:/bin",
    ]
    for address in no_journalctl:
        lines += [f"Match LocalAddress {address}", "    SetEnv PATH=/nonexistent"]
    return "\n".join(lines) + "\n"


def prepare(directory: Path, addresses: Sequence[str], port: int) -> None:
    """Keys, known_hosts, ssh_config and the journalctl wrapper of a fleet."""
    (directory / "bin").mkdir(parents=True, exist_ok=True)
    (directory / "journals").mkdir(exist_ok=True)
    host_public = keygen(directory / "host_key")
    (directory / "authorized_keys").write_text(keygen(directory / "client_key") + "\n")
    names = ",".join(f"[{address}]:{port}" for address in addresses)
    (directory / "known_hosts").write_text(f"{names} {host_public}\n")
    (directory / "ssh_config").write_text(
        f"Host *\n    IdentityFile {directory}/client_key\n    IdentitiesOnly yes\n"
    )
    wrapper = directory / "bin" / "journalctl"
    wrapper.write_text(WRAPPER.format(journals=directory / "journals"))
    wrapper.chmod(0o755)


def launch(directory: Path, name: str) -> subprocess.Popen[bytes]:
    """sshd in the foreground, in its own mount namespace with an empty ~/.bashrc over the
    user's (when there is one and it can be bound)."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    empty = directory / "empty_bashrc"
    empty.write_text("")
    bashrc = Path.home() / ".bashrc"
    bind = f"mount --bind {empty} {bashrc} 2>/dev/null; " if bashrc.is_file() else ""
    script = f"{bind}exec {SSHD} -D -f {directory}/{name}.conf -E {directory}/{name}.log"
    return subprocess.Popen(["unshare", "-m", "--", "sh", "-c", script])


def wait_ready(address: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection((address, port), 1) as sock:
            if sock.recv(64).startswith(b"SSH-2.0"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not answer on {address}:{port}")


def start(
    directory: Path,
    addresses: Sequence[str],
    *,
    no_journalctl: Sequence[str] = (),
    port: int | None = None,
    log_level: str = "ERROR",
) -> Fleet:
    """Start the fleet: one sshd per 16 addresses, each listening on its addresses
    (``log_level`` INFO: each sshd's log names every connection it accepts)."""
    port = port or free_port(addresses[0])
    prepare(directory, addresses, port)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(0, len(addresses), PER_SSHD):
            group = addresses[index : index + PER_SSHD]
            name = f"sshd{index // PER_SSHD}"
            config = sshd_config(directory, port, group, no_journalctl, name, log_level)
            (directory / f"{name}.conf").write_text(config)
            processes.append(launch(directory, name))
            wait_ready(group[0], port, processes[-1], directory / f"{name}.log")
    except BaseException:
        stop(processes)
        raise
    return Fleet(directory, port, list(addresses), processes)


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each sshd this fleet started (its sessions end with their connections)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sessions(pid: int) -> list[int]:
    """The per-connection processes of the sshd ``pid`` (its children: one per connection)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def kill(fleet: Fleet) -> None:
    """The fleet's hosts gone at once: every sshd and its connections killed (SIGKILL)."""
    for process in fleet.processes:
        children = sessions(process.pid)
        process.kill()
        process.wait()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def restart(fleet: Fleet) -> None:
    """The fleet's sshds started again, as they were (same keys, port and logs)."""
    started = []
    for index in range(len(fleet.processes)):
        name = f"sshd{index}"
        started.append(launch(fleet.directory, name))
        address = fleet.addresses[index * PER_SSHD]
        wait_ready(address, fleet.port, started[-1], fleet.directory / f"{name}.log")
    fleet.processes[:] = started


def accepted(fleet: Fleet) -> int:
    """Connections the fleet's sshds accepted (authenticated), from their logs (LogLevel INFO)."""
    logs = sorted(fleet.directory.glob("sshd*.log"))
    return sum(log.read_text(errors="replace").count("Accepted publickey") for log in logs)


@contextlib.contextmanager
def running(
    directory: Path,
    addresses: Sequence[str],
    *,
    no_journalctl: Sequence[str] = (),
    port: int | None = None,
    log_level: str = "ERROR",
) -> Iterator[Fleet]:
    """:func:`start`, then :func:`stop` when the block ends."""
    fleet = start(directory, addresses, no_journalctl=no_journalctl, port=port, log_level=log_level)
    try:
        yield fleet
    finally:
        stop(fleet.processes)
