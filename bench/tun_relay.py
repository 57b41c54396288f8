"""A user-space link with a fixed one-way delay, between two network namespaces (no netem here).

Two TUN devices (IP packets, no extra header) are opened by this process; the caller moves each
into its namespace and configures it. Every packet read from one device is written to the
other ``delay`` ms later, in order (one FIFO per direction, one timer each). Real kernel TCP
runs on both sides, so the handshake and ACK clocking see the delay.

    python bench/tun_relay.py --delay-ms 50 --names tun-c tun-s   # prints "ready" when open
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import sys
from collections import deque

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Direction:
    """Packets from ``source`` written to ``sink`` after the delay, in arrival order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, source: int, sink: int, delay: float):
        self.loop, self.source, self.sink, self.delay = loop, source, sink, delay
        self.queue: deque[tuple[float, bytes]] = deque()
        self.timer: asyncio.TimerHandle | None = None
        loop.add_reader(source, self.receive)

    def receive(self) -> None:
        due = self.loop.time() + self.delay
        while True:
            try:
                packet = os.read(self.source, 65536)
            except BlockingIOError:
                break
            self.queue.append((due, packet))
        if self.timer is None and self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.send)

    def send(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            with contextlib.suppress(OSError):  # a full device drops it, as a link would
                os.write(self.sink, self.queue.popleft()[1])
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.send)


async def relay(names: list[str], delay: float) -> None:
    loop = asyncio.get_running_loop()
    first, second = (open_tun(name) for name in names)
    Direction(loop, first, second, delay)
    Direction(loop, second, first, delay)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--names", nargs=2, default=["tun-c", "tun-s"])
    args = parser.parse_args()
    asyncio.run(relay(args.names, args.delay_ms / 1000))
    sys.exit(0)


if __name__ == "__main__":
    main()
