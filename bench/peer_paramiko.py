"""Peer for bench_ssh.py: the classic recipe, a thread per host with paramiko.

Each thread connects (host key checked against the bench's known_hosts), runs the same
journalctl command, reads stdout line by line and parses each JSON line. Prints the number of
records read and the number of hosts that failed.

    python bench/peer_paramiko.py HOSTS_FILE PORT KEY KNOWN_HOSTS 'COMMAND'
"""

from __future__ import annotations

import json
import sys
import threading

import paramiko


def read_host(host: str, port: int, key: str, known: str, command: str, counts: list[int]) -> None:
    client = paramiko.SSHClient()
    client.load_host_keys(known)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            host,
            port=port,
            username="root",
            key_filename=key,
            timeout=60,
            allow_agent=False,
            look_for_keys=False,
        )
        _, stdout, _ = client.exec_command(command)
        records = sum(1 for line in stdout if json.loads(line))
        counts.append(records if stdout.channel.recv_exit_status() == 0 else -1)
    except Exception:
        counts.append(-1)
    finally:
        client.close()


def main() -> None:
    hosts_file, port, key, known, command = sys.argv[1:6]
    with open(hosts_file) as stream:
        hosts = stream.read().split()
    counts: list[int] = []
    threads = [
        threading.Thread(target=read_host, args=(host, int(port), key, known, command, counts))
        for host in hosts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(sum(c for c in counts if c > 0), sum(1 for c in counts if c < 0))


if __name__ == "__main__":
    main()
