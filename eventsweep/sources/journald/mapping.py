"""One ``journalctl --output=json`` record as an event: the fields journald has and what each
becomes (pure).

:func:`to_event` maps a record to an :class:`~eventsweep.model.Event`; :func:`parse` maps one
line of journalctl's output to the event's fields as a dict (the hot loop of a journal sweep
builds no Event). Byte arrays are decoded as UTF-8 with replacement, a field with several
values is a list, PRIORITY becomes the level, SYSLOG_IDENTIFIER (else _SYSTEMD_UNIT, else
_COMM) the source, ``__SEQNUM`` (else the cursor's ``i=``) the record id.
"""

from __future__ import annotations

from typing import Any

import orjson

from eventsweep.model import Event, iso_from_epoch_us

# PRIORITY 0-7 (emerg … debug) → level
LEVEL_OF_PRIORITY = (
    "critical",
    "critical",
    "critical",
    "error",
    "warning",
    "info",
    "info",
    "verbose",
)
DEFAULT_LEVEL = "info"  # entries without a valid PRIORITY (journald's own default is info)
SOURCE_FIELDS = ("SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT", "_COMM")  # Event.source: first present
# __REALTIME_TIMESTAMP, _HOSTNAME, MESSAGE, SYSLOG_IDENTIFIER and __SEQNUM are the event's own
# fields (time, computer, message, source, record_id), so they are not repeated in Event.data
_TEXT = frozenset((str,))
_loads = orjson.loads


def text(value: Any) -> str:
    """A journal field value as text: strings as they are, byte arrays decoded as UTF-8 with
    replacement, multiple values one per line, null as empty."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if all(isinstance(item, int) for item in value):
            return bytes(value).decode("utf-8", "replace")
        return "\n".join(text(item) for item in value)
    return "" if value is None else str(value)


def _data_value(value: Any) -> str | list[str]:
    if isinstance(value, list) and not all(isinstance(item, int) for item in value):
        return [text(item) for item in value]
    return text(value)


def record_id(record: dict[str, Any]) -> int | None:
    """``__SEQNUM``, or (systemd < 254 doesn't print it) the cursor's ``i=`` field in hex."""
    seqnum = record.get("__SEQNUM")
    if isinstance(seqnum, str) and seqnum.isdigit():
        return int(seqnum)
    cursor = record.get("__CURSOR")
    if not isinstance(cursor, str):
        return None
    # the first ";"-separated part that starts with "i=" (found without splitting the cursor)
    if cursor.startswith("i="):
        start = 2
    else:
        start = cursor.find(";i=") + 3
        if start == 2:
            return None
    end = cursor.find(";", start)
    try:
        return int(cursor[start:] if end < 0 else cursor[start:end], 16)
    except ValueError:
        return None


def level(record: dict[str, Any]) -> str:
    priority = record.get("PRIORITY")
    if isinstance(priority, str) and len(priority) == 1 and "0" <= priority <= "7":
        return LEVEL_OF_PRIORITY[int(priority)]
    return DEFAULT_LEVEL


def source(record: dict[str, Any]) -> str:
    for field in SOURCE_FIELDS:
        value = record.get(field)
        if value:
            return text(value)
    return ""


def to_event(record: dict[str, Any], target: str, computer: str, collected_at: str) -> Event:
    """One ``journalctl -o json`` record as an Event (KeyError/ValueError when it has no time).

    ``computer`` stands in for a missing ``_HOSTNAME``. Data holds every other field (values
    as text, multiple values as lists), ``PRIORITY`` and ``__CURSOR`` included.
    """
    return Event(**_owned_fields(dict(record), target, computer, collected_at))


def _owned_fields(
    record: dict[str, Any], target: str, computer: str, collected_at: str
) -> dict[str, Any]:
    """:func:`to_event`'s fields (in :data:`~eventsweep.model.FIELDS` order) for a record
    nobody else holds: the mapped fields are popped from it and what is left is the data (the
    same fields in the same order), kept as it is when every value is text, as almost always."""
    time = iso_us(int(record["__REALTIME_TIMESTAMP"]))
    number = record_id(record)
    event_level = level(record)
    event_source = source(record)
    pop = record.pop
    del record["__REALTIME_TIMESTAMP"]
    hostname = pop("_HOSTNAME", None)
    message = pop("MESSAGE", None)
    pop("SYSLOG_IDENTIFIER", None)
    pop("__SEQNUM", None)
    if not _TEXT.issuperset(map(type, record.values())):
        record = {
            key: value if value.__class__ is str else _data_value(value)
            for key, value in record.items()
        }
    return {
        "time": time,
        "target": target,
        "computer": (hostname if hostname.__class__ is str else text(hostname)) or computer,
        "log": "journal",
        "record_id": number,
        "event_id": None,
        "level": event_level,
        "source": event_source,
        "category": None,
        "message": message if message.__class__ is str else text(message),
        "data": record,
        "collected_at": collected_at,
    }


iso_us = iso_from_epoch_us  # the name this module's callers and tests know


def parse(line: bytes, target: str, computer: str, collected_at: str) -> dict[str, Any] | None:
    """The line's event fields, or None when it is not a journal record with a time."""
    try:
        record = _loads(line)
        if record.__class__ is not dict:
            raise TypeError("not an object")
        return _owned_fields(record, target, computer, collected_at)
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
        return None
