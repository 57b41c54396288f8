"""Benchmark of the ssh:// source against its peers on one loopback fleet (issue 4). Manual.

    sudo python bench/bench_ssh.py [--sizes 50 200] [--delays 0 50] [--rounds 2]

Needs root (network namespaces, TUN), the Debian packages openssh-server, openssh-client,
systemd-journal-remote, pssh, and pip's paramiko, ansible-core, psutil.

The bed: two network namespaces of our own. In ``srv``, sshd (one per 16 addresses, so every
host has its own listen backlog) answers on 10.200.0.0/16 (an AnyIP ``local`` route on lo);
each address is a host whose journalctl wrapper reads that address's journal (333 entries of
the last 7 hours, made by systemd-journal-remote). Without delay the clients run in ``srv``
too and reach the hosts over lo. With delay they run in ``cli``, joined to ``srv`` by two TUN
devices and bench/tun_relay.py, which holds every packet D ms per direction (real kernel TCP
on both ends: the faithful method of the test-bed notes, not a TCP proxy).

Every tool runs the same journalctl command (eventsweep's own, from its command builder) on
every host and verifies host keys against the same known_hosts:

- eventsweep: the CLI, ``--format jsonl`` to a file (parsing, mapping and writing included);
- paramiko: a thread per host, each JSON line parsed (bench/peer_paramiko.py);
- pssh: ``parallel-ssh -p 50`` writing each host's output to a file;
- ansible: ``ansible all -m command -f 50`` (pipelining, no ControlPersist, no compression);
- sequential: a shell loop of OpenSSH ``ssh`` commands.

The client runs on core 0 (``taskset``), the fleet (every sshd and its sessions) and the relay
on core 1: as with real hosts, the servers' work doesn't take the client's CPU (on a shared
core a one-thread client is starved by hundreds of server processes, a test-bed artefact).
The relay runs at nice -10 there, so that the fleet's load doesn't delay the network.

The tools run interleaved (order rotated every round). Wall time; client CPU (user + system of
the tool's whole process tree, from wait4); peak memory (RSS of the tree summed, sampled every
20 ms); every run checks it received every entry of every host.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._measure import PeakRss  # noqa: E402
from eventsweep.model import Query, iso  # noqa: E402
from eventsweep.sources.journald import Journalctl, build_argv, command_line  # noqa: E402
from tests.testbed import sshd  # noqa: E402
from tests.testbed.journals import Entry, make_journal  # noqa: E402

PORT = 2222
TOOLS = ("eventsweep", "paramiko", "pssh", "ansible", "sequential")
SMALL, BIG = "10.200.0", "10.200.1"  # 333-entry hosts, 3330-entry hosts (memory check)
SRV_TUN, CLI_TUN = "10.199.0.2", "10.201.0.1"
CLIENT_CPU, FLEET_CPU = "0", "1"  # the client machine's core; the fleet's and the network's
Measured = tuple[tuple[float, float, float, float, int], int]
# ((wall, client cpu, fleet cpu, peak MB, status), entries)


@dataclass
class Bed:
    directory: Path
    srv: str
    cli: str
    since: str
    command: str
    fleet: sshd.Fleet
    concurrency: int | None = None  # eventsweep's --concurrency (None: its default)


@dataclass
class Result:
    tool: str
    hosts: int
    delay_ms: int
    entries: int
    wall: float
    cpu: float
    fleet_cpu: float
    peak_mb: float
    received: int
    expected: int
    round: int


# ---- the bed -------------------------------------------------------------------------------


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True)


def entries(count: int, now_us: int, host: str) -> list[Entry]:
    span = 7 * 3600 * 1_000_000
    return [
        Entry(
            now_us - span + index * (span // count),
            f"pam_unix(sshd:session): session opened for user app{index} by (uid=0) seq={index}",
            priority=(3, 4, 5, 6, 6, 6, 7)[index % 7],
            identifier=("sshd", "CRON", "systemd", "kernel")[index % 4],
            host=host,
            unit="ssh.service",
            comm="sshd",
            extra={
                "_PID": str(1000 + index),
                "_UID": "0",
                "_GID": "0",
                "_EXE": "/usr/sbin/sshd",
                "_CMDLINE": "sshd: app [priv]",
                "_TRANSPORT": "syslog",
                "_MACHINE_ID": "5f1c0a8e9d2b4c7e8a6f3b2d1c0e9f8a",
                "SYSLOG_FACILITY": "10",
                "_SOURCE_REALTIME_TIMESTAMP": str(now_us),
            },
        )
        for index in range(count)
    ]


def make_journals(bed_dir: Path, fleet: sshd.Fleet, hosts: int, big: int) -> None:
    now_us = time.time_ns() // 1000
    small_dir = make_journal(bed_dir / "small", entries(333, now_us, "benchhost"))
    big_dir = make_journal(bed_dir / "big", entries(3330, now_us, "bighost"))
    for index in range(1, hosts + 1):
        fleet.journal_dir(f"{SMALL}.{index}").symlink_to(small_dir)
    for index in range(1, big + 1):
        fleet.journal_dir(f"{BIG}.{index}").symlink_to(big_dir)


def link_namespaces(srv: str, cli: str, delay_ms: float) -> subprocess.Popen[bytes]:
    """The relay process, its TUN devices moved and configured; AnyIP route in ``srv``."""
    relay = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench/tun_relay.py"),
            "--delay-ms",
            str(delay_ms),
            "--names",
            "tun-c",
            "tun-s",
        ],
        stdout=subprocess.PIPE,
    )
    assert relay.stdout is not None and relay.stdout.readline().strip() == b"ready"
    # The relay is the network, not a host: it runs before the fleet on their shared core, so
    # a saturated fleet doesn't stretch the link's delay (at equal priority, 200 busy sshd
    # sessions held packets for hundreds of ms: spurious TCP timeouts and multi-second
    # stragglers that came and went from run to run).
    os.setpriority(os.PRIO_PROCESS, relay.pid, -10)
    sh("ip", "link", "set", "tun-c", "netns", cli)
    sh("ip", "link", "set", "tun-s", "netns", srv)
    for ns, dev, address, peer in (
        (cli, "tun-c", CLI_TUN, "10.200.0.0/16"),
        (srv, "tun-s", SRV_TUN, "10.201.0.0/16"),
    ):
        sh("ip", "-n", ns, "addr", "add", f"{address}/32", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "mtu", "65000", "up")
        sh("ip", "-n", ns, "route", "add", peer, "dev", dev)
    return relay


# ---- running one tool ----------------------------------------------------------------------


def measure(
    argv: list[str],
    netns: str | None,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
) -> tuple[float, float, float, float, int]:
    """(wall s, CPU s of the process tree, CPU s of the fleet's core, peak tree RSS MB, exit
    status). The fleet's core is busy with the fleet (and the relay) only, so its busy time
    during the run is what the tool cost the servers (plus the relay's share with delay)."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    prefix += ["taskset", "-c", CLIENT_CPU]
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    fleet_before = core_busy(FLEET_CPU)
    started = time.perf_counter()
    process = subprocess.Popen(
        [*prefix, *argv], stdout=out, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}
    )
    with PeakRss(process.pid) as rss:
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        time.sleep(0.2)  # sessions still closing on the fleet side
        fleet = core_busy(FLEET_CPU) - fleet_before
    process.returncode = os.waitstatus_to_exitcode(status)
    if stdout:
        out.close()  # type: ignore[union-attr]
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, fleet, rss.peak / 2**20, process.returncode


def core_busy(core: str) -> float:
    """Seconds one core has spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as stream:
        for line in stream:
            if line.startswith(f"cpu{core} "):
                ticks = [int(value) for value in line.split()[1:]]
                return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    raise RuntimeError(f"no cpu{core} in /proc/stat")


def addresses(prefix: str, hosts: int) -> list[str]:
    return [f"{prefix}.{index}" for index in range(1, hosts + 1)]


def openssh_options(bed: Bed) -> list[str]:
    fleet = bed.fleet
    return [
        "-o",
        f"UserKnownHostsFile={fleet.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(fleet.client_key),
    ]


def run_eventsweep(bed: Bed, hosts: list[str], netns: str | None, work: Path) -> Measured:
    targets = work / "targets.txt"
    targets.write_text("".join(f"ssh://root@{host}:{PORT}\n" for host in hosts))
    out = work / "out.jsonl"
    argv = [
        sys.executable,
        "-m",
        "eventsweep.cli",
        "sweep",
        "-i",
        str(targets),
        "--since",
        bed.since,
        "--format",
        "jsonl",
        "-o",
        str(out),
        "--no-progress",
        "--known-hosts",
        str(bed.fleet.known_hosts),
        "--ssh-config",
        str(bed.fleet.ssh_config),
        *(["--concurrency", str(bed.concurrency)] if bed.concurrency else []),
    ]
    result = measure(argv, netns)
    return result, count_lines(out)


def run_paramiko(bed: Bed, hosts: list[str], netns: str | None, work: Path) -> Measured:
    listing = work / "hosts.txt"
    listing.write_text("\n".join(hosts) + "\n")
    out = work / "paramiko.txt"
    argv = [
        sys.executable,
        str(ROOT / "bench/peer_paramiko.py"),
        str(listing),
        str(PORT),
        str(bed.fleet.client_key),
        str(bed.fleet.known_hosts),
        bed.command,
    ]
    result = measure(argv, netns, stdout=out)
    received, failed = map(int, out.read_text().split())
    return result, received if not failed else -failed


def run_pssh(bed: Bed, hosts: list[str], netns: str | None, work: Path) -> Measured:
    listing = work / "pssh-hosts.txt"
    listing.write_text("".join(f"root@{host}:{PORT}\n" for host in hosts))
    out, err = work / "pssh-out", work / "pssh-err"
    argv = [
        "parallel-ssh",
        "-h",
        str(listing),
        "-p",
        "50",
        "-o",
        str(out),
        "-e",
        str(err),
        "-t",
        "300",
        "-x",
        " ".join(openssh_options(bed)),
        bed.command,
    ]
    result = measure(argv, netns)
    return result, sum(count_lines(path) for path in out.iterdir())


def run_ansible(bed: Bed, hosts: list[str], netns: str | None, work: Path) -> Measured:
    fleet = bed.fleet
    inventory = work / "inventory.ini"
    inventory.write_text(
        "[all]\n"
        + "".join(
            f"{host} ansible_port={PORT} ansible_user=root ansible_ssh_private_key_file="
            f"{fleet.client_key} ansible_python_interpreter=/usr/bin/python3\n"
            for host in hosts
        )
    )
    config = work / "ansible.cfg"
    config.write_text(
        f"[defaults]\nhost_key_checking = True\ngathering = explicit\nforks = 50\n"
        f"local_tmp = {work}/ansible-local\nremote_tmp = /tmp/eventsweep-bench-ansible\n"
        f"[ssh_connection]\npipelining = True\ncontrol_path_dir = {work}/cp\n"
        f"ssh_args = -o ControlMaster=no -o UserKnownHostsFile={fleet.known_hosts} "
        f"-o IdentitiesOnly=yes\n"
    )
    out = work / "ansible.txt"
    argv = ["ansible", "all", "-i", str(inventory), "-m", "command", "-a", bed.command, "-f", "50"]
    result = measure(argv, netns, env={"ANSIBLE_CONFIG": str(config)}, stdout=out)
    with open(out, "rb") as stream:
        return result, sum(1 for line in stream if line.startswith(b'{"'))


def run_sequential(bed: Bed, hosts: list[str], netns: str | None, work: Path) -> Measured:
    listing = work / "seq-hosts.txt"
    listing.write_text("\n".join(hosts) + "\n")
    options = " ".join(shlex.quote(option) for option in openssh_options(bed))
    script = (
        f"while read -r h; do ssh -n -p {PORT} {options} root@$h "
        f"{shlex.quote(bed.command)}; done < {listing}"
    )
    out = work / "seq.txt"
    result = measure(["bash", "-c", script], netns, stdout=out)
    return result, count_lines(out)


RUNNERS: dict[str, Callable[..., Measured]] = {
    "eventsweep": run_eventsweep,
    "paramiko": run_paramiko,
    "pssh": run_pssh,
    "ansible": run_ansible,
    "sequential": run_sequential,
}


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))


# ---- the matrix ----------------------------------------------------------------------------


def one(bed: Bed, tool: str, hosts: int, delay: int, per_host: int, round_: int) -> Result:
    prefix = SMALL if per_host == 333 else BIG
    netns = bed.cli if delay else None  # no delay: the orchestrator already runs in srv
    with tempfile.TemporaryDirectory(dir=bed.directory) as work:
        (wall, cpu, fleet_cpu, peak, _), received = RUNNERS[tool](
            bed, addresses(prefix, hosts), netns, Path(work)
        )
    result = Result(
        tool,
        hosts,
        delay,
        per_host,
        round(wall, 2),
        round(cpu, 2),
        round(fleet_cpu, 2),
        round(peak, 1),
        received,
        hosts * per_host,
        round_,
    )
    print(json.dumps(asdict(result)), flush=True)
    time.sleep(1.0)  # let the hosts' sessions end
    return result


def matrix(args: argparse.Namespace) -> list[tuple[str, int, int, int]]:
    points = [(n, d, 333) for n in args.sizes for d in args.delays]
    points += [(args.memory_hosts, 0, 3330)] if args.memory_hosts else []
    runs = []
    for hosts, delay, per_host in points:
        for tool in args.tools:
            slow = tool == "sequential" and hosts * max(delay, 5) > args.sequential_budget
            if per_host == 3330 and tool not in ("eventsweep", "paramiko", "pssh"):
                continue
            if not slow:
                runs.append((tool, hosts, delay, per_host))
    return runs


def inside(args: argparse.Namespace) -> None:
    """Runs in the ``srv`` namespace: fleet, journals, relay, then the interleaved runs."""
    srv, cli = os.environ["BENCH_SRV"], os.environ["BENCH_CLI"]
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "route", "replace", "local", "10.200.0.0/16", "dev", "lo")
    directory = Path(tempfile.mkdtemp(prefix="eventsweep-bench-"))
    hosts = max(args.sizes)
    names = addresses(SMALL, hosts) + addresses(BIG, args.memory_hosts)
    os.sched_setaffinity(0, {int(FLEET_CPU)})  # sshd, its sessions and the relay inherit it
    try:
        with sshd.running(directory / "fleet", names, port=PORT) as fleet:
            relay = link_namespaces(srv, cli, args.delay_ms)
            try:
                make_journals(directory, fleet, hosts, args.memory_hosts)
                since = iso(datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=8))
                argv = build_argv(Query(since=since), Journalctl())
                assert argv is not None
                bed = Bed(directory, srv, cli, since, command_line(argv), fleet, args.concurrency)
                print(json.dumps({"command": bed.command, "rtt_ms": rtt(bed)}), flush=True)
                runs = matrix(args)
                results: list[Result] = []
                for round_ in range(args.rounds):
                    shift = round_ % len(args.tools)
                    order = sorted(runs, key=lambda run: rank(run, args.tools, shift))
                    results += [one(bed, *run, round_) for run in order]
                report(results)
            finally:
                relay.terminate()
                relay.wait()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def rank(run: tuple[str, int, int, int], tools: list[str], shift: int) -> tuple[int, ...]:
    """Points in order; within a point, the tools in an order rotated every round."""
    tool, hosts, delay, per_host = run
    return hosts, per_host, delay, (tools.index(tool) + shift) % len(tools)


def rtt(bed: Bed) -> float:
    """A TCP connect from ``cli`` to a host in ``srv`` (one round trip), in ms."""
    code = (
        "import socket,time;t=time.perf_counter();"
        f"socket.create_connection(('{SMALL}.1',{PORT})).close();"
        "print((time.perf_counter()-t)*1000)"
    )
    result = subprocess.run(
        ["ip", "netns", "exec", bed.cli, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    return round(float(result.stdout), 1)


def report(results: list[Result]) -> None:
    """Medians per point and tool as a markdown table (plus ratios to eventsweep), then each
    round's ratios to eventsweep (the tools ran interleaved, so a round's ratios share load)."""
    keys = sorted({(r.hosts, r.delay_ms, r.entries) for r in results})
    print(
        "\n| hosts | delay | entries/host | tool | wall s | client CPU ms/host | "
        "fleet CPU ms/host | peak MB | all entries | wall vs eventsweep |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for hosts, delay, per_host in keys:
        point = [r for r in results if (r.hosts, r.delay_ms, r.entries) == (hosts, delay, per_host)]
        ours = statistics.median(r.wall for r in point if r.tool == "eventsweep")
        for tool in TOOLS:
            runs = [r for r in point if r.tool == tool]
            if not runs:
                continue
            wall = statistics.median(r.wall for r in runs)
            cpu = statistics.median(r.cpu for r in runs) * 1000 / hosts
            fleet = statistics.median(r.fleet_cpu for r in runs) * 1000 / hosts
            peak = statistics.median(r.peak_mb for r in runs)
            complete = all(r.received == r.expected for r in runs)
            print(
                f"| {hosts} | {delay} ms | {per_host} | {tool} | {wall:.2f} | {cpu:.1f} | "
                f"{fleet:.1f} | {peak:.0f} | {'yes' if complete else 'NO'} | {wall / ours:.2f}× |"
            )
    print("\nPer round, wall of each tool / wall of eventsweep:")
    for hosts, delay, per_host in keys:
        point = [r for r in results if (r.hosts, r.delay_ms, r.entries) == (hosts, delay, per_host)]
        ratios = []
        for round_ in sorted({r.round for r in point}):
            walls = {r.tool: r.wall for r in point if r.round == round_}
            if "eventsweep" in walls:
                ours = walls["eventsweep"]
                ratios.append(" ".join(f"{tool} {wall / ours:.2f}" for tool, wall in walls.items()))
        print(f"- {hosts} hosts, {delay} ms, {per_host}/host: " + " | ".join(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 50])
    parser.add_argument("--delay-ms", type=float, default=50.0, help="the relay's one-way delay")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--concurrency", type=int, help="eventsweep's --concurrency (default: the CLI's own)"
    )
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument(
        "--memory-hosts",
        type=int,
        default=50,
        help="hosts of 3330 entries for the memory check (0: none)",
    )
    parser.add_argument(
        "--sequential-budget",
        type=int,
        default=2500,
        help="skip the sequential loop where hosts × max(delay, 5) > this",
    )
    args = parser.parse_args()
    if os.environ.get("BENCH_SRV"):
        inside(args)
        return
    srv, cli = f"es-srv-{os.getpid()}", f"es-cli-{os.getpid()}"
    sh("ip", "netns", "add", srv)
    sh("ip", "netns", "add", cli)
    try:
        sh("ip", "-n", cli, "link", "set", "lo", "up")
        env = {**os.environ, "BENCH_SRV": srv, "BENCH_CLI": cli}
        subprocess.run(
            ["ip", "netns", "exec", srv, sys.executable, __file__, *sys.argv[1:]],
            env=env,
            check=True,
        )
    finally:
        for ns in (srv, cli):
            subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
