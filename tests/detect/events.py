"""Events made by hand for the matcher tests."""

from __future__ import annotations

from typing import Any

from eventsweep.model import Event


def win(
    data: dict[str, Any] | None = None,
    *,
    event_id: int | None = 4688,
    log: str = "Security",
    source: str = "Microsoft-Windows-Security-Auditing",
    message: str = "",
    level: str = "audit_success",
    computer: str = "HOST1",
    target: str = "case/host1.evtx",
) -> Event:
    """A Windows event (the Security log's 4688 unless told)."""
    return Event(
        time="2024-01-10T10:00:00.000000Z",
        target=target,
        computer=computer,
        log=log,
        record_id=7,
        event_id=event_id,
        level=level,
        source=source,
        category=None,
        message=message,
        data=dict(data or {}),
    )


def sysmon(data: dict[str, Any], event_id: int = 1, message: str = "") -> Event:
    return win(
        data,
        event_id=event_id,
        log="Microsoft-Windows-Sysmon/Operational",
        source="Microsoft-Windows-Sysmon",
        message=message,
        level="info",
    )


def journal(message: str, identifier: str = "sshd", data: dict[str, Any] | None = None) -> Event:
    return Event(
        time="2024-01-10T10:00:00.000000Z",
        target="ssh://web01",
        computer="web01",
        log="journal",
        record_id=1,
        event_id=None,
        level="info",
        source=identifier,
        category=None,
        message=message,
        data=dict(data or {}),
    )
