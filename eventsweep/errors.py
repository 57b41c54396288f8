"""eventsweep's errors: one base, mapped from foreign exceptions at each source's boundary.

    EventsweepError
    ├── UsageError          bad flag value, bad target text, unknown scheme (exit status 2)
    └── TargetError         one target failed; the sweep goes on (outcome ``error``/``partial``)
        ├── ConnectError    refused, unreachable, name not found, silent host
        ├── AuthError       logon failure, host key unknown or changed
        ├── OpenError       not an event log, unknown log, access denied, no journal
        └── ReadError       failure while reading (server gone mid-read, broken pipe…)

A TargetError's message is one line naming the stage; the original exception stays chained
(``raise ConnectError(...) from exc``) for ``--debug``. The text of every EventsweepError is
defused (:func:`eventsweep.text.defuse`): it often quotes what a target sent or a file is
named, and it is printed.
"""

from __future__ import annotations

from eventsweep.text import defuse


def first_line(text: BaseException | str, limit: int = 300) -> str:
    """The first non-blank line of a text or an exception's text (stripped, at most ``limit``
    characters); for an exception with no text, its class name; for a blank text, ``""``."""
    value = str(text)
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if lines:
        return lines[0][:limit]
    return type(text).__name__ if isinstance(text, BaseException) else ""


class EventsweepError(Exception):
    """Base of every error eventsweep raises on purpose."""

    def __str__(self) -> str:
        return defuse(super().__str__())


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
