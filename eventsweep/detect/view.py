"""An event as the rules read it: every field's text computed once, whatever the number of
rules asking (see :mod:`eventsweep.detect.match`).

A Sigma field name reads the event field :mod:`eventsweep.detect.fields` maps it to, else
``data[name]``, else the data key equal to it in another case. A value is compared as text:
a string as it is, a number as its digits, a bool as ``true``/``false``, a list as each of its
items; None is no value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsweep.detect.fields import AUDIT_KEYWORDS, LEVEL_NUMBERS, LINUX, WINDOWS
from eventsweep.model import Event
from eventsweep.sources.winrpc.records import MESSAGE_SEPARATOR

MISSING = object()  # what a field the event lacks reads as
_LINUX, _WINDOWS = dict(LINUX), dict(WINDOWS)  # (plain dicts: a faster lookup)
_UNSET = object()  # not computed yet (a fresh view computes every field once: no exceptions)


def text_of(value: Any) -> str | tuple[str, ...] | None:
    """The text(s) a value is compared as: None stays None, a list gives each item's text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        texts = [text_of(item) for item in value]
        return tuple(text for text in texts if isinstance(text, str))
    return str(value)


def _lower(text: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
    if text is None or isinstance(text, str):
        return text.lower() if text is not None else None
    return tuple(item.lower() for item in text)


_FOLDED: dict[tuple[str, ...], dict[str, str]] = {}


def _folded(keys: tuple[str, ...]) -> dict[str, str]:
    """Lower-cased key → key, shared by the events of one shape (bounded)."""
    folded = _FOLDED.get(keys)
    if folded is None:
        if len(_FOLDED) > 4096:
            _FOLDED.clear()
        folded = _FOLDED[keys] = {key.lower(): key for key in keys}
    return folded


class View:
    """One event as the rules read it; every field's text is computed once, then cached."""

    __slots__ = (
        "_blob",
        "_fields",
        "_folded",
        "_keywords",
        "_keywords_low",
        "_raw",
        "_text",
        "event",
        "linux",
        "lows",
    )

    def __init__(self, event: Event) -> None:
        self.event = event
        self.linux = event.log == "journal"
        self._fields = _LINUX if self.linux else _WINDOWS
        self._raw: dict[str, Any] = {}
        self.lows: dict[str, Any] = {}  # field name → its lower-cased text(s), once read
        self._blob: dict[bool, str] = {}
        self._text: dict[str, Any] = {}
        self._folded: dict[str, str] | None = None
        self._keywords: tuple[tuple[str, str], ...] | None = None
        self._keywords_low: tuple[tuple[str, str], ...] | None = None

    def raw(self, name: str) -> Any:
        """The value a Sigma field name reads (``MISSING`` when the event has no such field)."""
        value = self._raw.get(name, _UNSET)
        if value is _UNSET:
            value = self._raw[name] = self._read(name)
        return value

    def _read(self, name: str) -> Any:
        attr = self._fields.get(name)
        if attr is None:
            data = self.event.data
            return data[name] if name in data else data.get(self.key(name), MISSING)
        if attr == "level_number":
            return LEVEL_NUMBERS.get(self.event.level, MISSING)
        if attr == "audit_keywords":
            return AUDIT_KEYWORDS.get(self.event.level, MISSING)
        return getattr(self.event, attr)

    def key(self, name: str) -> str:
        """The data key a field name reads: its own spelling, else the one equal in any case."""
        data = self.event.data
        if name in data:
            return name
        if self._folded is None:
            self._folded = _folded(tuple(data))
        return self._folded.get(name.lower(), name)

    def has(self, name: str) -> bool:
        """Whether the field can read as something for events of this one's shape (an event
        field, or a data key): False means it reads as missing for all of them."""
        return self.event_field(name) or self.key(name) in self.event.data

    def event_field(self, name: str) -> bool:
        """Whether a Sigma field name reads one of the event's own fields (not its data)."""
        return name in self._fields

    def field_name(self, name: str) -> str:
        """The event field name a Sigma field name reads (for a detection's ``fields``)."""
        return self._fields.get(name) or self.key(name)

    def text(self, name: str) -> str | tuple[str, ...] | None:
        text = self._text.get(name, _UNSET)
        if text is _UNSET:
            value = self.raw(name)
            text = self._text[name] = None if value is MISSING else text_of(value)
        return text  # type: ignore[no-any-return]

    def low(self, name: str) -> str | tuple[str, ...] | None:
        low = self.lows.get(name, _UNSET)
        if low is _UNSET:
            value = self.raw(name)  # a text, the common case, without text()'s steps:
            low = value.lower() if value.__class__ is str else _lower(self.text(name))
            self.lows[name] = low
        return low  # type: ignore[no-any-return]

    def keywords(self, low: bool) -> tuple[tuple[str, str], ...]:
        """(field name, text) of what keywords search, lower-cased if ``low``: the message,
        and for Windows events every data value."""
        if self._keywords is None:
            found = [("message", self.event.message or "")]
            if not self.linux:
                for key, value in self.event.data.items():
                    text = text_of(value)
                    for item in (text,) if isinstance(text, str) else text or ():
                        found.append((key, item))
            self._keywords = tuple(found)
        if not low:
            return self._keywords
        if self._keywords_low is None:
            self._keywords_low = tuple((key, text.lower()) for key, text in self._keywords)
        return self._keywords_low

    def blob(self, low: bool) -> str:
        """Every keyword text in one, NUL between them (no keyword holds a NUL); a data value
        the message already holds (an .evtx message renders the data, a win:// message joins
        the insertion strings) is not repeated."""
        blob = self._blob.get(low)
        if blob is None:
            blob = self._blob[low] = self.blob(False).lower() if low else self._join()
        return blob

    def _join(self) -> str:
        message = self.event.message or ""
        data = self.event.data
        if self.linux or not data or _renders(message, data):
            return message
        values: Iterable[Any] = data.values()
        held = _inserted(message, data)
        if held:  # leave out the strings and the named values that repeat them
            strings = data["strings"]
            values = [
                value
                for value in values
                if (value not in held if value.__class__ is str else value is not strings)
            ]
        parts = [message]
        for value in values:
            kind = value.__class__
            if kind is str:
                parts.append(value)
                continue
            if kind is list:
                try:
                    parts.append("\0".join(value))  # texts, as almost always
                    continue
                except TypeError:
                    pass
            text = text_of(value)
            parts.extend((text,) if isinstance(text, str) else text or ())
        return "\0".join(parts)


def _inserted(message: str, data: dict[str, Any]) -> frozenset[str]:
    """The insertion strings a win:// record's message is the join of (which its named data
    values repeat): a keyword found in one of them is found in the message."""
    strings = data.get("strings")
    try:
        if strings.__class__ is list and MESSAGE_SEPARATOR.join(strings) == message:
            return frozenset(strings)
    except TypeError:  # not all texts
        pass
    return frozenset()


def _renders(message: str, data: dict[str, Any]) -> bool:
    """True when the message is the data's own Name=Value rendering (an .evtx record without
    message text), which holds every text and number value as it is."""
    first = next(iter(data))
    return message.startswith(f"{first}=") and all(
        value.__class__ is str or value.__class__ is int for value in data.values()
    )
