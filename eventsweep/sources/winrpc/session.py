"""One blocking MS-EVEN session over SMB: connect, log on, bind the pipe, open logs, read.

impacket negotiates and logs on; the pipe and its calls then go through :mod:`.pipe`. Each
step maps the foreign exceptions to one eventsweep error naming its stage (connect, auth, open,
read). Every receive has the connect timeout, so a worker thread never hangs for good, and
:meth:`Session.abort` may be called from any thread to make a blocked call fail at once.
Runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass
from typing import NoReturn

from impacket.dcerpc.v5 import even
from impacket.dcerpc.v5.dtypes import NULL
from impacket.smb3 import SMB3
from impacket.smbconnection import SMBConnection

from eventsweep.errors import AuthError, ConnectError, OpenError, ReadError
from eventsweep.sources.winrpc import failures
from eventsweep.sources.winrpc.credentials import PASSWORD_ENV, Credentials
from eventsweep.sources.winrpc.pipe import DceChannel, PipeError, SmbPipe
from eventsweep.sources.winrpc.target import WinTarget
from eventsweep.sources.winrpc.wire import (
    HANDLE_SIZE,
    READ_OPNUM,
    ReadReply,
    answer_size,
    parse_read_reply,
    read_request,
)

PIPE = r"\eventlog"  # \pipe\eventlog: the \pipe prefix is implied on IPC$
STATUS_LOGON_FAILURE = 0xC000006D
OPEN_OPNUM, OLDEST_OPNUM, COUNT_OPNUM = 7, 5, 4


def _channel(smb: SMBConnection, timeout: float) -> DceChannel:
    """Open the pipe and bind MS-EVEN over the lean SMB2 path (see :mod:`.pipe`)."""
    tree = smb.connectTree("IPC$")
    file_id = smb.openFile(tree, PIPE)
    channel = DceChannel(SmbPipe(smb.getSMBServer(), tree, file_id, timeout))
    channel.bind(even.MSRPC_UUID_EVEN)
    return channel


def _number(answer: bytes) -> int:
    (value,) = struct.unpack_from("<I", answer, 0)
    return int(value)


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
        self._channel: DceChannel | None = None
        self._aborted = threading.Event()

    def connect(self) -> None:
        """TCP connection and SMB2/3 negotiation (ConnectError, or ConnectTimeout if silent).

        SMB2 NEGOTIATE straight away: impacket's SMB1-first wildcard negotiation retries on a
        second socket and leaks the first. SMB1-only servers (Windows 2003 and older) fail here.
        """
        address = self.target.address
        host, port = self.target.host, self.target.port
        try:
            smb = SMBConnection(existingConnection=SMB3(host, host, sess_port=port,
                                                        timeout=self.timeout))  # fmt: skip
        except Exception as exc:
            failures.release_sockets(exc)
            if failures.is_timeout(exc):
                raise failures.ConnectTimeout.after(address, self.timeout) from exc
            raise ConnectError(failures.network_reason(exc, address)) from exc
        self._smb = smb
        if self._aborted.is_set():  # given up on while connecting: nobody else will close it
            self.abort()
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
        smb = self._connection()
        try:
            self._channel = _channel(smb, self.timeout)
        except Exception as exc:
            self._fail_open(exc, "the event log service (\\pipe\\eventlog)")

    @property
    def protection(self) -> str:
        """``encrypted (AES-128-CCM)``, ``signed (…)`` or ``none``; ``""`` before binding."""
        return self._channel.pipe.protection if self._channel is not None else ""

    def open_log(self, name: str) -> OpenLog:
        """ElfrOpenELW, then the oldest record number and the count (OpenError)."""
        request = even.ElfrOpenELW()
        request["UNCServerName"] = NULL
        request["ModuleName"] = name + "\x00"
        request["RegModuleName"] = ""
        request["MajorVersion"] = request["MinorVersion"] = 1
        try:
            handle = self._call(OPEN_OPNUM, request.getData())[:HANDLE_SIZE]
            oldest = _number(self._call(OLDEST_OPNUM, handle))
            count = _number(self._call(COUNT_OPNUM, handle))
        except Exception as exc:
            self._fail_open(exc, f"log {name!r}")
        return OpenLog(name=name, handle=handle, oldest=oldest, count=count)

    def read(self, log: OpenLog, flags: int, offset: int, size: int) -> ReadReply:
        """One ElfrReadELW, its answer parsed directly (ReadError)."""
        try:
            stub = self._channel_or_fail().call(
                READ_OPNUM, read_request(log.handle, flags, offset, size), answer_size(size)
            )
            return parse_read_reply(stub)
        except Exception as exc:
            raise ReadError(self._read_reason(exc, log.name)) from exc

    def _call(self, opnum: int, stub: bytes) -> bytes:
        """A small call whose answer ends in its NTSTATUS (PipeError if not success)."""
        answer = self._channel_or_fail().call(opnum, stub)
        if len(answer) < 4:
            raise PipeError(f"answer to call {opnum} too short")
        (status,) = struct.unpack_from("<I", answer, len(answer) - 4)
        if status:
            raise PipeError(failures.status_name(status), status)
        return answer

    def _channel_or_fail(self) -> DceChannel:
        if self._channel is None:
            raise PipeError("the event log pipe is closed")
        return self._channel

    def close(self) -> None:
        """Log off and close: blocking (one round trip), errors ignored (the server frees the
        handles with the session). After :meth:`abort` it only closes the socket."""
        smb, self._smb, self._channel = self._smb, None, None
        if smb is None:
            return
        with contextlib.suppress(Exception):  # best effort
            if self._aborted.is_set():
                smb.getSMBServer().close_session()
            else:
                smb.close()

    def abort(self) -> None:
        """From any thread, never blocking: shut the socket so that a call blocked on it fails
        at once and nothing more is sent; :meth:`close` then only releases it."""
        self._aborted.set()
        smb = self._smb
        if smb is None:
            return
        with contextlib.suppress(Exception):  # the socket may be gone already
            smb.getSMBServer().get_socket().shutdown(socket.SHUT_RDWR)

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
