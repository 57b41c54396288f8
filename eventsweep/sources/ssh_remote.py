"""What both halves of the ``ssh://`` source share: where a target connects (:class:`Remote`),
the source's options (:class:`SshOptions`) and the one-line error of a failed TCP connect.

:mod:`eventsweep.sources.ssh` (target text, the early TCP connection, before asyncssh) and
:mod:`eventsweep.sources.ssh_session` (asyncssh: host keys, authentication, the remote
process) both import this module and never each other's names, so there is no import cycle;
this module imports neither asyncssh nor anything heavy (it is on the path that runs before
the TCP connect starts).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from eventsweep.errors import ConnectError

DEFAULT_PORT = 22


@dataclass(frozen=True, slots=True)
class SshOptions:
    """The ssh:// source's own settings (from the command line's connection flags)."""

    connect_timeout: float = 10.0
    accept_unknown_hosts: bool = False
    known_hosts: str | None = None
    ssh_config: str | None = None


@dataclass(frozen=True, slots=True)
class Remote:
    """Where to connect; None leaves the choice to ~/.ssh/config, then OpenSSH's defaults."""

    host: str
    port: int | None = None
    user: str | None = None


def socket_error(exc: OSError, remote: Remote, settings: SshOptions) -> ConnectError:
    """The one-line error a failed TCP connect stands for."""
    if isinstance(exc, TimeoutError):
        return ConnectError(f"no SSH answer within {settings.connect_timeout:g}s (connect timeout)")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError("connection refused")
    if isinstance(exc, socket.gaierror):
        return ConnectError(f"host name not found: {remote.host}")
    return ConnectError(exc.strerror or str(exc) or type(exc).__name__)
