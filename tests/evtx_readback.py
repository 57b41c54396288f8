"""Read an .evtx file back with the two independent parsers, into plain comparable records.

``rust`` uses the `evtx` package (Rust, JSON rendering, checksums validated); ``python`` uses
python-evtx (pure Python, XML rendering). ``expected`` says, from the writer's documented
mapping and without its code, what either should find for an event.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from xml.sax import saxutils

import orjson
from Evtx import Views
from evtx import PyEvtxParser
from Evtx.Evtx import Evtx

from eventsweep.model import Event

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
LEVELS = {"critical": 1, "error": 2, "warning": 3, "info": 4, "verbose": 5}
AUDIT = {"audit_success": 0x8020000000000000, "audit_failure": 0x8010000000000000}


def rust(path: Path) -> list[dict[str, Any]]:
    """Every record as the `evtx` package reads it (checksums validated, errors raised)."""
    parser = PyEvtxParser(str(path), validate_checksums=True)
    return [_from_json(record) for record in parser.records_json() if record is not None]


def _from_json(record: dict[str, Any]) -> dict[str, Any]:
    event = json.loads(record["data"])["Event"]
    system = event["System"]
    event_id = system["EventID"]
    qualifiers = None
    if isinstance(event_id, dict):
        qualifiers, event_id = event_id["#attributes"]["Qualifiers"], event_id["#text"]
    data = event.get("EventData") or {}
    rendering = event.get("RenderingInfo")
    return {
        "number": record["event_record_id"],
        "provider": _text(((system["Provider"] or {}).get("#attributes") or {}).get("Name")),
        "event_id": event_id,
        "qualifiers": qualifiers,
        "level": system["Level"],
        "task": system["Task"],
        "keywords": int(system["Keywords"], 16),
        "time": system["TimeCreated"]["#attributes"]["SystemTime"],
        "record_id": system["EventRecordID"],
        "channel": _text(system["Channel"]),
        "computer": _text(system["Computer"]),
        "data": data,
        "message": None if rendering is None else _text(rendering.get("Message")),
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def python(path: Path) -> list[dict[str, Any]]:
    """Every record as python-evtx reads it (its XML, parsed by the standard library).

    python-evtx leaves ``"`` unescaped inside attribute values (a TODO in its Views.py), which
    breaks its XML for a name or provider holding one; its escaping is completed here (and
    whitespace kept as character references, so XML attribute normalisation leaves it alone).
    """
    with mock.patch.object(Views, "escape_value", _escape), Evtx(str(path)) as log:
        return [_from_xml(record.record_num(), record.xml()) for record in log.records()]


def _escape(text: str) -> str:
    """Also keep quotes and whitespace intact inside attribute values, as character references."""
    return saxutils.escape(text, {'"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})


def _from_xml(number: int, text: str) -> dict[str, Any]:
    root = ElementTree.fromstring(text)
    system = root.find(f"{NS}System")
    assert system is not None
    event_id = system.find(f"{NS}EventID")
    assert event_id is not None
    message = root.find(f"{NS}RenderingInfo/{NS}Message")
    return {
        "number": number,
        "provider": _find(system, "Provider").get("Name", ""),
        "event_id": int(event_id.text or 0),
        "qualifiers": _int_or_none(event_id.get("Qualifiers")),
        "level": int(_find(system, "Level").text or 0),
        "task": int(_find(system, "Task").text or 0),
        "keywords": int(_find(system, "Keywords").text or "0", 16),
        "time": _find(system, "TimeCreated").get("SystemTime"),
        "record_id": int(_find(system, "EventRecordID").text or 0),
        "channel": _find(system, "Channel").text or "",
        "computer": _find(system, "Computer").text or "",
        "data": {item.get("Name"): item.text or "" for item in root.iter(f"{NS}Data")},
        "message": None if message is None else message.text or "",
    }


def _find(system: ElementTree.Element, name: str) -> ElementTree.Element:
    found = system.find(f"{NS}{name}")
    assert found is not None, name
    return found


def _int_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)


_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """The writer's documented character mapping, written independently."""
    return "".join(_safe(char) for char in text)


def _safe(char: str) -> str:
    if not _INVALID.match(char):
        return char
    return chr(0x2400 + ord(char)) if ord(char) < 0x20 else "\ufffd"


def expected(event: Event, number: int) -> dict[str, Any]:
    """What both parsers should find for an event written as record ``number``."""
    event_id = event.event_id or 0
    keywords = AUDIT.get(event.level, 0)
    return {
        "number": number,
        "provider": xml_safe(event.source),
        "event_id": event_id & 0xFFFF,
        "qualifiers": event_id >> 16 or None,
        "level": 0 if keywords else LEVELS[event.level],
        "task": event.category or 0,
        "keywords": keywords,
        "time": event.time,
        "record_id": number if event.record_id is None else event.record_id,
        "channel": xml_safe(event.log),
        "computer": xml_safe(event.computer),
    }


def data_as_rust(value: Any) -> Any:
    """A data value as the `evtx` package gives it back (the README's value mapping)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return xml_safe(orjson.dumps(value).decode())


def data_as_python(value: Any) -> str:
    """A data value as python-evtx's XML gives it back: text."""
    return str(value) if isinstance(value, bool) else str(data_as_rust(value))


def mapped_names(names: list[str]) -> list[str]:
    """The README's Data name mapping, written independently of the writer."""
    taken: set[str] = set()
    mapped = []
    for name in names:
        candidate = xml_safe(name)
        if not candidate:
            candidate = "_"
        elif candidate in ("#attributes", "#text"):
            candidate = "_" + candidate
        elif len(candidate) > 255:
            candidate = candidate[:254] + "…"
        unique, number = candidate, 1
        while unique in taken:
            number += 1
            unique = f"{candidate}_{number}"
        taken.add(unique)
        mapped.append(unique)
    return mapped


def same_time(python_time: str | None, event_time: str) -> bool:
    """python-evtx renders FILETIME through a float (30 µs steps by year 6000): within 1 ms."""
    assert python_time is not None
    seen = datetime.fromisoformat(python_time.replace(" ", "T"))
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    want = datetime.fromisoformat(event_time.replace("Z", "+00:00"))
    return abs(seen - want) <= timedelta(milliseconds=1)
