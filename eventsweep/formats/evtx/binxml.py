"""BinXML, the binary XML inside .evtx records: the writing side.

Facts from libyal's EVTX and BinXML format notes (no code carried over). A fragment starts
with ``0F 01 01 00``; an element is ``01`` (``41`` with attributes), a u16 dependency id
(``FFFF``), a u32 size of what follows up to and including its end token, the chunk offset of
its name, the name itself when that offset points right behind it, a u32 size of the attribute
list, the attributes (``46`` when another follows, ``06`` for the last), then ``03`` (empty) or
``02`` + content + ``04``. Content is a value text ``05`` (type, u16 character count, UTF-16)
or a substitution ``0D``/``0E`` (normal/optional: u16 index, u8 type).

A name is stored once per chunk: u32 offset of the next name in its hash bucket, u16 hash,
u16 character count, UTF-16, u16 NUL; later uses point at it. The chunk header lists the first
name of each of 64 buckets (hash mod 64) and the first template of each of 32.

A template definition is: u32 next template in its bucket, a 16-byte GUID (its first four bytes
are the template id), u32 size, then a fragment with substitutions where values go. A record
instantiates it: fragment header, ``0C 01``, u32 template id, u32 chunk offset of the
definition (inline right behind on first use in the chunk), then the substitution array: u32
count, (u16 size, u8 type, u8 0) per value, the values.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field, replace

# Value types
NULL = 0x00
STRING = 0x01
UINT8 = 0x04
UINT16 = 0x06
INT64 = 0x09
UINT64 = 0x0A
BOOL = 0x0D
FILETIME = 0x11
HEXINT64 = 0x15

FRAGMENT_HEADER = b"\x0f\x01\x01\x00"
_END_OF_STREAM = 0x00
_OPEN = 0x01
_OPEN_WITH_ATTRIBUTES = 0x41
_CLOSE_START = 0x02
_CLOSE_EMPTY = 0x03
_END_ELEMENT = 0x04
_VALUE = 0x05
_ATTRIBUTE = 0x06
_MORE_ATTRIBUTES = 0x46
_NORMAL_SUBSTITUTION = 0x0D
TEMPLATE_INSTANCE = 0x0C

_U32 = struct.Struct("<I")
_NAME_HEAD = struct.Struct("<IHH")
_VALUE_HEAD = struct.Struct("<BBH")
_SUBSTITUTION = struct.Struct("<BHB")
_TEMPLATE_HEAD = struct.Struct("<I16sI")
TEMPLATE_HEAD_SIZE = _TEMPLATE_HEAD.size


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text content (or attribute value) in a template."""

    text: str


@dataclass(frozen=True, slots=True)
class Sub:
    """A substitution: the record's value number ``index``, of value type ``type``."""

    index: int
    type: int


@dataclass(frozen=True, slots=True)
class Element:
    name: str
    attributes: tuple[tuple[str, Text | Sub], ...] = ()
    children: tuple[Element | Text | Sub, ...] = ()


def name_hash(name: str) -> int:
    """The 16-bit hash a chunk's name table uses: h = h * 65599 + unit over UTF-16 units."""
    value = 0
    for (unit,) in struct.iter_unpack("<H", name.encode("utf-16-le")):
        value = (value * 65599 + unit) & 0xFFFFFFFF
    return value & 0xFFFF


@dataclass(slots=True)
class Tables:
    """A chunk's name and template tables: where each lives, and the bucket heads."""

    names: dict[str, int] = field(default_factory=dict)
    name_heads: list[int] = field(default_factory=lambda: [0] * 64)
    templates: dict[object, int] = field(default_factory=dict)
    template_heads: list[int] = field(default_factory=lambda: [0] * 32)

    def header_bytes(self) -> bytes:
        """The 64 + 32 u32 offsets stored at chunk offset 128."""
        return struct.pack("<96I", *self.name_heads, *self.template_heads)


class _Fragment:
    """Serialises a template's element tree at a known chunk offset, sharing the chunk's names."""

    def __init__(self, base: int, tables: Tables) -> None:
        self.buf = bytearray(FRAGMENT_HEADER)
        self.base = base
        self.tables = tables

    def name(self, text: str) -> None:
        offset = self.tables.names.get(text)
        if offset is not None:
            self.buf += _U32.pack(offset)
            return
        offset = self.base + len(self.buf) + 4
        hashed = name_hash(text)
        bucket = hashed % 64
        encoded = text.encode("utf-16-le")
        self.buf += _U32.pack(offset)
        self.buf += _NAME_HEAD.pack(self.tables.name_heads[bucket], hashed, len(encoded) // 2)
        self.buf += encoded + b"\x00\x00"
        self.tables.names[text] = offset
        self.tables.name_heads[bucket] = offset

    def content(self, node: Element | Text | Sub) -> None:
        if isinstance(node, Element):
            self.element(node)
        elif isinstance(node, Text):
            encoded = node.text.encode("utf-16-le")
            self.buf += _VALUE_HEAD.pack(_VALUE, STRING, len(encoded) // 2) + encoded
        else:
            self.buf += _SUBSTITUTION.pack(_NORMAL_SUBSTITUTION, node.index, node.type)

    def element(self, node: Element) -> None:
        start = len(self.buf)
        self.buf += bytes((_OPEN_WITH_ATTRIBUTES if node.attributes else _OPEN, 0xFF, 0xFF))
        self.buf += b"\x00\x00\x00\x00"
        self.name(node.name)
        if node.attributes:
            self.attributes(node.attributes)
        if node.children:
            self.buf.append(_CLOSE_START)
            for child in node.children:
                self.content(child)
            self.buf.append(_END_ELEMENT)
        else:
            self.buf.append(_CLOSE_EMPTY)
        _U32.pack_into(self.buf, start + 3, len(self.buf) - start - 7)

    def attributes(self, attributes: tuple[tuple[str, Text | Sub], ...]) -> None:
        start = len(self.buf)
        self.buf += b"\x00\x00\x00\x00"
        last = len(attributes) - 1
        for number, (name, value) in enumerate(attributes):
            self.buf.append(_MORE_ATTRIBUTES if number < last else _ATTRIBUTE)
            self.name(name)
            self.content(value)
        _U32.pack_into(self.buf, start, len(self.buf) - start - 4)


@dataclass(frozen=True, slots=True)
class Template:
    """One record shape: its element tree and identity."""

    key: object
    root: Element
    guid: bytes
    largest: int = 0  # its definition's size in a chunk that holds none of its names yet

    @property
    def id(self) -> int:
        return int(_U32.unpack_from(self.guid)[0])

    @classmethod
    def of(cls, key: object, root: Element) -> Template:
        text = repr(key).encode("utf-8", "surrogatepass")
        guid = hashlib.md5(text, usedforsecurity=False).digest()
        template = cls(key, root, guid)
        return replace(template, largest=len(template.definition(0, Tables())))

    def definition(self, at: int, tables: Tables) -> bytes:
        """The definition stored at chunk offset ``at``; registers it and its names in tables."""
        fragment = _Fragment(at + TEMPLATE_HEAD_SIZE, tables)
        fragment.element(self.root)
        fragment.buf.append(_END_OF_STREAM)
        bucket = self.id % 32
        head = _TEMPLATE_HEAD.pack(tables.template_heads[bucket], self.guid, len(fragment.buf))
        tables.template_heads[bucket] = at
        tables.templates[self.key] = at
        return head + bytes(fragment.buf)
