"""Inventories: the target lists given with ``-i FILE``.

One target per line; blank lines and lines starting with ``#`` (after spaces) are skipped, and
each line is stripped. The file must be UTF-8 text: a UTF-8 byte order mark at its start is
skipped; a NUL or other control byte (binary data) or bytes that are not UTF-8 are a
:class:`~eventsweep.errors.UsageError` naming the file and the line.
"""

from __future__ import annotations

import codecs
import re

from eventsweep.errors import UsageError

# controls a text file does not hold (tab, LF, VT, FF and CR are whitespace and allowed)
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def read_inventory(path: str) -> list[str]:
    """The targets listed in the file at ``path``, in order."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise UsageError(f"-i {path}: cannot read ({exc.strerror or exc})") from exc
    return parse_inventory(path, data)


def parse_inventory(path: str, data: bytes) -> list[str]:
    """The targets in an inventory's bytes (``path`` names it in errors)."""
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = data[: exc.start].count(b"\n") + 1
        raise UsageError(f"-i {path}: line {number} is not UTF-8 text") from None
    targets: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if _BINARY.search(line):
            raise UsageError(f"-i {path}: line {number} holds binary data (not a text file?)")
        target = line.strip()
        if target and not target.startswith("#"):
            targets.append(target)
    return targets
