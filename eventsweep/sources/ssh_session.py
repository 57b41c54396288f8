"""The asyncssh half of the ``ssh://`` source: host keys, authentication, the connection and
the remote journalctl process.

Imported by :class:`~eventsweep.sources.ssh.SshSource` only once its TCP connection is on its
way (asyncssh takes longer to import than a connect takes), through
:func:`~eventsweep.sources.ssh.lean_import`. It shares :mod:`eventsweep.sources.ssh_remote`
with that module and imports nothing from it (no cycle).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import weakref
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import asyncssh
import asyncssh.auth
from asyncssh.packet import Boolean, String
from asyncssh.public_key import SSHLocalKeyPair

from eventsweep.errors import AuthError, ConnectError, OpenError, ReadError, TargetError
from eventsweep.sources.journald.command import command_line
from eventsweep.sources.journald.stream import drain_into
from eventsweep.sources.ssh_remote import Remote, SshOptions, socket_error

DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
KEEPALIVES_MISSED = 3  # unanswered keepalives before a kept connection counts as lost

# ---- host keys ---------------------------------------------------------------------------


class HostKeys:
    """known_hosts lookups for one connection, remembering whether the host had a key on file."""

    def __init__(self, known: asyncssh.SSHKnownHosts | None) -> None:
        self.known = known
        self.on_file = False

    def __call__(self, host: str, addr: str, port: int | None) -> Any:
        if self.known is None:
            return ([], [], [])
        trusted, authorities, revoked, *_ = self.known.match(host, addr, port)
        self.on_file = bool(trusted) or bool(authorities)
        return (trusted, authorities, revoked)


class Client(asyncssh.SSHClient):
    """Accepts a key asyncssh couldn't verify only for a host with none on file, if allowed;
    authenticates in fewer round trips (see :func:`fewer_round_trips`)."""

    def __init__(self, keys: HostKeys, accept_unknown: bool) -> None:
        self.keys = keys
        self.accept_unknown = accept_unknown
        self.connection: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.connection = conn

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        return self.accept_unknown and not self.keys.on_file

    def begin_auth(self, username: str) -> None:
        if self.connection is not None:
            fewer_round_trips(self.connection)


# ---- authentication in fewer round trips -------------------------------------------------
#
# asyncssh opens user authentication with a "none" request (to learn the server's methods),
# then offers each public key unsigned and signs it only once the server says it would take
# it: two round trips more than needed for the usual case, a key in a file that the host
# accepts (8 round trips to an authenticated connection instead of 6; 200 ms at 100 ms RTT).
# Like paramiko, and like OpenSSH for a private key file, we start with "publickey" and sign
# a key held in memory straight away. A key from an agent, a PKCS#11 token or a security key
# (sk-*) is still offered unsigned first: signing with it may ask the user (a touch, a PIN, a
# confirmation). Nothing is weakened: the server checks the same signature over the same
# session; a refused key costs one round trip either way and the server's answer lists its
# methods, from which asyncssh carries on as usual (a "none" request is still made when no
# key is left, so a host with other methods is not cut short; and when a method preferred to
# publickey could be used, asyncssh's own sequence runs). asyncssh has no option for
# either, so this leans on its internals (the connection's _auth_methods, _preferred_auth,
# _gss, _host_based_auth and _client_host_keys, and its table of client auth classes); where
# they are not there (another asyncssh version), asyncssh's own sequence runs unchanged.

_signed_first: weakref.WeakSet[asyncssh.SSHClientConnection] = weakref.WeakSet()


def fewer_round_trips(conn: asyncssh.SSHClientConnection) -> None:
    """Called as authentication begins: publickey first, in-memory keys signed at once, unless
    a method preferred to publickey could be used (Kerberos, hostbased, or a configured
    PreferredAuthentications that puts another method first)."""
    methods = getattr(conn, "_auth_methods", None)
    preferred = list(getattr(conn, "_preferred_auth", None) or ())
    if methods != [b"none"] or b"publickey" not in preferred:
        return
    usable = {
        b"gssapi-keyex": getattr(conn, "_gss", True) is not None,
        b"gssapi-with-mic": getattr(conn, "_gss", True) is not None,
        b"hostbased": bool(getattr(conn, "_host_based_auth", True))
        and bool(getattr(conn, "_client_host_keys", True)),
    }
    if any(usable.get(method, True) for method in preferred[: preferred.index(b"publickey")]):
        return
    if _SIGNED_FIRST_INSTALLED:
        _signed_first.add(conn)
    conn._auth_methods = [b"publickey", b"none"]


def _install_signed_first() -> bool:
    """Registers a publickey client auth that signs in-memory keys without asking first (for
    the connections in ``_signed_first`` only; every other connection as asyncssh does)."""
    handlers = getattr(asyncssh.auth, "_client_auth_handlers", None)
    if not isinstance(handlers, dict):
        return False
    base = handlers.get(b"publickey")
    if base is None or not hasattr(base, "_send_signed_request"):
        return False

    class SignedFirst(base):  # type: ignore[misc, valid-type]
        async def _start(self) -> None:
            if self._conn not in _signed_first:
                await super()._start()
                return
            keypair = await self._conn.public_key_auth_requested()
            if keypair is None:
                self._conn.try_next_auth(next_method=True)
                return
            self._keypair = keypair
            if type(keypair) is SSHLocalKeyPair and not keypair.algorithm.startswith(b"sk-"):
                await self._send_signed_request()
            else:  # as asyncssh does: offered unsigned first
                self.logger.debug1("Trying public key auth with %s key", keypair.algorithm)
                await self.send_request(
                    Boolean(False), String(keypair.algorithm), String(keypair.public_data)
                )

    handlers[b"publickey"] = SignedFirst
    return True


_SIGNED_FIRST_INSTALLED = _install_signed_first()
_known_cache: dict[tuple[tuple[str, float], ...], asyncssh.SSHKnownHosts] = {}


def known_hosts(settings: SshOptions) -> asyncssh.SSHKnownHosts | None:
    """The known_hosts entries in force (read again only when a file changes)."""
    names = (settings.known_hosts,) if settings.known_hosts else DEFAULT_KNOWN_HOSTS
    paths = [os.path.expanduser(name) for name in names]
    stamp = tuple((path, os.stat(path).st_mtime) for path in paths if os.path.isfile(path))
    if not stamp:
        return None
    if stamp not in _known_cache:
        try:
            _known_cache[stamp] = asyncssh.read_known_hosts([path for path, _ in stamp])
        except (OSError, ValueError) as exc:
            raise ConnectError(f"cannot read known hosts: {exc}") from exc
    return _known_cache[stamp]


# ---- connection and processes ------------------------------------------------------------


@contextlib.asynccontextmanager
async def connected(
    remote: Remote,
    settings: SshOptions,
    sock: socket.socket | None,
    timeout: float,
    keepalive: float | None = None,
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """An authenticated SSH connection (over ``sock`` when it is already connected, else
    opened by asyncssh as the ssh config says) within ``timeout`` seconds; every failure mapped
    to one clear TargetError. ``keepalive``: seconds between keepalive requests, the connection
    closed after :data:`KEEPALIVES_MISSED` unanswered (a kept connection to a host gone silent)."""
    keys = HostKeys(known_hosts(settings))
    try:
        connection = await asyncssh.connect(
            remote.host,
            port=remote.port or (),
            sock=sock,
            username=remote.user or (),
            config=[settings.ssh_config] if settings.ssh_config else (),
            known_hosts=keys,
            client_factory=partial(Client, keys, settings.accept_unknown_hosts),
            connect_timeout=timeout,
            keepalive_interval=keepalive or 0,
            keepalive_count_max=KEEPALIVES_MISSED,
        )
    except BaseException as exc:  # cancelled too: the socket is closed either way
        if sock is not None:
            sock.close()
        if isinstance(exc, Exception):
            raise connect_error(exc, remote, keys, settings) from exc
        raise
    try:
        yield connection
    finally:
        connection.close()
        with contextlib.suppress(Exception):
            await connection.wait_closed()


def connect_error(
    exc: Exception, remote: Remote, keys: HostKeys, settings: SshOptions
) -> TargetError:
    """The one-line error a failed connect stands for."""
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return _host_key_error(remote, keys)
    if isinstance(exc, asyncssh.PermissionDenied):
        who = f" as {remote.user}" if remote.user else ""
        return AuthError(f"authentication failed{who}: no key or agent identity was accepted")
    if isinstance(exc, asyncssh.DisconnectError):
        return ConnectError(f"SSH refused: {exc.reason}")
    if isinstance(exc, OSError):
        return socket_error(exc, remote, settings)
    return ConnectError(f"{type(exc).__name__}: {exc}")


def _host_key_error(remote: Remote, keys: HostKeys) -> AuthError:
    if keys.on_file:
        return AuthError(
            f"host key changed: the key of {remote.host} does not match known_hosts "
            "(refused even with --accept-unknown-hosts)"
        )
    return AuthError(
        f"host key unknown: {remote.host} is not in known_hosts "
        "(add its key, or pass --accept-unknown-hosts)"
    )


class RemoteProcess:
    """journalctl running on the host: stdout read on demand, stderr drained beside it."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self.process = process
        self.stderr = bytearray()
        self.drain = asyncio.ensure_future(drain_into(self.stderr, process.stderr))

    async def read(self, size: int) -> bytes:
        try:
            return await self.process.stdout.read(size)
        except (asyncssh.Error, OSError) as exc:
            raise ReadError(f"connection lost while reading: {exc}") from exc

    async def finish(self) -> tuple[int | None, str]:
        with contextlib.suppress(asyncssh.Error, OSError):
            await self.drain
        await self.process.wait_closed()
        stderr = self.stderr.decode("utf-8", "replace")
        signal = self.process.exit_signal
        if signal is not None:
            stderr = f"killed by signal {signal[0]}\n{stderr}"
        return self.process.exit_status, stderr

    def close(self) -> None:
        self.drain.cancel()
        self.process.close()


@contextlib.asynccontextmanager
async def started(
    connection: asyncssh.SSHClientConnection, argv: list[str]
) -> AsyncIterator[RemoteProcess]:
    """``argv`` running on the host as one quoted command line; closed on leaving."""
    try:
        process = await connection.create_process(
            command_line(argv), encoding=None, stdin=asyncssh.DEVNULL
        )
    except asyncssh.ChannelOpenError as exc:
        raise OpenError(f"the host refused a session: {exc.reason}") from exc
    except (asyncssh.Error, OSError) as exc:
        raise ReadError(f"connection lost before journalctl started: {exc}") from exc
    remote = RemoteProcess(process)
    try:
        yield remote
    finally:
        remote.close()
