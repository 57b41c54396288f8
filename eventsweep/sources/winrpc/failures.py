"""impacket's and the socket layer's exceptions, told apart and worded as one line each.

impacket raises plain ``Exception('No answer!')``, ``OSError`` wrapping ``OSError``, NetBIOS
errors, SMB and DCE/RPC session errors carrying an NTSTATUS, and Kerberos errors. Callers map
them to eventsweep's errors per stage; the functions here only read them. None of them puts a
secret in a message: impacket's errors carry status codes, never credentials.
"""

from __future__ import annotations

import errno
import socket

from eventsweep.errors import ConnectError, first_line
from eventsweep.sources.winrpc.pipe import PipeError

STATUS_ACCESS_DENIED = 0xC0000022
STATUS_OBJECT_NAME_NOT_FOUND = 0xC0000034
STATUS_OBJECT_PATH_INVALID = 0xC0000039
STATUS_OBJECT_PATH_NOT_FOUND = 0xC000003A
STATUS_NO_SUCH_FILE = 0xC000000F
UNKNOWN_LOG = frozenset(
    {STATUS_OBJECT_PATH_INVALID, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_PATH_NOT_FOUND,
     STATUS_NO_SUCH_FILE}
)  # fmt: skip


class ConnectTimeout(ConnectError, TimeoutError):
    """The host took the connection (or not) and never answered: the outcome is ``timeout``."""

    @classmethod
    def after(cls, address: str, timeout: float) -> ConnectTimeout:
        """No answer from ``address`` within ``timeout`` seconds."""
        return cls(f"no answer from {address} within {timeout:g}s")


def status_of(exc: BaseException) -> int | None:
    """The NTSTATUS an SMB or DCE/RPC error carries, if any (Kerberos codes excluded)."""
    if kerberos_code(exc) is not None:
        return None
    if isinstance(exc, PipeError):
        return exc.status
    if type(exc).__name__ in ("NetBIOSError", "NetBIOSTimeout"):
        return None  # their error codes are NetBIOS codes, not NTSTATUS
    for name in ("get_error_code", "getErrorCode"):
        getter = getattr(exc, name, None)
        if callable(getter):
            try:
                code = getter()
            except AttributeError:
                return None
            return code if isinstance(code, int) else None
    return None


def kerberos_code(exc: BaseException) -> int | None:
    """The Kerberos error code of an impacket KerberosError, else None."""
    if type(exc).__name__ != "KerberosError":
        return None
    code = getattr(exc, "getErrorCode", lambda: None)()
    return code if isinstance(code, int) else None


def status_name(code: int) -> str:
    """``STATUS_LOGON_FAILURE`` for 0xC000006D; hex for codes impacket does not know."""
    from impacket import nt_errors

    known = nt_errors.ERROR_MESSAGES.get(code)
    return known[0] if known else f"NTSTATUS 0x{code:08x}"


def kerberos_name(code: int) -> str:
    from impacket.krb5 import constants

    known = constants.ERROR_MESSAGES.get(code)
    return known[0] if known else f"Kerberos error {code}"


def os_error(exc: BaseException) -> OSError | None:
    """The innermost OSError: impacket wraps the socket's as ``OSError(text, cause)``."""
    if not isinstance(exc, OSError):
        return None
    inner = exc.args[1] if len(exc.args) == 2 and isinstance(exc.args[1], OSError) else None
    return inner or exc


def is_timeout(exc: BaseException) -> bool:
    inner = os_error(exc)
    return isinstance(inner, TimeoutError) or type(exc).__name__ == "NetBIOSTimeout"


def network_reason(exc: BaseException, address: str) -> str:
    """One line for a failure to reach or keep talking to ``address``."""
    inner = os_error(exc)
    if isinstance(inner, socket.gaierror):
        return f"host name not found: {address.rpartition(':')[0]}"
    if isinstance(inner, ConnectionRefusedError):
        return f"connection refused by {address}"
    if isinstance(inner, ConnectionResetError | BrokenPipeError):
        return f"connection to {address} reset"
    if inner is not None and inner.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"{address} unreachable ({inner.strerror})"
    if inner is not None:
        return f"{address}: {inner.strerror or type(inner).__name__}"
    if type(exc).__name__ == "NetBIOSError":
        return f"connection to {address} closed by the server"
    return f"{address}: {first_line(exc)}"


def release_sockets(exc: BaseException) -> None:
    """Close the sockets a failed impacket connect leaves behind.

    impacket opens the socket inside its connect and drops it unclosed when the connect or the
    negotiation fails; Python would later warn (ResourceWarning) and the descriptor lingers
    until garbage collection. They sit in the frames of the exception chain: close them now.
    """
    from impacket.nmb import NetBIOSSession

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        trace = current.__traceback__
        while trace is not None:
            for value in list(trace.tb_frame.f_locals.values()):
                if type(value).__name__ == "SMB3":
                    value = getattr(value, "_NetBIOSSession", None)
                if isinstance(value, NetBIOSSession):
                    value = getattr(value, "_sock", None)
                if isinstance(value, socket.socket):
                    value.close()
            trace = trace.tb_next
        current = current.__context__ or current.__cause__
