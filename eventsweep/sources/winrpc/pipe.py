"""DCE/RPC calls on an open SMB2 named pipe, packed with struct: the hot path of reading.

impacket sets the connection up (negotiation, logon, tree connect, opening ``\\eventlog``).
After that every call's answer comes back in DCE/RPC fragments of at most 4,280 (Windows) or
5,840 (Samba) bytes, one SMB2 READ each; impacket builds and parses each of those packets with
its generic ``Structure`` machinery, about a millisecond of CPU per fragment. Here each one is a
few ``struct`` calls, with the session's protection as impacket negotiated it:

- encryption when the session or the share asks for it: AES-128-CCM (the only cipher impacket
  offers), a random nonce per message, the answer's tag verified;
- otherwise signing when it is active: HMAC-SHA256 (SMB 2.0.2/2.1) or AES-CMAC (SMB 3.x).

Message ids come from impacket's own counter, so impacket can still log off afterwards.
Blocking, with the connection's timeout on every receive. Protocol errors raise
:class:`PipeError` (or ``OSError`` from the socket); callers map them to their stage.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
from collections import deque
from typing import Any

from Cryptodome.Cipher import AES
from Cryptodome.Hash import CMAC

SMB2_HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")
SMB2_MAGIC, TRANSFORM_MAGIC = b"\xfeSMB", b"\xfdSMB"
TRANSFORM_AAD = struct.Struct("<16sIHHQ")
WRITE = struct.Struct("<HHIQ16sIIHHI")
READ = struct.Struct("<HBBIQ16sIIIHHB")
READ_ANSWER = struct.Struct("<HBBII")
SMB2_READ, SMB2_WRITE = 0x0008, 0x0009
FLAG_ASYNC, FLAG_SIGNED = 0x0002, 0x0008
STATUS_SUCCESS, STATUS_PENDING, STATUS_BUFFER_OVERFLOW = 0, 0x103, 0x80000005
ENCRYPT_SESSION, AES128_CCM = 0x04, 0x0001
DIALECTS_HMAC = (0x0202, 0x0210)
READ_SIZE = 65536  # one credit; a DCE fragment is far smaller

DCE_HEADER = struct.Struct("<BBBBIHHI")
DCE_REQUEST, DCE_RESPONSE, DCE_FAULT, DCE_BIND, DCE_BIND_ACK = 0, 2, 3, 11, 12
DCE_FIRST_LAST = 0x03
DCE_LAST = 0x02
DCE_DREP = 0x10  # little-endian integers, ASCII, IEEE floats
NDR = bytes.fromhex("045d888aeb1cc9119fe808002b10486002000000")  # NDR 2.0 transfer syntax
MAX_FRAGMENT = 65535
WINDOW = 32  # READs in flight at most


class PipeError(Exception):
    """The server answered something this client cannot use. ``status``: its NTSTATUS, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SmbPipe:
    """Reads and writes messages on one open named pipe of an impacket SMB2/3 session."""

    def __init__(self, smb3: Any, tree_id: int, file_id: bytes, timeout: float) -> None:
        self._smb = smb3
        self._tree, self._file = tree_id, file_id
        self._session_id: int = smb3._Session["SessionID"]
        self._socket: socket.socket = smb3.get_socket()
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # READs go in bursts
        self._socket.settimeout(timeout)  # impacket sends nothing more on it but the logoff
        self._encrypt = _encrypts(smb3, tree_id)
        self._sign = not self._encrypt and bool(smb3._Session["SigningActivated"])
        self._dialect: int = smb3._Connection["Dialect"]
        self._early: dict[int, tuple[int, int, bytes]] = {}
        self._keys = {name: smb3._Session[name] for name in (
            "SessionKey", "SigningKey", "EncryptionKey", "DecryptionKey")}  # fmt: skip
        if self._encrypt and smb3._Connection.get("CipherId", AES128_CCM) not in (0, AES128_CCM):
            raise PipeError("the server chose a cipher other than AES-128-CCM")

    @property
    def protection(self) -> str:
        """How messages are protected on this pipe, for notes and tests."""
        if self._encrypt:
            return "encrypted (AES-128-CCM)"
        if self._sign:
            return "signed (HMAC-SHA256)" if self._dialect in DIALECTS_HMAC else "signed (AES-CMAC)"
        return "none"

    def write(self, data: bytes) -> None:
        body = WRITE.pack(49, SMB2_HEADER.size + WRITE.size, len(data), 0, self._file, 0, 0, 0,
                          0, 0) + data  # fmt: skip
        self._answer(self._send(SMB2_WRITE, body), SMB2_WRITE)

    def read(self) -> bytes:
        """One whole message of the pipe (one DCE/RPC fragment)."""
        parts = []
        while True:
            data, more = self.collect(self.ask())
            parts.append(data)
            if not more:
                return b"".join(parts)

    def ask(self) -> int:
        """Send one READ without waiting; its message id, for :meth:`collect`."""
        body = READ.pack(49, 0x50, 0, READ_SIZE, 0, self._file, 0, 0, 0, 0, 0, 0)
        return self._send(SMB2_READ, body)

    def collect(self, message_id: int) -> tuple[bytes, bool]:
        """The data of an asked READ, and whether the message goes on (buffer overflow)."""
        status, answer = self._answer(message_id, SMB2_READ)
        _, offset, _, length, _ = READ_ANSWER.unpack_from(answer, 0)
        start = offset - SMB2_HEADER.size
        return answer[start : start + length], status == STATUS_BUFFER_OVERFLOW

    def _send(self, command: int, body: bytes) -> int:
        window = self._smb._Connection
        message_id: int = window["SequenceWindow"]
        window["SequenceWindow"] = message_id + 1
        flags = FLAG_SIGNED if self._sign else 0
        header = SMB2_HEADER.pack(SMB2_MAGIC, 64, 1, 0, command, 127, flags, 0, message_id, 0,
                                  self._tree, self._session_id, b"\x00" * 16)  # fmt: skip
        packet = header + body
        if self._encrypt:
            packet = self._sealed(packet)
        elif self._sign:
            packet = packet[:48] + self._signature(packet) + packet[64:]
        self._socket.sendall(struct.pack(">I", len(packet)) + packet)
        return message_id

    def _answer(self, message_id: int, command: int) -> tuple[int, bytes]:
        """Status and body of the final answer to ``message_id`` (interim answers skipped;
        answers to other outstanding requests kept for later)."""
        while message_id not in self._early:
            packet = self._receive()
            if packet[:4] == TRANSFORM_MAGIC:
                packet = self._opened(packet)
            fields = SMB2_HEADER.unpack_from(packet, 0)
            status, got_command, flags, got_id = fields[3], fields[4], fields[6], fields[8]
            if status == STATUS_PENDING and flags & FLAG_ASYNC:
                continue
            self._early[got_id] = (status, got_command, packet)
        status, got_command, packet = self._early.pop(message_id)
        if got_command != command:
            raise PipeError(f"answer to request {message_id} is command {got_command}")
        if status not in (STATUS_SUCCESS, STATUS_BUFFER_OVERFLOW):
            raise PipeError(f"SMB2 status 0x{status:08x}", status)
        return status, packet[SMB2_HEADER.size :]

    def _receive(self) -> bytes:
        (length,) = struct.unpack(">I", self._exactly(4))
        return self._exactly(length & 0x00FFFFFF)

    def _exactly(self, count: int) -> bytes:
        buffer = bytearray(count)
        view, got = memoryview(buffer), 0
        while got < count:
            received = self._socket.recv_into(view[got:])
            if not received:
                raise ConnectionResetError("connection closed by the server")
            got += received
        return bytes(buffer)

    def _signature(self, packet: bytes) -> bytes:
        if self._dialect in DIALECTS_HMAC:
            return hmac.new(self._keys["SessionKey"], packet, hashlib.sha256).digest()[:16]
        return CMAC.new(self._keys["SigningKey"], packet, ciphermod=AES).digest()

    def _sealed(self, packet: bytes) -> bytes:
        nonce = os.urandom(11)
        aad = TRANSFORM_AAD.pack(nonce + b"\x00" * 5, len(packet), 0, AES128_CCM, self._session_id)
        cipher = AES.new(self._keys["EncryptionKey"], AES.MODE_CCM, nonce=nonce)
        cipher.update(aad)
        sealed, tag = cipher.encrypt_and_digest(packet)
        return TRANSFORM_MAGIC + tag + aad + sealed

    def _opened(self, packet: bytes) -> bytes:
        tag, aad = packet[4:20], packet[20:52]
        cipher = AES.new(self._keys["DecryptionKey"], AES.MODE_CCM, nonce=aad[:11])
        cipher.update(aad)
        try:
            return bytes(cipher.decrypt_and_verify(packet[52:], tag))
        except ValueError:
            raise PipeError("an encrypted answer failed its integrity check") from None


def _encrypts(smb3: Any, tree_id: int) -> bool:
    if smb3._Session["SessionFlags"] & ENCRYPT_SESSION:
        return True
    tree = smb3._Session["TreeConnectTable"].get(tree_id) or {}
    return bool(tree.get("EncryptData"))


class DceChannel:
    """Connection-oriented DCE/RPC (no RPC-level auth: the SMB session carries it) on a pipe."""

    def __init__(self, pipe: SmbPipe) -> None:
        self.pipe = pipe
        self._call_id = 1
        self._context = 0

    def bind(self, interface: bytes) -> None:
        """Bind ``interface`` (16-byte UUID + version, as impacket's MSRPC_UUID_* constants)."""
        body = struct.pack("<HHIBBHHBB", 4280, MAX_FRAGMENT, 0, 1, 0, 0, self._context, 1, 0)
        body += interface + NDR
        self.pipe.write(self._pdu(DCE_BIND, body))
        answer = self.pipe.read()
        ptype = answer[2]
        if ptype != DCE_BIND_ACK:
            raise PipeError(f"bind refused (DCE/RPC packet type {ptype})")
        (address_size,) = struct.unpack_from("<H", answer, 24)
        results = 26 + address_size
        results += -results % 4
        (result,) = struct.unpack_from("<H", answer, results + 4)
        if result != 0:
            raise PipeError(f"bind refused (result {result})")

    def call(self, opnum: int, stub: bytes, answer_size: int | None = None) -> bytes:
        """One request (unfragmented: MS-EVEN requests are small); the whole answer stub.

        When the caller knows the answer's stub size (``answer_size``: an ElfrReadELW answer
        carries its whole array), the READs for the remaining fragments go out together once
        the first fragment tells the fragment size: one round trip instead of one per fragment.
        Never more READs than fragments can remain, so none is left waiting on the pipe.
        """
        self.pipe.write(self._pdu(DCE_REQUEST, struct.pack("<IHH", len(stub), self._context,
                                                            opnum) + stub))  # fmt: skip
        call_id = self._call_id - 1
        first, last, alloc = self._fragment(self.pipe.read(), call_id)
        if last:
            return first
        parts, asked = [first], deque[int]()
        expected = min(alloc, answer_size) if answer_size and alloc else 0
        unasked = -(-(expected - len(first)) // len(first)) if expected > len(first) else 0
        while True:
            while unasked and len(asked) < WINDOW:
                asked.append(self.pipe.ask())
                unasked -= 1
            message_id = asked.popleft() if asked else self.pipe.ask()
            data, overflow = self.pipe.collect(message_id)
            if overflow:
                raise PipeError("a DCE/RPC fragment larger than the pipe read")
            part, last, _ = self._fragment(data, call_id)
            parts.append(part)
            if last:
                if asked:
                    raise PipeError("the answer ended before the fragments it announced")
                return b"".join(parts)

    def _fragment(self, fragment: bytes, call_id: int) -> tuple[bytes, bool, int]:
        """The stub part of one answer fragment, whether it is the last, its alloc hint."""
        _, _, ptype, flags, _, length, auth, got_id = DCE_HEADER.unpack_from(fragment, 0)
        if got_id != call_id:
            raise PipeError(f"DCE/RPC answer to call {got_id}, expected {call_id}")
        if ptype == DCE_FAULT:
            (status,) = struct.unpack_from("<I", fragment, 24)
            raise PipeError(f"DCE/RPC fault 0x{status:08x}", status)
        if ptype != DCE_RESPONSE or auth:
            raise PipeError(f"unexpected DCE/RPC packet type {ptype}")
        (alloc,) = struct.unpack_from("<I", fragment, 16)
        return fragment[24:length], bool(flags & DCE_LAST), alloc

    def _pdu(self, ptype: int, body: bytes) -> bytes:
        call_id, self._call_id = self._call_id, self._call_id + 1
        header = DCE_HEADER.pack(5, 0, ptype, DCE_FIRST_LAST, DCE_DREP,
                                 DCE_HEADER.size + len(body), 0, call_id)  # fmt: skip
        return header + body
