"""The ElfrReadELW call on the wire (MS-EVEN 3.1.4.7), built and parsed without impacket's NDR.

Request stub: the 20-byte log handle, then ReadFlags, RecordOffset and NumberOfBytesToRead as
little-endian uint32. Response stub: the conformant byte array (uint32 count, the bytes, padding
to 4), then NumberOfBytesRead, MinNumberOfBytesNeeded and the NTSTATUS, uint32 each. The server
sends the whole array it was asked for, filled or not, so the three trailing words are read from
the end and only the first NumberOfBytesRead bytes of the array are records.

impacket's generic NDR decodes that array one byte at a time (about a second per 512 KiB); here
it is one slice. Pure functions: unit-tested without a network.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

READ_OPNUM = 10
SEQUENTIAL = 0x0001
SEEK = 0x0002
BACKWARDS = 0x0008
MAX_READ = 0x7FFFF  # the largest NumberOfBytesToRead servers accept

STATUS_SUCCESS = 0x00000000
STATUS_END_OF_FILE = 0xC0000011
STATUS_BUFFER_TOO_SMALL = 0xC0000023

_REQUEST = struct.Struct("<III")
_TRAILER = struct.Struct("<III")
HANDLE_SIZE = 20


def read_request(handle: bytes, flags: int, offset: int, size: int) -> bytes:
    """The stub of one ElfrReadELW request."""
    if len(handle) != HANDLE_SIZE:
        raise ValueError(f"a log handle is {HANDLE_SIZE} bytes, not {len(handle)}")
    if not 0 < size <= MAX_READ:
        raise ValueError(f"read size {size} outside 1..{MAX_READ}")
    return handle + _REQUEST.pack(flags, offset & 0xFFFFFFFF, size)


def answer_size(size: int) -> int:
    """The stub size of the answer to a read of ``size`` bytes: the array travels whole."""
    return 4 + size + (-size % 4) + _TRAILER.size


@dataclass(frozen=True, slots=True)
class ReadReply:
    """One ElfrReadELW answer: the records read, the size needed if too small, the status."""

    buffer: bytes
    needed: int
    status: int

    @property
    def at_end(self) -> bool:
        """Both forms of end of log: END_OF_FILE, or success with nothing read."""
        return self.status == STATUS_END_OF_FILE or (
            self.status == STATUS_SUCCESS and not self.buffer
        )


def parse_read_reply(stub: bytes) -> ReadReply:
    """Parse a response stub; ValueError when it is not a well-formed ElfrReadELW answer."""
    if len(stub) < 4 + _TRAILER.size:
        raise ValueError(f"ElfrReadELW answer of {len(stub)} bytes is too short")
    (count,) = struct.unpack_from("<I", stub, 0)
    read, needed, status = _TRAILER.unpack_from(stub, len(stub) - _TRAILER.size)
    if read > count or 4 + count + _TRAILER.size > len(stub):
        raise ValueError(f"ElfrReadELW answer claims {read} of {count} bytes in {len(stub)}")
    return ReadReply(buffer=stub[4 : 4 + read], needed=needed, status=status)
