"""Parsing chunks of an .evtx file into events: the CPU-bound part, run in worker processes.

A chunk is self-contained, so the file header followed by any chosen chunks parses like a file
of its own. The `evtx` package (Rust) renders each record as JSON; orjson reads it, and the
normalisation below maps it to the event shape, and orjson writes each event's JSON Lines text
here, in the worker. Results travel back as (time, line) pairs: bytes pickle at the cost of a
copy, and the parent decodes an event's fields only if something reads them
(:class:`~eventsweep.model.EncodedEvent`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson
from evtx import PyEvtxParser

from eventsweep.model import Query, parse_iso
from eventsweep.sources.evtx_layout import (
    AUDIT_FAILURE,
    AUDIT_SUCCESS,
    CHUNK_SIZE,
    HEADER_SIZE,
    LEVEL_WORDS,
    SLACK_SECONDS,
    Chunk,
    render,
)

Encoded = tuple[str, bytes]
"""An event as a worker sends it: its time and its JSON Lines text (one object, newline)."""
_MAX_ERRORS = 100_000  # a parser that keeps failing in place must not loop forever
_CREATED = '"TimeCreated":{"#attributes":{"SystemTime":"'
_loads, _dumps = orjson.loads, orjson.dumps
_PLAIN = {n: word for n, word in LEVEL_WORDS.items() if n != 4}  # levels Keywords can't change
_level_words: dict[tuple[Any, Any], str] = {}  # (Level, Keywords) as found → level word


class Parsed(NamedTuple):
    """What a group of chunks gave."""

    events: list[Encoded]  # the matching events, record id descending
    errors: int  # records and chunks the parser (or orjson) refused
    seen: int  # records read
    late: int  # records (window queries only) written over SLACK_SECONDS from TimeCreated


def parse_chunks(
    path: str,
    chunks: Iterable[Chunk],
    query: Query,
    target: str,
    collected_at: str,
    after: int | None = None,
) -> Parsed:
    """The matching events of the given chunks, and counts (:class:`Parsed`).

    Each event comes back encoded (:data:`Encoded`): its JSON text is made here, in the worker,
    so the parent neither unpickles nor re-serialises its fields on the way to JSON Lines.
    The parser raises for each bad chunk or record and resumes after it when asked for the
    next one; counting those here (rather than through its skip_errors warnings, which go
    through the process-global warnings filters) is safe in threads too. ``after``: only the
    records whose header's record id is above it (``--new``, see evtx_resume).
    """
    found: list[tuple[int, str, bytes]] = []
    seen = errors = late = 0
    windowed = query.since is not None or query.until is not None
    filtered = query != Query(since=query.since, until=query.until, limit=query.limit)
    records = PyEvtxParser(_assemble(path, chunks), number_of_threads=1).records_json()
    while errors < _MAX_ERRORS:
        try:
            for record in records:
                seen += 1
                if record is None or (after is not None and record["event_record_id"] <= after):
                    continue
                if windowed:
                    created = _created_in(record["data"])
                    if created[:13] != record["timestamp"][:13] and _late(created, record):
                        late += 1
                    if created and not query.in_window(created):
                        continue
                try:
                    event = normalise(record, target, collected_at)
                    if event is None:
                        continue
                    if filtered:  # every filter, the window included
                        if not query.accepts(event):
                            continue
                    elif windowed and not query.in_window(event["time"]):
                        continue
                    line = _dumps(event) + b"\n"  # model.json_line, inlined: the hot loop
                except (ValueError, TypeError):  # JSON the parser made but orjson refuses
                    errors += 1
                    continue
                found.append((event["record_id"] or 0, event["time"], line))
            break
        except RuntimeError:  # a bad chunk or record; the parser goes on after it
            errors += 1
    found.sort(reverse=True)
    return Parsed([(time, line) for _, time, line in found], errors, seen, late)


def _created_in(text: str) -> str:
    """TimeCreated read from the raw JSON, before decoding it ("" when absent)."""
    at = text.find(_CREATED)
    if at < 0:
        return ""
    end = text.find('"', at + len(_CREATED))
    return fixed_time(text[at + len(_CREATED) : end])


def _late(created: str, record: dict[str, Any]) -> bool:
    """Whether the record was written over SLACK_SECONDS before or after its TimeCreated
    (forwarded or late-written events: a window over write times can miss such records)."""
    written = _write_time(record)
    if not created or not written or written < "1990":
        return False
    gap = parse_iso(written) - parse_iso(created)
    return abs(gap.total_seconds()) > SLACK_SECONDS


def _assemble(path: str, chunks: Iterable[Chunk]) -> io.BytesIO:
    buffer = io.BytesIO()
    with open(path, "rb") as file:
        buffer.write(file.read(HEADER_SIZE))
        for chunk in chunks:
            file.seek(HEADER_SIZE + chunk.slot * CHUNK_SIZE)
            buffer.write(file.read(CHUNK_SIZE).ljust(CHUNK_SIZE, b"\x00"))
    buffer.seek(0)
    return buffer


def normalise(record: dict[str, Any], target: str, collected_at: str) -> dict[str, Any] | None:
    """One `evtx` JSON record as an event's fields, in :data:`~eventsweep.model.FIELDS` order
    (None for a record with no Event element).

    The hot path of a full sweep: the common shapes (plain ints and strings, EventData
    without attributes, message from the data) are handled inline, every other shape by the
    helpers below.
    """
    event = _loads(record["data"]).get("Event")
    if type(event) is not dict:
        return None
    system = event.get("System")
    get = system.get if type(system) is dict else {}.get
    data = event.get("EventData")
    if type(data) is not dict or "#attributes" in data:
        data = _data(event)
    rendering = event.get("RenderingInfo")
    message = render(data) if rendering is None else _message(rendering, data)
    record_id, event_id, level = get("EventRecordID"), get("EventID"), get("Level")
    computer, log, task = get("Computer"), get("Channel"), get("Task")
    return {
        "time": _created(get("TimeCreated")) or _write_time(record),
        "target": target,
        "computer": computer if type(computer) is str else _text(computer),
        "log": log if type(log) is str else _text(log),
        "record_id": record_id if type(record_id) is int else _record_id(record_id, record),
        "event_id": event_id & 0xFFFF if type(event_id) is int else _event_id(event_id),
        "level": _level(level, get("Keywords")),
        "source": _provider(get("Provider")),
        "category": task if type(task) is int else _int(task),
        "message": message,
        "data": data,
        "collected_at": collected_at,
    }


def _record_id(node: Any, record: dict[str, Any]) -> int:
    number = _int(node)
    return number if number is not None else int(record["event_record_id"])


def _created(node: Any) -> str:
    try:
        text = node["#attributes"]["SystemTime"]
    except (TypeError, KeyError):
        return ""
    if type(text) is str and len(text) == 27 and text[19] == "." and text[26] == "Z":
        return text
    return fixed_time(text)


def fixed_time(text: Any) -> str:
    """``2024-01-10T21:19:59.7881709Z`` → ``2024-01-10T21:19:59.788170Z`` (fixed width, µs)."""
    if type(text) is str and len(text) == 27 and text[19] == "." and text[26] == "Z":
        return text  # already fixed width: the common case
    if not isinstance(text, str) or len(text) < 19:
        return ""
    head = text[:10] + "T" + text[11:19]  # a space or a T between date and time
    fraction = text[20:].rstrip("Z").split("+")[0] if text[19:20] == "." else ""
    return f"{head}.{fraction.ljust(6, '0')[:6]}Z"


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
    try:
        return str(node["#attributes"]["Name"])
    except (TypeError, KeyError):
        return str(_attribute(node, "Name") or _attribute(node, "EventSourceName") or "")


def _level(level: Any, keywords: Any) -> str:
    if type(level) is int and level in _PLAIN:
        return _PLAIN[level]
    try:
        return _level_words[level, keywords]
    except KeyError:
        word = _level_word(level, keywords)
        if len(_level_words) < 1024:  # a hostile file cannot grow it without bound
            _level_words[level, keywords] = word
        return word
    except TypeError:  # an unhashable node
        return _level_word(level, keywords)


def _level_word(level: Any, keywords: Any) -> str:
    number = _int(level) or 0
    if number in (0, 4):
        bits = _int(keywords) or 0
        if bits & AUDIT_FAILURE:
            return "audit_failure"
        if bits & AUDIT_SUCCESS:
            return "audit_success"
    return LEVEL_WORDS.get(number, "info")


def _data(event: dict[str, Any]) -> dict[str, Any]:
    """EventData's named values; or UserData's one element's children; attributes dropped."""
    node = event.get("EventData")
    if node is None:
        user = event.get("UserData")
        if isinstance(user, dict):
            children = [value for key, value in user.items() if key != "#attributes"]
            node = children[0] if len(children) == 1 else user
    if type(node) is dict:
        if "#attributes" not in node:
            return node
        return {key: value for key, value in node.items() if key != "#attributes"}
    return {} if node is None else {"Data": node}


def _message(rendering: Any, data: dict[str, Any]) -> str:
    """RenderingInfo's Message (forwarded events, eventsweep's own files), else the data."""
    if isinstance(rendering, dict) and rendering.get("Message") is not None:
        return _text(rendering["Message"])
    return render(data)
