"""Real systemd journal files, made for a test from entries it chose.

How: the entries are written in the Journal Export Format (``FIELD=value`` lines, a blank line
between entries; a value with a newline or a control byte as ``FIELD\\n`` + its length as u64
little-endian + the bytes + ``\\n``), sorted by time, and piped into
``systemd-journal-remote -o DIR/system.journal -`` (systemd 252 on Debian 12). The fields are
kept exactly as written, so a test compares what journalctl returns with what it wrote.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

BOOT_ID = "0123456789abcdef0123456789abcdef"
_CANDIDATES = ("/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote")


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry as a test writes it (time in microseconds since the epoch)."""

    time_us: int
    message: str | bytes
    priority: int | None = 6
    identifier: str | None = "app"
    host: str = "host1"
    unit: str | None = None
    comm: str | None = None
    extra: dict[str, str | bytes] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message as a reader gets it back: bytes decoded as UTF-8, errors replaced."""
        raw = self.message
        return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")

    def fields(self) -> list[tuple[str, str | bytes]]:
        pairs: list[tuple[str, str | bytes]] = [
            ("__REALTIME_TIMESTAMP", str(self.time_us)),
            ("__MONOTONIC_TIMESTAMP", str(self.time_us)),
            ("_BOOT_ID", BOOT_ID),
            ("_HOSTNAME", self.host),
        ]
        optional = {
            "PRIORITY": None if self.priority is None else str(self.priority),
            "SYSLOG_IDENTIFIER": self.identifier,
            "_SYSTEMD_UNIT": self.unit,
            "_COMM": self.comm,
        }
        pairs.extend((name, value) for name, value in optional.items() if value is not None)
        pairs.extend(self.extra.items())
        pairs.append(("MESSAGE", self.message))
        return pairs


def export_field(name: str, value: str | bytes) -> bytes:
    """One field in the Journal Export Format (binary form for newlines and control bytes)."""
    data = value.encode() if isinstance(value, str) else value
    if any(byte < 32 or byte == 127 for byte in data) or not _is_utf8(data):
        return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return name.encode() + b"=" + data + b"\n"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def export(entries: list[Entry]) -> bytes:
    """The Journal Export Format of the entries, oldest first (journald's own order)."""
    ordered = sorted(entries, key=lambda entry: entry.time_us)
    return b"".join(
        b"".join(export_field(name, value) for name, value in entry.fields()) + b"\n"
        for entry in ordered
    )


def journal_remote() -> str:
    found = shutil.which("systemd-journal-remote")
    for candidate in (found, *_CANDIDATES):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("systemd-journal-remote is missing (apt-get install systemd-journal-remote)")


def make_journal(directory: Path, entries: list[Entry]) -> Path:
    """Write ``directory/system.journal`` holding the entries; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / "system.journal"
    subprocess.run(
        [journal_remote(), "-o", str(output), "-"],
        input=export(entries),
        check=True,
        capture_output=True,
    )
    return directory
