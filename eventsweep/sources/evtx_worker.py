"""Parsing chunks of an .evtx file into events: the CPU-bound part, run in worker processes.

A chunk is self-contained, so the file header followed by any chosen chunks parses like a file
of its own (:func:`~eventsweep.formats.evtx.index.assemble`). The `evtx` package (Rust) renders
each record as JSON; orjson reads it, the normalisation below maps it to the event shape, and
orjson writes each event's JSON Lines text here, in the worker. A group's events travel back as
one list of times and one block of their lines (:class:`Group`): cheap to pickle, and the
parent decodes an event's fields only if something reads them
(:class:`~eventsweep.model.EncodedEvent`).

Every value read from a record may be damaged (a bit flip on disk): a time that is not a valid
fixed-width ISO time between 1601 and 9999 is never passed on. A damaged ``TimeCreated`` gives
way to the record's write time; a record with neither, or with any other value that breaks the
mapping, is skipped and counted (:attr:`Group.damaged`), never the file.

Hunting: given a rule set (a :class:`~eventsweep.detect.workers.RuleRef`), each event that
passes the query is matched here too, by the one matcher (:meth:`RuleSet.match`), and comes
back with its detections (:attr:`Group.detections`); with ``every`` False only the events some
rule matched come back, the others are only counted (:attr:`Group.passed`), so the parent
does nothing for them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from evtx import PyEvtxParser

from eventsweep.formats.evtx.index import SLACK_SECONDS, ChunkSlot, assemble
from eventsweep.formats.evtx.layout import AUDIT_FAILURE, AUDIT_SUCCESS, LEVEL_WORDS, render
from eventsweep.model import Event, Query, parse_iso

if TYPE_CHECKING:  # imported by a hunt's first group only (see Hunting below)
    from eventsweep.detect.rules import Detection
    from eventsweep.detect.workers import RuleRef

Encoded = tuple[str, bytes]
"""An event as a worker sends it: its time and its JSON Lines text (one object, newline)."""
_MAX_ERRORS = 100_000  # a parser that keeps failing in place must not loop forever
_CREATED = '"TimeCreated":{"#attributes":{"SystemTime":"'
_loads, _dumps = orjson.loads, orjson.dumps
_PLAIN = {n: word for n, word in LEVEL_WORDS.items() if n != 4}  # levels Keywords can't change
_level_words: dict[tuple[Any, Any], str] = {}  # (Level, Keywords) as found → level word
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z")
_fast = _TIME.fullmatch
_HOURS: set[str] = set()  # "YYYY-MM-DDTHH" found valid
_tally = threading.local()  # per parse: records whose TimeCreated was damaged (retimed)
# What a record's mapping may raise on a damaged value: the record is skipped, not the file.
_DAMAGE = (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError)


class Group(NamedTuple):
    """What a group of chunks gave: the matching events, record id descending, as their times
    and one block of their JSON lines; and counts."""

    times: list[str]
    lines: bytes
    errors: int  # records and chunks the parser (or orjson) refused
    seen: int  # records read
    late: int  # records (window queries only) written over SLACK_SECONDS from TimeCreated
    damaged: int = 0  # records skipped for a damaged value (no valid time, a broken field)
    retimed: int = 0  # records whose TimeCreated was damaged: their write time is used
    detections: list[tuple[Detection, ...]] | None = None  # a hunt's: each event's, in order
    passed: int = 0  # a hunt's events that no rule matched, not sent (``every`` False)


class Parsed(NamedTuple):
    """:class:`Group` with each event as a (time, line) pair."""

    events: list[Encoded]
    errors: int
    seen: int
    late: int


def parse_chunks(
    path: str, chunks: Iterable[ChunkSlot], query: Query, target: str, collected_at: str
) -> Parsed:
    """:func:`parse_group`, each event as a (time, line) pair."""
    group = parse_group(path, chunks, query, target, collected_at)
    lines = group.lines.splitlines(keepends=True)
    return Parsed(list(zip(group.times, lines, strict=True)), group.errors, group.seen, group.late)


def parse_group(
    path: str,
    chunks: Iterable[ChunkSlot],
    query: Query,
    target: str,
    collected_at: str,
    after: int | None = None,
    rules: RuleRef | None = None,
    every: bool = True,
) -> Group:
    """The matching events of the given chunks, and counts (:class:`Group`).

    Each event comes back encoded: its JSON text is made here, in the worker, so the parent
    neither unpickles nor re-serialises its fields on the way to JSON Lines. The parser raises
    for each bad chunk or record and resumes after it when asked for the next one; counting
    those here (rather than through its skip_errors warnings, which go through the
    process-global warnings filters) is safe in threads too. ``after``: only the records whose
    header's record id is above it (``--new``, see :mod:`eventsweep.sources.evtx_resume`).
    ``rules``, ``every``: a hunt's (see the module docstring).
    """
    found: list[tuple[int, str, bytes, tuple[Detection, ...]]] = []
    seen = errors = late = damaged = passed = 0
    match = _matcher(rules)
    hits: tuple[Detection, ...] = ()
    _tally.retimed = 0
    windowed = query.since is not None or query.until is not None
    filtered = query != Query(since=query.since, until=query.until, limit=query.limit)
    records = PyEvtxParser(assemble(path, chunks), number_of_threads=1).records_json()
    while errors < _MAX_ERRORS:
        try:
            for record in records:
                seen += 1
                if record is None or (after is not None and record["event_record_id"] <= after):
                    continue
                try:
                    if windowed:
                        created = _created_in(record["data"])
                        if created[:13] != record["timestamp"][:13] and _late(created, record):
                            late += 1
                        if created and not query.in_window(created):
                            continue
                    event = normalise(record, target, collected_at)
                    if event is None:
                        continue
                    if not event["time"]:
                        damaged += 1
                        continue
                    if filtered:  # every filter, the window included
                        if not query.accepts(event):
                            continue
                    elif windowed and not query.in_window(event["time"]):
                        continue
                    if match is not None:
                        hits = tuple(match(Event(*event.values())))
                        if not hits and not every:
                            passed += 1
                            continue
                    line = _dumps(event) + b"\n"  # model.json_line, inlined: the hot loop
                except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # orjson refuses
                    errors += 1
                    continue
                except _DAMAGE:
                    damaged += 1
                    continue
                found.append((event["record_id"] or 0, event["time"], line, hits))
            break
        except RuntimeError:  # a bad chunk or record; the parser goes on after it
            errors += 1
    found.sort(key=_order, reverse=True)
    times = [item[1] for item in found]
    lines = b"".join([item[2] for item in found])
    detections = [item[3] for item in found] if match is not None else None
    return Group(times, lines, errors, seen, late, damaged, _tally.retimed, detections, passed)


def _order(item: tuple[int, str, bytes, Any]) -> tuple[int, str, bytes]:
    return item[0], item[1], item[2]


def _matcher(rules: RuleRef | None) -> Any:
    """The match function of a hunt's rule set (loaded once per process), or None."""
    if rules is None:
        return None
    from eventsweep.detect.workers import rules_of

    return rules_of(rules).match


def _created_in(text: str) -> str:
    """TimeCreated read from the raw JSON, before decoding it ("" when absent or damaged)."""
    at = text.find(_CREATED)
    if at < 0:
        return ""
    end = text.find('"', at + len(_CREATED))
    return valid_time(text[at + len(_CREATED) : end])


def _late(created: str, record: dict[str, Any]) -> bool:
    """Whether the record was written over SLACK_SECONDS before or after its TimeCreated
    (forwarded or late-written events: a window over write times can miss such records)."""
    written = _write_time(record)
    if not created or not written or written < "1990":
        return False
    gap = parse_iso(written) - parse_iso(created)
    return abs(gap.total_seconds()) > SLACK_SECONDS


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
    """TimeCreated's SystemTime, valid (:func:`valid_time`); "" when absent or damaged (a
    damaged one is counted in the running parse's tally)."""
    try:
        text = node["#attributes"]["SystemTime"]
    except (TypeError, KeyError):
        return ""
    if type(text) is str and _fast(text) is not None and text[:13] in _HOURS:
        return text  # the common case: fixed width, digits, an hour seen before
    time = valid_time(text)
    if not time and text is not None:
        _tally.retimed = getattr(_tally, "retimed", 0) + 1
    return time


def valid_time(text: Any) -> str:
    """:func:`fixed_time`, if that is a real time between 1601 and 9999, else ""."""
    fixed = fixed_time(text)
    if _fast(fixed) is None or not _valid_hour(fixed[:13]):
        return ""
    return fixed


def _valid_hour(text: str) -> bool:
    """Whether ``YYYY-MM-DDTHH`` (digits already) names an hour of a day from 1601 to 9999
    (those found valid are kept, up to a bound, for the common case's one lookup)."""
    if text in _HOURS:
        return True
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        return False
    if text[:4] >= "1601" and text[11:13] < "24":
        if len(_HOURS) < 65_536:
            _HOURS.add(text)
        return True
    return False


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
    return valid_time(str(record.get("timestamp", "")).removesuffix(" UTC"))


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
