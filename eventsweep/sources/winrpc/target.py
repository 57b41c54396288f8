"""Parsing ``win://`` target texts into frozen values (pure).

Accepted forms (the log name defaults to ``System``; the port to 445)::

    win://host                      user from the credentials file, else anonymous
    win://user@host[:port][/Log]
    win://DOMAIN\\user@host          Windows form
    win://DOMAIN;user@host           URL form of smb:// (no backslash to quote in a shell)
    win://user@DOMAIN@host           user principal name form (user@corp.example)
    win://user@[fe80::1]:445/Application

User, domain and log may be percent-encoded (``%20`` for a space in a log name). A password in
the text (``user:secret@host``) is refused: secrets never go on a command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from eventsweep.errors import UsageError
from eventsweep.sources.hosts import host_port

DEFAULT_LOG = "System"
DEFAULT_PORT = 445


@dataclass(frozen=True, slots=True)
class WinTarget:
    """One Windows event log to read: where, as whom, which log."""

    text: str
    host: str
    port: int = DEFAULT_PORT
    user: str = ""
    domain: str = ""
    log: str = DEFAULT_LOG

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_target(text: str) -> WinTarget:
    """A target from its text; UsageError naming what is wrong (never echoing a password)."""
    if not text.lower().startswith("win://"):
        raise UsageError(f"target {text!r}: a Windows target starts with win://")
    rest = text[len("win://") :]
    authority, _, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at and ":" in userinfo:
        raise UsageError(
            "a win:// target holds a password: remove it and set EVENTSWEEP_PASSWORD "
            "or use a credentials file"
        )
    domain, user = split_user(unquote(userinfo)) if at else ("", "")
    host, port = _host_port(text, hostport)
    log = unquote(path).strip("/") or DEFAULT_LOG
    return WinTarget(text=text, host=host, port=port, user=user, domain=domain, log=log)


def split_user(userinfo: str) -> tuple[str, str]:
    """``DOMAIN\\user``, ``DOMAIN;user`` or ``user@domain`` as (domain, user)."""
    for separator in ("\\", ";"):
        if separator in userinfo:
            domain, _, user = userinfo.partition(separator)
            return domain, user
    user, _, domain = userinfo.partition("@")
    return domain, user


def _host_port(text: str, hostport: str) -> tuple[str, int]:
    if not hostport:
        raise UsageError(f"target {text!r}: expected win://[DOMAIN\\]user@host[:port][/Log]")
    host, port = host_port(text, hostport)
    return host, DEFAULT_PORT if port is None else port
