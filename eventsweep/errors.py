"""eventsweep's errors: one base, mapped from foreign exceptions at each source's boundary.

    EventsweepError
    ├── UsageError          bad flag value, bad target text, unknown scheme (exit status 2)
    └── TargetError         one target failed; the sweep goes on (outcome ``error``/``partial``)
        ├── ConnectError    refused, unreachable, name not found, silent host
        ├── AuthError       logon failure, host key unknown or changed
        ├── OpenError       not an event log, unknown log, access denied, no journal
        └── ReadError       failure while reading (server gone mid-read, broken pipe…)

A TargetError's message is one line naming the stage; the original exception stays chained
(``raise ConnectError(...) from exc``) for ``--debug``.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its class name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class EventsweepError(Exception):
    """Base of every error eventsweep raises on purpose."""


class UsageError(EventsweepError):
    """The user's input is wrong: one clear line, exit status 2."""


class TargetError(EventsweepError):
    """One target failed. ``stage`` names where: connect, auth, open, read."""

    stage = "read"

    def __str__(self) -> str:
        return f"{self.stage}: {super().__str__()}"


class ConnectError(TargetError):
    stage = "connect"


class AuthError(TargetError):
    stage = "auth"


class OpenError(TargetError):
    stage = "open"


class ReadError(TargetError):
    stage = "read"
