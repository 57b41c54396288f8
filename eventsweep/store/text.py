"""Text search in the store: what of a ``--grep`` pattern the full-text index can answer.

The index (FTS5, ``unicode61`` tokens: runs of letters and digits, any case, diacritics folded)
holds the words of every message. Two cases:

- a pattern of plain words (letters, digits, spaces: ``disk``, ``Failed password``) is a word
  search: the messages holding every one of those words, in any case (``disk`` finds ``Disk
  full``, not ``diskette``); the index answers it alone;
- any other pattern is a Python regular expression, searched in the message as ``sweep``
  does; the index pre-selects the messages holding the words the pattern must contain whole
  (a literal word with a literal non-word character on both sides: ``password`` in
  ``Failed password for .* from``), and the regular expression decides.

Pure functions, unit-tested without a store.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

sre_parse: Any = importlib.import_module("re._parser")  # the sre_parse of Python 3.11+

_WORD = re.compile(r"[^\W_]+")
_PLAIN = re.compile(r"\s*[^\W_]+(?:\s+[^\W_]+)*\s*")


def plain_words(pattern: str) -> list[str] | None:
    """The words of a plain-word pattern, or None when the pattern is a regular expression."""
    if not _PLAIN.fullmatch(pattern):
        return None
    return _WORD.findall(pattern)


def required_words(pattern: str) -> list[str]:
    """Words any match of the regular expression must contain whole (may be none)."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return []
    if parsed.state.flags & re.VERBOSE:
        return []
    runs: list[str] = []
    current: list[str] = []
    for op, value in parsed:
        if op is sre_parse.LITERAL:
            current.append(chr(value))
        else:
            runs.append("".join(current) if current else "")
            current = []
            if op not in (sre_parse.AT,):
                runs.append("\x00")  # anything may stand here: no word boundary is known
    runs.append("".join(current))
    return _bounded(runs)


def _bounded(runs: list[str]) -> list[str]:
    """Words with a literal non-word character right before and after them, in the runs of
    literal text between the pattern's other parts ("\\x00" marks such a part)."""
    words: list[str] = []
    for run in runs:
        if run in ("", "\x00"):
            continue
        for match in _WORD.finditer(run):
            inside = match.start() > 0 and match.end() < len(run)
            if inside:
                words.append(match.group())
    return words


def match_expression(words: list[str]) -> str:
    """The FTS5 query for messages holding every word (each quoted: a word is never syntax)."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)
