"""Writing events as a Windows .evtx file: :class:`EvtxWriter`.

The file: a 4096-byte header, then 64 KiB chunks, each self-contained (its own name and
template tables, records that never span chunks). A chunk is written whole when full, and the
header is rewritten after it with the chunk count and the *dirty* flag: a file cut short by a
crash reads up to its last whole chunk. ``close()`` writes the last chunk and clears the flag.

Each record instantiates a template (see :mod:`eventsweep.formats.evtx.record` for how an
event's fields map to values, and :mod:`eventsweep.formats.evtx.binxml` for the encoding).
Record numbers in the record headers count 1, 2, 3… in the file; ``System/EventRecordID`` keeps
the event's own record id, as forwarded-event logs do. A record is at most what fits in an empty
chunk: longer values are cut (longest first, ending with ``…``) and, if the names alone are too
many, the last data fields are dropped and counted in a field ``eventsweep.dropped``.
"""

from __future__ import annotations

import os
import struct
import zlib
from functools import lru_cache
from types import TracebackType
from typing import Any, BinaryIO

from eventsweep.formats.evtx import record as rec
from eventsweep.formats.evtx.binxml import (
    FRAGMENT_HEADER,
    STRING,
    TEMPLATE_INSTANCE,
    Tables,
    Template,
)
from eventsweep.formats.evtx.layout import (
    CHUNK_HEADER,
    CHUNK_HEADER_SIZE,
    CHUNK_MAGIC,
    CHUNK_SIZE,
    FILE_HEADER,
    FILE_MAGIC,
    FLAG_DIRTY,
    HEADER_SIZE,
    RECORD_HEAD,
    RECORD_MAGIC,
    filetime,
)
from eventsweep.model import Event

# Records stop a record header short of a chunk's end: python-evtx reads a record header past
# the last record and fails on a chunk full to the byte at the end of a file.
RECORDS_END = CHUNK_SIZE - RECORD_HEAD.size
MAX_RECORD = RECORDS_END - CHUNK_HEADER_SIZE
_INSTANCE = struct.Struct("<4sBBII")
_U32 = struct.Struct("<I")
_OVERHEAD = RECORD_HEAD.size + _INSTANCE.size + 4 + 4  # head, instance, count, size copy


class ChunkBuilder:
    """One 64 KiB chunk being filled."""

    def __init__(self) -> None:
        self.buf = bytearray(CHUNK_SIZE)
        self.used = CHUNK_HEADER_SIZE
        self.tables = Tables()
        self.first = 0
        self.last = 0
        self.last_offset = 0

    def add(self, number: int, time: int, template: Template, values: list[rec.Value]) -> bool:
        """Append one record; False (nothing written) when it does not fit."""
        at = self.used
        blob = b"".join([data for _, data in values])
        size = _OVERHEAD + 4 * len(values) + len(blob)
        defined = self.tables.templates.get(template.key)
        if at + size + (template.largest if defined is None else 0) > RECORDS_END:
            return False
        inline = b""
        if defined is None:
            defined = at + RECORD_HEAD.size + _INSTANCE.size
            inline = template.definition(defined, self.tables)
        size += len(inline)
        body = [
            RECORD_HEAD.pack(RECORD_MAGIC, size, number, time),
            _INSTANCE.pack(FRAGMENT_HEADER, TEMPLATE_INSTANCE, 1, template.id, defined),
            inline,
            _descriptors(len(values)).pack(len(values), *[len(d) | k << 16 for k, d in values]),
            blob,
            _U32.pack(size),
        ]
        self.buf[at : at + size] = b"".join(body)
        self.used = at + size
        self.first = self.first or number
        self.last = number
        self.last_offset = at
        return True

    def finish(self) -> bytes:
        """The chunk with its header and both checksums filled in."""
        header = CHUNK_HEADER.pack(
            CHUNK_MAGIC,
            self.first,
            self.last,
            self.first,
            self.last,
            128,
            self.last_offset,
            self.used,
            zlib.crc32(self.buf[CHUNK_HEADER_SIZE : self.used]),
        )
        self.buf[: len(header)] = header
        self.buf[128:CHUNK_HEADER_SIZE] = self.tables.header_bytes()
        checked = self.buf[:120] + self.buf[128:CHUNK_HEADER_SIZE]
        _U32.pack_into(self.buf, 124, zlib.crc32(checked))
        return bytes(self.buf)


@lru_cache(maxsize=512)
def _descriptors(count: int) -> struct.Struct:
    """The substitution array head: count, then per value u16 size, u8 type, u8 0 (one u32)."""
    return struct.Struct(f"<{count + 1}I")


def file_header(chunks: int, next_record: int, dirty: bool) -> bytes:
    """The 4096-byte file header (version 3.1), its CRC over the first 120 bytes."""
    head = FILE_HEADER.pack(
        FILE_MAGIC,
        0,
        max(chunks - 1, 0),
        next_record,
        128,
        1,
        3,
        HEADER_SIZE,
        min(chunks, 0xFFFF),
        FLAG_DIRTY if dirty else 0,
    )
    return (head + _U32.pack(zlib.crc32(head[:120]))).ljust(HEADER_SIZE, b"\x00")


class EvtxWriter:
    """Writes events to a new .evtx file at a path (replacing any file there) or to a seekable
    binary stream at its current position (which the caller closes).

    ``write(event)`` appends one record; ``close()`` (or leaving the ``with`` block, even on an
    error) writes the last chunk and a clean header. Not thread-safe; one writer per file.
    """

    def __init__(self, target: str | os.PathLike[str] | BinaryIO) -> None:
        if isinstance(target, str | os.PathLike):
            self._file: BinaryIO | None = open(target, "wb")  # noqa: SIM115 - closed in close()
            self._owned = True
        else:
            self._file, self._owned = target, False
        self._base = self._file.tell()
        self.records = 0
        self.chunks = 0
        self._file.write(file_header(0, 1, dirty=True))
        self._chunk = ChunkBuilder()
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._templates: dict[rec.Shape, Template] = {}

    def write(self, event: Event) -> None:
        """Append one event as a record."""
        if self._file is None:
            raise ValueError("write to a closed EvtxWriter")
        number = self.records + 1
        time = filetime(event.time)
        template, values = self._assemble(event, number, time, list(event.data))
        if not self._chunk.add(number, time, template, values):
            self._flush()
            if not self._chunk.add(number, time, template, values):
                template, values = self._fit(event, number, time)
                self._chunk.add(number, time, template, values)
        self.records = number

    def close(self) -> None:
        """Write the last chunk and the final header (clean, with the right counts)."""
        if self._file is None:
            return
        try:
            if self._chunk.last:
                self._flush()
            self._file.seek(self._base)
            self._file.write(file_header(self.chunks, self.records + 1, dirty=False))
            self._file.seek(self._base + HEADER_SIZE + self.chunks * CHUNK_SIZE)
            self._file.flush()
        finally:
            if self._owned:
                self._file.close()
            self._file = None

    def __enter__(self) -> EvtxWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _flush(self) -> None:
        assert self._file is not None
        self._file.seek(self._base + HEADER_SIZE + self.chunks * CHUNK_SIZE)
        self._file.write(self._chunk.finish())
        self.chunks += 1
        self._file.seek(self._base)
        self._file.write(file_header(self.chunks, self.records + 1, dirty=True)[:128])
        self._file.flush()
        self._chunk = ChunkBuilder()

    def _assemble(
        self, event: Event, number: int, time: int, keys: list[str], raw: list[Any] | None = None
    ) -> tuple[Template, list[rec.Value]]:
        names = self._names(tuple(keys))
        data, readback = rec.data_values(list(event.data.values()) if raw is None else raw)
        with_message = rec.needs_message(event.message, names, readback)
        record_id = number if event.record_id is None else event.record_id
        values = rec.system_values(event, record_id, time)
        values.append((STRING, rec.utf16(event.message)) if with_message else (0, b""))
        values += data
        qualified = values[rec.QUALIFIERS][1] != b""
        return self._template((names, with_message, qualified)), values

    def _names(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        names = self._shapes.get(keys)
        if names is None:
            names = self._shapes[keys] = rec.map_names(keys)
        return names

    def _template(self, key: rec.Shape) -> Template:
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = rec.template_for(*key)
        return template

    def _fit(self, event: Event, number: int, time: int) -> tuple[Template, list[rec.Value]]:
        """The record cut down to fit an empty chunk (see the module docstring)."""
        keys, raw = list(event.data), list(event.data.values())
        fitted = self._cut(event, number, time, keys, raw)
        if fitted is not None:
            return fitted
        low, high = 0, len(keys) - 1  # the most fields that fit, with the dropped count
        while low < high:
            middle = (low + high + 1) // 2
            if self._cut(event, number, time, *_dropping(keys, raw, middle)) is None:
                high = middle - 1
            else:
                low = middle
        fitted = self._cut(event, number, time, *_dropping(keys, raw, low))
        assert fitted is not None, "a record without data always fits"
        return fitted

    def _cut(
        self, event: Event, number: int, time: int, keys: list[str], raw: list[Any]
    ) -> tuple[Template, list[rec.Value]] | None:
        template, values = self._assemble(event, number, time, keys, raw)
        budget = MAX_RECORD - _OVERHEAD - template.largest - 4 * len(values)
        return (template, values) if budget >= 0 and rec.cut(values, budget) else None


def _dropping(keys: list[str], raw: list[Any], kept: int) -> tuple[list[str], list[Any]]:
    """The first ``kept`` fields and one counting the others."""
    return [*keys[:kept], "eventsweep.dropped"], [*raw[:kept], len(keys) - kept]
