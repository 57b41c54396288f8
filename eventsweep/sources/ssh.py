"""The ``ssh://`` source: a Linux host's systemd journal, read with journalctl over SSH.

Target: ``ssh://[user@]host[:port][?option=value&…]``. Options:

``sudo=1``
    run ``sudo -n -- journalctl …`` (never prompts: a password request is an auth error)
``journalctl=PATH``
    the program to run instead of ``journalctl``
``args=ARGS``
    extra journalctl arguments, split like a shell would (``args=--unit+nginx.service``;
    spaces as ``+`` or ``%20``, a literal ``+`` as ``%2B``)

The connection follows OpenSSH's habits (asyncssh): ``~/.ssh/config`` (or ``--ssh-config``),
keys from ssh-agent and ``~/.ssh/id_*`` or the config's IdentityFile, always a connect timeout.
Host keys are checked against ``--known-hosts FILE``, else ``~/.ssh/known_hosts`` and
``/etc/ssh/ssh_known_hosts``: a host with no key on file is refused (``host key unknown``)
unless ``--accept-unknown-hosts`` (the key is accepted for this sweep, not saved); a host whose
key differs from the one on file is always refused (``host key changed``).

The TCP connection is opened first, before asyncssh (in :mod:`eventsweep.sources.ssh_session`)
is imported: the host's sshd starts its session while asyncssh loads (the first connection
leaves ~90 ms sooner than asyncssh's own would). That is done only when
the ssh config can't send the host elsewhere (no HostName, Port, ProxyJump, ProxyCommand and
the like in a ``Host`` block that matches it, no ``Match`` or ``Include``); otherwise asyncssh
connects as the config says. X.509 certificates (PKIX-SSH; OpenSSH has none) are not used.

One SSH connection per target runs one ``journalctl -o json`` (plus one ``journalctl -F`` per
source field at once when ``--source`` is given), built by :mod:`eventsweep.sources.journald`
and shell-quoted word by word. ``eventsweep follow`` keeps one connection per host for its
whole run, with ``journalctl --follow`` on it (:meth:`SshSource.follow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import os
import re
import shlex
import socket
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from eventsweep.errors import UsageError
from eventsweep.model import Bookmark, Event, Query, TargetStatus
from eventsweep.sources import Source, refuse_secret
from eventsweep.sources.hosts import host_port
from eventsweep.sources.journald.command import Journalctl, can_match
from eventsweep.sources.journald.stream import Starter, journal_events
from eventsweep.sources.ssh_remote import DEFAULT_PORT, socket_error
from eventsweep.sources.ssh_remote import Remote as Remote  # re-exported: the target's parts
from eventsweep.sources.ssh_remote import SshOptions as SshOptions  # and the source's options

if TYPE_CHECKING:
    from eventsweep.sources.journald.follow import Feed

OPTIONS = ("sudo", "journalctl", "args")
_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off", ""))


@dataclass(frozen=True, slots=True)
class SshSource:
    """One Linux host over SSH."""

    target: str
    remote: Remote
    journalctl: Journalctl
    settings: SshOptions

    async def events(self, query: Query, status: TargetStatus) -> AsyncGenerator[list[Event], None]:
        if not can_match(query):
            return
        async with self.session() as start:
            stream = journal_events(
                start, self.journalctl, self.target, self.remote.host, query, status
            )
            async with contextlib.aclosing(stream):
                async for batch in stream:
                    yield batch

    @contextlib.asynccontextmanager
    async def session(self, keepalive: float | None = None) -> AsyncIterator[Starter]:
        """One authenticated connection to the host, as a starter of commands over it;
        ``keepalive``: seconds between SSH keepalives (a silent dead host is then noticed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.connect_timeout
        sock = await dial(self.remote, self.settings)
        try:
            with lean_import():
                from eventsweep.sources import ssh_session as session
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        left = max(deadline - loop.time(), 0.001)
        connecting = session.connected(self.remote, self.settings, sock, left, keepalive)
        async with connecting as connection:
            yield partial(session.started, connection)

    def follow(
        self,
        query: Query,
        after: Bookmark | None,
        retry: Callable[[int], float],
        notify: Callable[[], None],
    ) -> Feed:
        """``journalctl --follow`` over one kept connection (``eventsweep follow``): SSH
        keepalives every ``--connect-timeout`` seconds notice a host that went silent."""
        from eventsweep.sources.journald.follow import Feed

        keepalive = self.settings.connect_timeout
        opener = partial(self.session, keepalive)
        return Feed(self, opener, query, after, retry, notify)

    @property
    def computer(self) -> str:
        """The name an entry without ``_HOSTNAME`` is given."""
        return self.remote.host


# ---- target text -----------------------------------------------------------------------


def plan(text: str, options: SshOptions | None) -> Sequence[Source]:
    settings = options or SshOptions()
    remote, journalctl = parse_target(text)
    if importlib.util.find_spec("asyncssh") is None:
        raise UsageError("ssh: source unavailable (asyncssh is not installed)")
    if settings.known_hosts and not os.path.isfile(os.path.expanduser(settings.known_hosts)):
        raise UsageError(f"--known-hosts: no such file: {settings.known_hosts}")
    if settings.ssh_config and not os.path.isfile(os.path.expanduser(settings.ssh_config)):
        raise UsageError(f"--ssh-config: no such file: {settings.ssh_config}")
    return [SshSource(text, remote, journalctl, settings)]


def parse_target(text: str) -> tuple[Remote, Journalctl]:
    """``ssh://[user@]host[:port][?options]`` as where to connect and how to run journalctl."""
    refuse_secret(text)
    scheme, _, rest = text.partition("://")
    if scheme.lower() != "ssh" or not rest:
        raise UsageError(f"target {text!r}: expected ssh://[user@]host[:port][?options]")
    location, _, options = rest.partition("?")
    if "/" in location.rstrip("/") or "#" in rest:
        raise UsageError(f"target {text!r}: no path or fragment after the host")
    return _remote(text, location.rstrip("/")), _journalctl(text, options)


def _remote(text: str, location: str) -> Remote:
    user, at, hostport = location.rpartition("@")
    host, port = host_port(text, hostport)
    return Remote(host=host, port=port, user=unquote(user) if at else None)


def _journalctl(text: str, options: str) -> Journalctl:
    values: dict[str, str] = {}
    for name, value in parse_qsl(options, keep_blank_values=True):
        if name not in OPTIONS:
            raise UsageError(
                f"target {text!r}: unknown option {name!r} (known: {', '.join(OPTIONS)})"
            )
        values[name] = value
    return Journalctl(
        program=values.get("journalctl") or "journalctl",
        sudo=_flag(text, values.get("sudo", "0")),
        extra=tuple(_split(text, values.get("args", ""))),
    )


def _flag(text: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise UsageError(f"target {text!r}: sudo={value!r} is neither 1 nor 0")


def _split(text: str, value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise UsageError(f"target {text!r}: args={value!r}: {exc}") from None


# ---- the TCP connection, opened before asyncssh is imported --------------------------------


async def dial(remote: Remote, settings: SshOptions) -> socket.socket | None:
    """A TCP connection to the host, or None when the ssh config may send it elsewhere (then
    asyncssh connects as the config says)."""
    if routed_by_config(remote.host, settings):
        return None
    try:
        return await asyncio.wait_for(
            _tcp(remote.host, remote.port or DEFAULT_PORT), settings.connect_timeout
        )
    except OSError as exc:
        raise socket_error(exc, remote, settings) from exc


async def _tcp(host: str, port: int) -> socket.socket:
    """Connected to the first of the host's addresses that answers (as asyncssh would)."""
    loop = asyncio.get_running_loop()
    try:  # an address needs no resolver thread
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error


# Keywords that change where or how a host is reached; Match and Include make a config
# impossible to judge here (asyncssh then connects itself, as it would without the dial).
_ROUTING = frozenset(
    (
        "hostname",
        "port",
        "proxyjump",
        "proxycommand",
        "canonicalizehostname",
        "addressfamily",
        "bindaddress",
        "bindinterface",
    )
)
_UNKNOWABLE = frozenset(("match", "include"))
_KEYWORD = re.compile(r"\s*([A-Za-z]+)(?:\s*=\s*|\s+|$)(.*)")
_Blocks = tuple[tuple[tuple[str, ...] | None, bool], ...]  # (Host patterns | None, routes)


def routed_by_config(host: str, settings: SshOptions) -> bool:
    """Whether the ssh config asyncssh reads (``--ssh-config``, else ``~/.ssh/config``) may
    change where ``host`` is reached: a routing keyword before any ``Host`` line or in a
    ``Host`` block matching ``host``, or any ``Match`` or ``Include`` (or an unreadable file)."""
    path = os.path.expanduser(settings.ssh_config or "~/.ssh/config")
    if settings.ssh_config is None and not os.access(path, os.R_OK):
        return False
    try:
        blocks = _config_blocks(path, os.stat(path).st_mtime_ns)
    except (OSError, ValueError):
        return True
    return any(
        routes and (patterns is None or _host_matches(host, patterns))
        for patterns, routes in blocks
    )


@functools.lru_cache(maxsize=8)
def _config_blocks(path: str, mtime_ns: int) -> _Blocks:
    """The config's blocks as (Host patterns or None before the first Host, has a routing
    keyword); ValueError for what can't be judged."""
    blocks: list[tuple[tuple[str, ...] | None, bool]] = [(None, False)]
    with open(path, encoding="utf-8", errors="replace") as file:
        for line in file:
            match = _KEYWORD.match(line)
            if match is None or line.lstrip().startswith("#"):
                continue
            keyword = match.group(1).lower()
            if keyword in _UNKNOWABLE:
                raise ValueError(keyword)
            if keyword == "host":
                blocks.append((tuple(shlex.split(match.group(2), comments=True)), False))
            elif keyword in _ROUTING:
                blocks[-1] = (blocks[-1][0], True)
    return tuple(blocks)


def _host_matches(host: str, patterns: Sequence[str]) -> bool:
    """OpenSSH's Host matching: any pattern matches (``*``, ``?``), no ``!pattern`` does."""
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").lower()
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
        if re.fullmatch(regex, host.lower()):
            if negated:
                return False
            matched = True
    return matched


@contextlib.contextmanager
def lean_import() -> Iterator[None]:
    """asyncssh's import without two lookups that cost about 40 ms before the first handshake
    can start: liboqs is looked up in the ldconfig cache only (``ctypes.util.find_library``
    also compiles a test program with gcc and runs ld, for each of two names), and asyncssh's
    optional X.509 support (for PKIX-SSH; OpenSSH has none) is left out. Nothing changes once
    asyncssh is imported, nor where ``LD_LIBRARY_PATH`` is set."""
    import ctypes.util

    if "asyncssh" in sys.modules:
        yield
        return
    original = ctypes.util.find_library
    cached = getattr(ctypes.util, "_findSoname_ldconfig", None)
    if cached is not None and not os.environ.get("LD_LIBRARY_PATH"):
        ctypes.util.find_library = cached
    x509 = "asyncssh.crypto.x509"
    blocked = x509 not in sys.modules
    if blocked:
        sys.modules[x509] = None  # type: ignore[assignment]  # asyncssh goes on without X.509
    try:
        yield
    finally:
        ctypes.util.find_library = original
        if blocked and sys.modules.get(x509, ...) is None:
            del sys.modules[x509]
