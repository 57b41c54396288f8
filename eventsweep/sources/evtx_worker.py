"""Parsing chunks of an .evtx file into events: the CPU-bound part, run in worker processes.

A chunk is self-contained, so the file header followed by any chosen chunks parses like a file
of its own. The `evtx` package (Rust) renders each record as JSON; orjson reads it, and the
normalisation below maps it to the event shape. Results travel back as plain tuples (cheap to
pickle) in :data:`~eventsweep.model.FIELDS` order.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import orjson
from evtx import PyEvtxParser

from eventsweep.model import Query
from eventsweep.sources.evtx_layout import CHUNK_SIZE, HEADER_SIZE, Chunk

EventTuple = tuple[Any, ...]
_LEVELS = {1: "critical", 2: "error", 3: "warning", 4: "info", 5: "verbose"}
_AUDIT_SUCCESS = 0x0020000000000000
_AUDIT_FAILURE = 0x0010000000000000
_MAX_ERRORS = 100_000  # a parser that keeps failing in place must not loop forever
_CREATED = '"TimeCreated":{"#attributes":{"SystemTime":"'


def parse_chunks(
    path: str, chunks: Iterable[Chunk], query: Query, target: str, collected_at: str
) -> tuple[list[EventTuple], int, int]:
    """The matching events of the given chunks (record id descending), errors, records seen.

    The parser raises for each bad chunk or record and resumes after it when asked for the
    next one; counting those here (rather than through its skip_errors warnings, which go
    through the process-global warnings filters) is safe in threads too.
    """
    found: list[EventTuple] = []
    seen = errors = 0
    windowed = query.since is not None or query.until is not None
    records = PyEvtxParser(_assemble(path, chunks)).records_json()
    while errors < _MAX_ERRORS:
        try:
            record = next(records)
        except StopIteration:
            break
        except RuntimeError:
            errors += 1
            continue
        seen += 1
        if record is None or (windowed and not _maybe_in_window(query, record["data"])):
            continue
        event = normalise(record, target, collected_at)
        if event is not None and _matches(query, event):
            found.append(event)
    found.sort(key=lambda event: event[4] or 0, reverse=True)
    return found, errors, seen


def _maybe_in_window(query: Query, text: str) -> bool:
    """A cheap look at TimeCreated in the raw JSON, before decoding it: False only when the
    record certainly lies outside the window."""
    at = text.find(_CREATED)
    if at < 0:
        return True
    end = text.find('"', at + len(_CREATED))
    created = fixed_time(text[at + len(_CREATED) : end])
    return not created or query.in_window(created)


def _assemble(path: str, chunks: Iterable[Chunk]) -> io.BytesIO:
    buffer = io.BytesIO()
    with open(path, "rb") as file:
        buffer.write(file.read(HEADER_SIZE))
        for chunk in chunks:
            file.seek(HEADER_SIZE + chunk.slot * CHUNK_SIZE)
            buffer.write(file.read(CHUNK_SIZE).ljust(CHUNK_SIZE, b"\x00"))
    buffer.seek(0)
    return buffer


def _matches(query: Query, event: EventTuple) -> bool:
    time, _, _, log, _, event_id, level, source, _, message = event[:10]
    return (
        query.in_window(time)
        and (not query.levels or level in query.levels)
        and query.wants_event_id(event_id)
        and (not query.sources or source.lower() in query.sources)
        and query.wants_log(log)
        and (query.grep is None or query.grep.search(message) is not None)
    )


def normalise(record: dict[str, Any], target: str, collected_at: str) -> EventTuple | None:
    """One `evtx` JSON record as an event tuple (None for a record with no Event element)."""
    event = orjson.loads(record["data"]).get("Event")
    if not isinstance(event, dict):
        return None
    system = event.get("System") or {}
    data = _data(event)
    record_id = _int(system.get("EventRecordID"))
    return (
        fixed_time(_attribute(system.get("TimeCreated"), "SystemTime")) or _write_time(record),
        target,
        _text(system.get("Computer")),
        _text(system.get("Channel")),
        record_id if record_id is not None else record["event_record_id"],
        _event_id(system.get("EventID")),
        _level(system.get("Level"), system.get("Keywords")),
        _provider(system.get("Provider")),
        _int(system.get("Task")),
        _message(event.get("RenderingInfo"), data),
        data,
        collected_at,
    )


def fixed_time(text: Any) -> str:
    """``2024-01-10T21:19:59.7881709Z`` → ``2024-01-10T21:19:59.788170Z`` (fixed width, µs)."""
    if type(text) is str and len(text) == 27 and text[19] == "." and text[26] == "Z":
        return text  # already fixed width: the common case
    if not isinstance(text, str) or len(text) < 19:
        return ""
    head, _, fraction = text[:19], text[19:20], text[20:].rstrip("Z").split("+")[0]
    return f"{head}.{(fraction if _ == '.' else '').ljust(6, '0')[:6]}Z"


def _write_time(record: dict[str, Any]) -> str:
    return fixed_time(str(record.get("timestamp", "")).removesuffix(" UTC"))


def _attribute(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        return (node.get("#attributes") or {}).get(name)
    return None


def _text(node: Any) -> str:
    if type(node) is str:
        return node
    if isinstance(node, dict):
        node = node.get("#text")
    return "" if node is None else str(node)


def _int(node: Any) -> int | None:
    if type(node) is int:
        return node
    if isinstance(node, dict):
        node = node.get("#text")
    if isinstance(node, int):
        return node
    try:
        return int(str(node), 0) if node is not None else None
    except ValueError:
        return None


def _event_id(node: Any) -> int | None:
    value = _int(node)
    return value & 0xFFFF if value is not None else None


def _provider(node: Any) -> str:
    return str(_attribute(node, "Name") or _attribute(node, "EventSourceName") or "")


def _level(level: Any, keywords: Any) -> str:
    number = _int(level) or 0
    if number in (0, 4):
        bits = _int(keywords) or 0
        if bits & _AUDIT_FAILURE:
            return "audit_failure"
        if bits & _AUDIT_SUCCESS:
            return "audit_success"
    return _LEVELS.get(number, "info")


def _data(event: dict[str, Any]) -> dict[str, Any]:
    """EventData's named values; or UserData's one element's children; attributes dropped."""
    node = event.get("EventData")
    if node is None:
        user = event.get("UserData")
        if isinstance(user, dict):
            children = [value for key, value in user.items() if key != "#attributes"]
            node = children[0] if len(children) == 1 else user
    if isinstance(node, dict):
        return {key: value for key, value in node.items() if key != "#attributes"}
    return {} if node is None else {"Data": node}


def _message(rendering: Any, data: dict[str, Any]) -> str:
    """RenderingInfo's Message (forwarded events, eventsweep's own files), else the data."""
    if isinstance(rendering, dict) and rendering.get("Message") is not None:
        return _text(rendering["Message"])
    return render(data)


def render(data: dict[str, Any]) -> str:
    """The message of a record without message text: its data as ``Name=Value`` pairs."""
    return "; ".join(
        [f"{name}={value if type(value) is str else _value(value)}" for name, value in data.items()]
    )


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return orjson.dumps(value).decode()
