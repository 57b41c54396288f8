"""An independent reading of an .evtx file: a full parse, stdlib json, fields picked by hand.

It shares no code with eventsweep's reader (which selects chunks, parses them in worker
processes and normalises with orjson): if both agree, selection and normalisation are right.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evtx import PyEvtxParser

LEVELS = {1: "critical", 2: "error", 3: "warning", 4: "info", 5: "verbose"}


@dataclass(frozen=True)
class Reference:
    time: str
    record_id: int
    event_id: int | None
    level: str
    source: str
    computer: str
    log: str
    category: int | None
    names: tuple[str, ...]


def _time(text: str) -> str:
    date, _, fraction = text.rstrip("Z").partition(".")
    return f"{date}.{fraction[:6]:0<6}Z"


def _number(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("#text")
    if value is None or str(value).strip() == "":
        return None
    return int(str(value).strip(), 0)


def _level(system: dict[str, Any]) -> str:
    level = _number(system.get("Level")) or 0
    keywords = _number(system.get("Keywords")) or 0
    if level in (0, 4) and keywords & (1 << 52):
        return "audit_failure"
    if level in (0, 4) and keywords & (1 << 53):
        return "audit_success"
    return LEVELS.get(level, "info")


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("#text")
    return "" if value is None else str(value)


def _created(system: dict[str, Any]) -> str | None:
    created = system.get("TimeCreated")
    return (
        ((created or {}).get("#attributes") or {}).get("SystemTime")
        if isinstance(created, dict)
        else None
    )


def _one(record: dict[str, Any]) -> Reference:
    event = json.loads(record["data"])["Event"]
    system = event["System"]
    attributes = (system.get("Provider") or {}).get("#attributes") or {}
    event_id = _number(system.get("EventID"))
    data = event.get("EventData")
    names = tuple(k for k in data if k != "#attributes") if isinstance(data, dict) else ()
    return Reference(
        time=_time(_created(system) or record["timestamp"].removesuffix(" UTC")),
        record_id=_number(system.get("EventRecordID")) or record["event_record_id"],
        event_id=event_id & 0xFFFF if event_id is not None else None,
        level=_level(system),
        source=attributes.get("Name") or attributes.get("EventSourceName") or "",
        computer=_plain(system.get("Computer")),
        log=_plain(system.get("Channel")),
        category=_number(system.get("Task")),
        names=names,
    )


def read(path: Path) -> list[Reference]:
    """Every record of the file, as a full parse gives them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = PyEvtxParser(str(path), skip_errors=True).records_json()
        return [_one(r) for r in records if r is not None]
