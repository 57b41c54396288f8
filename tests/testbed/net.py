"""Loopback ports for the test beds: a free one, and one that accepts and never answers."""

from __future__ import annotations

import socket


def free_port(address: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``address`` now (the kernel's pick, released at once)."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def silent_listener() -> socket.socket:
    """A port on 127.0.0.1 that accepts TCP connections and never says a word (a hung host)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock
