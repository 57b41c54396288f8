"""One blocking MS-EVEN session over SMB: connect, log on, bind the pipe, open logs, read.

Each step maps impacket's exceptions to one eventsweep error naming its stage (connect, auth,
open, read). Every socket has the connect timeout (impacket applies it to each receive too),
so a worker thread never hangs for good; :meth:`Session.abort` may be called from any thread to
make a blocked call return at once. Runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from typing import Any, NoReturn

from impacket.dcerpc.v5 import even, transport
from impacket.smbconnection import SMBConnection

from eventsweep.errors import AuthError, ConnectError, OpenError, ReadError
from eventsweep.sources.winrpc import failures
from eventsweep.sources.winrpc.credentials import PASSWORD_ENV, Credentials
from eventsweep.sources.winrpc.target import WinTarget
from eventsweep.sources.winrpc.wire import READ_OPNUM, ReadReply, parse_read_reply, read_request

PIPE = r"\eventlog"  # \pipe\eventlog: impacket adds the \pipe prefix itself
STATUS_LOGON_FAILURE = 0xC000006D


@dataclass(frozen=True, slots=True)
class OpenLog:
    """An opened log: its handle, oldest record number and record count at open time."""

    name: str
    handle: bytes
    oldest: int
    count: int


class Session:
    """A connection to one host's event log service; one thread uses it at a time."""

    def __init__(self, target: WinTarget, credentials: Credentials, timeout: float) -> None:
        self.target = target
        self.credentials = credentials
        self.timeout = timeout
        self._smb: SMBConnection | None = None
        self._dce: Any = None
        self._aborted = threading.Event()

    def connect(self) -> None:
        """TCP connection and SMB negotiation (ConnectError, or ConnectTimeout if silent)."""
        address = self.target.address
        try:
            smb = SMBConnection(
                self.target.host, self.target.host, sess_port=self.target.port,
                timeout=self.timeout,
            )  # fmt: skip
        except Exception as exc:
            failures.release_sockets(exc)
            if failures.is_timeout(exc):
                raise failures.ConnectTimeout(
                    f"no answer from {address} within {self.timeout:g}s"
                ) from exc
            raise ConnectError(failures.network_reason(exc, address)) from exc
        self._smb = smb
        if self._aborted.is_set():  # given up on while connecting: nobody will close it
            self.close()

    def login(self) -> None:
        """SMB session setup with NTLM or Kerberos (AuthError)."""
        smb, creds = self._connection(), self.credentials
        try:
            if creds.kerberos:
                smb.kerberosLogin(creds.user, creds.password, creds.domain, "", creds.nthash)
            else:
                smb.login(creds.user, creds.password, creds.domain, "", creds.nthash)
        except Exception as exc:
            self._fail_login(exc)

    def bind(self) -> None:
        """Open ``\\pipe\\eventlog`` and bind MS-EVEN (OpenError)."""
        rpc = transport.SMBTransport(
            self.target.host, self.target.port, PIPE, smb_connection=self._connection()
        )
        rpc.set_connect_timeout(self.timeout)
        dce = rpc.get_dce_rpc()
        try:
            dce.connect()
            dce.bind(even.MSRPC_UUID_EVEN)
        except Exception as exc:
            self._fail_open(exc, "the event log service (\\pipe\\eventlog)")
        self._dce = dce

    def open_log(self, name: str) -> OpenLog:
        """ElfrOpenELW, then the oldest record number and the count (OpenError)."""
        try:
            handle = even.hElfrOpenELW(self._dce, name + "\x00", "")["LogHandle"]
            oldest = even.hElfrOldestRecordNumber(self._dce, handle)["OldestRecordNumber"]
            count = even.hElfrNumberOfRecords(self._dce, handle)["NumberOfRecords"]
        except Exception as exc:
            self._fail_open(exc, f"log {name!r}")
        return OpenLog(name=name, handle=bytes(handle), oldest=oldest, count=count)

    def read(self, log: OpenLog, flags: int, offset: int, size: int) -> ReadReply:
        """One ElfrReadELW, its answer parsed directly (ReadError)."""
        try:
            self._dce.call(READ_OPNUM, read_request(log.handle, flags, offset, size))
            return parse_read_reply(self._dce.recv())
        except Exception as exc:
            raise ReadError(self._read_reason(exc, log.name)) from exc

    def close(self) -> None:
        """Log off and close (errors ignored: the server frees handles with the session)."""
        smb, self._smb, self._dce = self._smb, None, None
        if smb is not None:
            with contextlib.suppress(Exception):  # best effort
                smb.close()

    def abort(self) -> None:
        """From any thread: shut the socket so a blocked call fails now; then close."""
        self._aborted.set()
        smb = self._smb
        if smb is None:
            return
        with contextlib.suppress(Exception):  # the socket may be gone already
            smb.getNMBServer().get_socket().shutdown(socket.SHUT_RDWR)

    def _connection(self) -> SMBConnection:
        if self._smb is None:
            raise ConnectError(f"{self.target.address}: not connected")
        return self._smb

    def _fail_login(self, exc: Exception) -> NoReturn:
        creds, who = self.credentials, self.credentials.account
        kerberos = failures.kerberos_code(exc)
        if kerberos is not None:
            raise AuthError(f"kerberos logon as {who}: {failures.kerberos_name(kerberos)}") from exc
        code = failures.status_of(exc)
        if code is None:
            if failures.is_timeout(exc):
                raise ReadError(f"no answer within {self.timeout:g}s during logon") from exc
            raise ConnectError(failures.network_reason(exc, self.target.address)) from exc
        hint = ""
        if code == STATUS_LOGON_FAILURE and not creds.has_secret and not creds.kerberos:
            hint = f"; no password given (set {PASSWORD_ENV})"
        raise AuthError(f"logon failure as {who} ({failures.status_name(code)}){hint}") from exc

    def _fail_open(self, exc: Exception, what: str) -> NoReturn:
        code = failures.status_of(exc)
        if code == failures.STATUS_ACCESS_DENIED:
            reason = f"access denied to {what} for {self.credentials.account}"
        elif code in failures.UNKNOWN_LOG:
            reason = f"no {what} on {self.target.host} ({failures.status_name(code)})"
        elif code is not None:
            reason = f"cannot open {what} ({failures.status_name(code)})"
        elif failures.is_timeout(exc):
            reason = f"no answer within {self.timeout:g}s opening {what}"
        else:
            reason = f"cannot open {what}: {failures.network_reason(exc, self.target.address)}"
        raise OpenError(reason) from exc

    def _read_reason(self, exc: Exception, log: str) -> str:
        if self._aborted.is_set():
            return f"reading log {log!r} stopped"
        code = failures.status_of(exc)
        if code is not None:
            return f"reading log {log!r} failed ({failures.status_name(code)})"
        if failures.is_timeout(exc):
            return f"no answer within {self.timeout:g}s while reading log {log!r}"
        if isinstance(exc, ValueError):
            return f"malformed answer reading log {log!r}: {exc}"
        return f"server gone while reading log {log!r}: " + failures.network_reason(
            exc, self.target.address
        )
