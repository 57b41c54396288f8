"""Text that came from a target, made safe to print on a terminal: one function, :func:`defuse`.

File names, event text, host names, remote stderr and error messages are attacker-controlled.
Printed raw, an escape sequence sets the window title or clears the screen, a bidi override
reorders what the reader sees, and a newline forges a line (an ``ok`` outcome, say). Every place
that prints such text (outcome lines, notes, errors, the table) prints ``defuse(text)``:

- a whole escape sequence (CSI ``ESC [ … final``, OSC/DCS/APC/PM/SOS ``ESC ] … BEL|ST``, or
  ``ESC`` + one character) becomes one ``?``;
- tab, newline, carriage return, U+2028 and U+2029 become a space (the text stays one line);
- every other C0 control, DEL, C1 control (``\\x9b`` is an 8-bit CSI) and the bidi controls
  (U+061C, U+200E/F, U+202A-E, U+2066-9) become ``?``.

Everything else, any other Unicode included, is kept as it is. Log lines (``--debug``) get the
same through :class:`DefusedFormatter`.
"""

from __future__ import annotations

import logging
import re

_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI: parameters, intermediates, final byte
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC … BEL / ST
    r"|\x1b[ -~]?"  # ESC + one character (or a lone ESC)
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # their 8-bit forms
)
_BREAK = re.compile(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def defuse(text: object, limit: int | None = None) -> str:
    """``text`` as one printable line (see the module docstring), cut to ``limit`` characters
    with an ellipsis when longer."""
    value = str(text)
    if not value.isprintable():  # the common case, plain text, costs one scan
        value = _CONTROL.sub("?", _BREAK.sub(" ", _SEQUENCE.sub("?", value)))
    return value if limit is None or len(value) <= limit else value[: limit - 1] + "…"


class DefusedFormatter(logging.Formatter):
    """A logging formatter whose messages are defused (one line each) and whose tracebacks are
    defused line by line: a log line (``--debug``) can't be forged or drive the terminal
    either, whatever a target name or a remote error holds."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = defuse(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _lines(super().formatStack(stack_info))


def _lines(text: str) -> str:
    return "\n".join(defuse(line) for line in text.split("\n"))
