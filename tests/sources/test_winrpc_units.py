"""The win:// source without a network: target texts, credentials, the wire, the decoder, the
reading sequence (against a scripted session)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from eventsweep.errors import ReadError, UsageError
from eventsweep.model import Query, iso_from_epoch
from eventsweep.sources.winrpc import credentials, pipe, reader, records, wire
from eventsweep.sources.winrpc.options import WinOptions
from eventsweep.sources.winrpc.records import Decoder, RecordFilter
from eventsweep.sources.winrpc.session import OpenLog
from eventsweep.sources.winrpc.target import WinTarget, parse_target

HANDLE = bytes(range(20))
T0 = 1_700_000_000


def eventlogrecord(
    number: int,
    generated: int,
    *,
    written: int | None = None,
    event_id: int = 7036,
    event_type: int = 4,
    category: int = 0,
    source: str = "Service Control Manager",
    computer: str = "HOST1",
    strings: tuple[str, ...] = (),
    sid: bytes = b"",
    data: bytes = b"",
) -> bytes:
    """An EVENTLOGRECORD (MS-EVEN 2.2.3) as a Windows server lays it out."""
    names = (source + "\x00" + computer + "\x00").encode("utf-16-le")
    sid_at = 56 + len(names)
    sid_at += -sid_at % 4
    text = b"".join((s + "\x00").encode("utf-16-le") for s in strings)
    strings_at = sid_at + len(sid)
    data_at = strings_at + len(text)
    body_end = data_at + len(data)
    length = body_end + (-body_end % 4) + 4
    header = struct.pack(
        "<6I4H6I", length, records.SIGNATURE, number, generated,
        generated if written is None else written, event_id, event_type, len(strings),
        category, 0, 0, strings_at, len(sid), sid_at, len(data), data_at,
    )  # fmt: skip
    body = header + names
    body += b"\x00" * (sid_at - len(body)) + sid + text + data
    return body + b"\x00" * (length - 4 - len(body)) + struct.pack("<I", length)


def decoder(query: Query | None = None, stop: int | None = None) -> Decoder:
    query = query or Query()
    return Decoder("win://h", "System", query, RecordFilter.of(query), stop)


# -- targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "port", "user", "domain", "log"),
    [
        ("win://dc01", "dc01", 445, "", "", "System"),
        ("win://CORP\\admin@dc01/System", "dc01", 445, "admin", "CORP", "System"),
        ("win://CORP;admin@dc01:4450/Application", "dc01", 4450, "admin", "CORP", "Application"),
        ("win://admin@corp.example@10.0.0.7/Security", "10.0.0.7", 445, "admin",
         "corp.example", "Security"),
        ("win://admin@[fe80::1]:445/Directory%20Service", "fe80::1", 445, "admin", "",
         "Directory Service"),
        ("WIN://admin@h/", "h", 445, "admin", "", "System"),
    ],
)  # fmt: skip
def test_target_forms(text: str, host: str, port: int, user: str, domain: str, log: str) -> None:
    assert parse_target(text) == WinTarget(text, host, port, user, domain, log)


@pytest.mark.parametrize("text", ["win://", "win://a@", "win://h:0", "win://h:99999", "win://a b"])
def test_bad_targets(text: str) -> None:
    with pytest.raises(UsageError):
        parse_target(text)


def test_password_in_target_refused_without_echo() -> None:
    with pytest.raises(UsageError) as caught:
        parse_target("win://admin:Hunter2@dc01")
    assert "Hunter2" not in str(caught.value)


# -- credentials ------------------------------------------------------------------------------


def no_prompt(_: str) -> str:
    raise AssertionError("prompted")


def test_credentials_from_environment() -> None:
    target = parse_target("win://CORP\\admin@dc01")
    env = {"EVENTSWEEP_PASSWORD": "pw"}
    creds = credentials.resolve(target, WinOptions(), env, no_prompt)
    assert (creds.user, creds.domain, creds.password, creds.origin) == (
        "admin", "CORP", "pw", "EVENTSWEEP_PASSWORD",
    )  # fmt: skip
    assert "pw" not in repr(creds)
    hashed = credentials.resolve(
        target,
        WinOptions(),
        {
            "EVENTSWEEP_NTHASH": "aad3b435b51404eeaad3b435b51404ee:"
            "8846F7EAEE8FB117AD06BDD830B7586C",
            **env,
        },
        no_prompt,
    )
    assert (hashed.nthash, hashed.password) == ("8846f7eaee8fb117ad06bdd830b7586c", "")


def test_bad_nthash_not_echoed() -> None:
    with pytest.raises(UsageError) as caught:
        credentials.resolve(parse_target("win://a@h"), WinOptions(), {"EVENTSWEEP_NTHASH": "zz"})
    assert "zz" not in str(caught.value)


def test_prompt_once_when_interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials, "_prompted", [])
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "typed"

    settings = WinOptions(interactive=True)
    for host in ("a", "b"):
        creds = credentials.resolve(parse_target(f"win://u@{host}"), settings, {}, prompt)
        assert creds.password == "typed"
    assert len(asked) == 1
    env = {"EVENTSWEEP_PASSWORD": "pw"}
    anonymous = credentials.resolve(parse_target("win://h"), settings, env, no_prompt)
    assert (anonymous.user, anonymous.has_secret, anonymous.account) == ("", False, "anonymous")


def write_file(path: Path, text: str, mode: int = 0o600) -> str:
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_credentials_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_PW", "from-env")
    path = write_file(
        tmp_path / "creds",
        "[dc01.corp.example]\nuser = CORP\\admin\npassword = p;w # not a comment\n\n"
        "[10.0.0.*]\nuser = other\nnthash = 8846f7eaee8fb117ad06bdd830b7586c\n"
        "kerberos = no\n\n[*]\nuser = reader@corp\npassword_env = LAB_PW\n",
    )
    settings = WinOptions(credentials_file=path, kerberos=True)
    env = {"EVENTSWEEP_PASSWORD": "env-pw"}
    dc = credentials.resolve(parse_target("win://DC01.corp.example"), settings, env, no_prompt)
    assert (dc.account, dc.password, dc.kerberos) == ("CORP\\admin", "p;w # not a comment", True)
    lab = credentials.resolve(parse_target("win://10.0.0.9"), settings, env, no_prompt)
    assert (lab.user, lab.nthash, lab.kerberos) == ("other", "8846f7eaee8fb117ad06bdd830b7586c",
                                                    False)  # fmt: skip
    # a user named in the target skips sections for another user
    rest = credentials.resolve(parse_target("win://someone@10.0.0.9"), settings, env, no_prompt)
    assert (rest.user, rest.password, rest.origin) == ("someone", "env-pw", "EVENTSWEEP_PASSWORD")
    other = credentials.resolve(parse_target("win://x"), settings, env, no_prompt)
    assert (other.account, other.password) == ("corp\\reader", "from-env")


def test_credentials_file_must_be_private(tmp_path: Path) -> None:
    path = write_file(tmp_path / "creds", "[*]\npassword = s3cret\n", mode=0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        credentials.resolve(parse_target("win://h"), WinOptions(credentials_file=path), {})


def test_credentials_file_errors_never_quote_lines(tmp_path: Path) -> None:
    for text in ("s3cret-line\n[*]\n", "[*]\nuser = a\ns3cret-line\n", "[*]\npasswd = s3cret\n"):
        path = write_file(tmp_path / "creds", text)
        with pytest.raises(UsageError) as caught:
            credentials.resolve(parse_target("win://h"), WinOptions(credentials_file=path), {})
        assert "s3cret" not in str(caught.value)


# -- the wire ---------------------------------------------------------------------------------


def reply(buffer: bytes, asked: int, needed: int = 0, status: int = 0) -> bytes:
    array = struct.pack("<I", asked) + buffer + b"\x00" * (asked - len(buffer))
    array += b"\x00" * (-len(array) % 4)
    return array + struct.pack("<III", len(buffer), needed, status)


def test_read_request_layout() -> None:
    stub = wire.read_request(HANDLE, wire.BACKWARDS | wire.SEEK, 42, 65536)
    assert stub == HANDLE + struct.pack("<III", 0x0A, 42, 65536)
    with pytest.raises(ValueError):
        wire.read_request(HANDLE[:4], 0, 0, 1)
    with pytest.raises(ValueError):
        wire.read_request(HANDLE, 0, 0, wire.MAX_READ + 1)


def test_read_reply_forms() -> None:
    answer = wire.parse_read_reply(reply(b"abcdef", 10))
    assert (answer.buffer, answer.status, answer.at_end) == (b"abcdef", 0, False)
    assert wire.parse_read_reply(reply(b"", 64)).at_end
    assert wire.parse_read_reply(reply(b"", 3, status=wire.STATUS_END_OF_FILE)).at_end
    small = wire.parse_read_reply(reply(b"", 10, needed=180, status=wire.STATUS_BUFFER_TOO_SMALL))
    assert (small.needed, small.at_end) == (180, False)
    with pytest.raises(ValueError):
        wire.parse_read_reply(b"\x00" * 8)
    with pytest.raises(ValueError):
        wire.parse_read_reply(struct.pack("<I", 100) + b"\x00" * 20)


# -- the decoder ------------------------------------------------------------------------------


SID_500 = bytes([1, 5, 0, 0, 0, 0, 0, 5]) + struct.pack("<5I", 21, 1, 2, 3, 500)


def test_decode_every_field() -> None:
    raw = eventlogrecord(
        7, T0, written=T0 + 5, event_id=0x40001B7C, event_type=2, category=3,
        computer="HÖST-1", strings=("hello", "wörld 😀", ""), sid=SID_500, data=b"\x00\xffab",
    )  # fmt: skip
    batch = decoder().decode(raw, "2026-01-01T00:00:00.000000Z")
    assert batch.records == 1 and not batch.damaged
    event = batch.events[0]
    assert event.to_dict() == {
        "time": iso_from_epoch(T0),
        "target": "win://h",
        "computer": "HÖST-1",
        "log": "System",
        "record_id": 7,
        "event_id": 7036,
        "level": "warning",
        "source": "Service Control Manager",
        "category": 3,
        "message": "hello; wörld 😀; ",
        "data": {
            "event_id_raw": 0x40001B7C,
            "strings": ["hello", "wörld 😀", ""],
            "user_sid": "S-1-5-21-1-2-3-500",
            "binary": "00ff6162",
            "time_written": iso_from_epoch(T0 + 5),
        },
        "collected_at": "2026-01-01T00:00:00.000000Z",
    }


@pytest.mark.parametrize(
    ("event_type", "level"),
    [(0, "info"), (1, "error"), (2, "warning"), (4, "info"), (8, "audit_success"),
     (16, "audit_failure")],
)  # fmt: skip
def test_levels(event_type: int, level: str) -> None:
    raw = eventlogrecord(1, T0, event_type=event_type)
    assert decoder().decode(raw, "").events[0].level == level


@pytest.mark.parametrize("levels", [{"info"}, {"error"}, {"info", "error"}])
def test_level_filter_agrees_with_the_levels_events_get(levels: set[str]) -> None:
    """An unknown EventType (3 here) is an info event: ``--level info`` keeps it, as the
    event it becomes would pass the query."""
    raws = [eventlogrecord(n, T0 + n, event_type=kind) for n, kind in enumerate((3, 1, 4, 0, 7))]
    everything = decoder().decode(b"".join(reversed(raws)), "").events
    query = Query(levels=frozenset(levels))
    kept = decoder(query).decode(b"".join(reversed(raws)), "").events
    assert [e.record_id for e in kept] == [e.record_id for e in everything if query.matches(e)]
    assert {e.record_id for e in kept if e.level == "info"} == (
        {0, 2, 3, 4} if "info" in levels else set()
    )


def test_header_filter_and_final_match() -> None:
    raws = [eventlogrecord(n, T0 + n, event_type=1 if n % 2 else 4, event_id=n) for n in range(9)]
    buffer = b"".join(reversed(raws))
    query = Query(
        since=iso_from_epoch(T0 + 2), until=iso_from_epoch(T0 + 7),
        levels=frozenset({"error"}), event_ids=((3, 5),),
    )  # fmt: skip
    batch = decoder(query).decode(buffer, "")
    assert [event.record_id for event in batch.events] == [5, 3]
    assert batch.records == 9 and not batch.stop


def test_stop_on_time_written() -> None:
    raws = [eventlogrecord(n, T0 + 100 - n, written=T0 + 100 - n) for n in range(5)]
    batch = decoder(stop=T0 + 98).decode(b"".join(raws), "")
    assert [event.record_id for event in batch.events] == [0, 1, 2]
    assert batch.stop and batch.records == 4


def test_damaged_buffer_counted_not_fatal() -> None:
    good = eventlogrecord(1, T0, strings=("a",))
    broken = bytearray(eventlogrecord(2, T0, strings=("b",)))
    broken[4:8] = b"XXXX"
    batch = decoder().decode(good + bytes(broken), "")
    assert [event.record_id for event in batch.events] == [1]
    assert len(batch.damaged) == 1
    short = bytearray(eventlogrecord(3, T0, strings=("a", "b")))
    struct.pack_into("<H", short, 26, 9)  # nine strings announced, two present
    skipped = decoder().decode(bytes(short) + good, "")
    assert [event.record_id for event in skipped.events] == [1]
    assert "record 3 skipped" in skipped.damaged[0]


def test_sid_text() -> None:
    assert records.sid_text(SID_500) == "S-1-5-21-1-2-3-500"
    assert records.sid_text(bytes([1, 1, 0, 0, 0, 0, 0, 5]) + struct.pack("<I", 18)) == "S-1-5-18"
    assert records.sid_text(b"\x01") == ""


# -- the reading sequence ---------------------------------------------------------------------


class ScriptedSession:
    """Serves a log of records like Samba: the cursor starts at the oldest record."""

    def __init__(self, logs: dict[str, list[bytes]], oldest: int = 1) -> None:
        self.logs, self.oldest = logs, oldest
        self.calls: list[tuple[str, int, int, int]] = []
        self.cursor: dict[str, int] = {}

    def open_log(self, name: str) -> OpenLog:
        self.cursor[name] = self.oldest
        return OpenLog(name, HANDLE, self.oldest, len(self.logs[name]))

    def read(self, log: OpenLog, flags: int, offset: int, size: int) -> wire.ReadReply:
        self.calls.append((log.name, flags, offset, size))
        position = offset if flags & wire.SEEK else self.cursor[log.name]
        out = b""
        while position >= self.oldest:
            raw = self.logs[log.name][position - self.oldest]
            if len(out) + len(raw) > size:
                if not out:
                    return wire.ReadReply(b"", len(raw), wire.STATUS_BUFFER_TOO_SMALL)
                break
            out += raw
            position -= 1
        self.cursor[log.name] = position
        if not out and self.oldest == 1:
            return wire.ReadReply(b"", 0, wire.STATUS_END_OF_FILE)
        return wire.ReadReply(out, 0, wire.STATUS_SUCCESS)


def ids(chunks: list[reader.Chunk]) -> list[int | None]:
    return [event.record_id for chunk in chunks for event in chunk.events]


@pytest.mark.parametrize("oldest", [1, 50])
def test_newest_first_seek_then_sequential(oldest: int) -> None:
    log = [eventlogrecord(oldest + n, T0 + n, strings=("x" * 40,)) for n in range(300)]
    session = ScriptedSession({"System": log}, oldest)
    wanted = reader.decoders("t", ("System",), Query())
    got = ids(list(reader.chunks(session, wanted)))
    assert got == list(range(oldest + 299, oldest - 1, -1))
    first, *rest = session.calls
    assert first == ("System", wire.BACKWARDS | wire.SEEK, oldest + 299, reader.FIRST_BUFFER)
    assert all(flags == wire.BACKWARDS | wire.SEQUENTIAL for _, flags, _, _ in rest)
    assert rest[1][3] == 2 * rest[0][3]  # buffers double


def test_early_stop_reads_no_further() -> None:
    log = [eventlogrecord(1 + n, T0 + 60 * n) for n in range(2000)]
    session = ScriptedSession({"System": log})
    query = Query(since=iso_from_epoch(T0 + 60 * 1990))
    got = ids(list(reader.chunks(session, reader.decoders("t", ("System",), query))))
    assert got == list(range(2000, 1990, -1))
    assert len(session.calls) == 1


def test_record_bigger_than_buffer() -> None:
    log = [eventlogrecord(1, T0, strings=("y" * 20000,)), eventlogrecord(2, T0 + 1)]
    session = ScriptedSession({"System": log})
    got = ids(list(reader.chunks(session, reader.decoders("t", ("System",), Query()))))
    assert got == [2, 1]
    assert session.calls[2][3] > reader.FIRST_BUFFER


def test_logs_merged_newest_first() -> None:
    system = [eventlogrecord(1 + n, T0 + 2 * n) for n in range(100)]
    application = [eventlogrecord(1 + n, T0 + 2 * n + 1) for n in range(100)]
    session = ScriptedSession({"System": system, "Application": application})
    wanted = reader.decoders("t", ("System", "Application"), Query())
    events = [e for chunk in reader.chunks(session, wanted) for e in chunk.events]
    assert [e.time for e in events] == sorted((e.time for e in events), reverse=True)
    assert {e.log for e in events} == {"System", "Application"} and len(events) == 200


def test_unexpected_status_is_read_error() -> None:
    class Failing(ScriptedSession):
        def read(self, log: OpenLog, flags: int, offset: int, size: int) -> wire.ReadReply:
            return wire.ReadReply(b"", 0, 0xC0000001)

    session = Failing({"System": [eventlogrecord(1, T0)]})
    with pytest.raises(ReadError, match="0xc0000001"):
        list(reader.chunks(session, reader.decoders("t", ("System",), Query())))


# -- DCE/RPC on the pipe ----------------------------------------------------------------------


class FakePipe:
    """A pipe whose answers are DCE/RPC fragments prepared by the test; counts READs asked."""

    def __init__(self, fragments: list[bytes]) -> None:
        self.fragments, self.written = fragments, list[bytes]()
        self.asked = self.most_in_flight = 0
        self.in_flight: list[int] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def read(self) -> bytes:
        return self.fragments.pop(0)

    def ask(self) -> int:
        self.asked += 1
        self.in_flight.append(self.asked)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        return self.asked

    def collect(self, message_id: int) -> tuple[bytes, bool]:
        assert self.in_flight.pop(0) == message_id
        return self.fragments.pop(0), False


def fragment(
    call_id: int, stub: bytes, alloc: int, first: bool, last: bool, ptype: int = 2
) -> bytes:
    flags = (pipe.DCE_FIRST_LAST & 1 if first else 0) | (pipe.DCE_LAST if last else 0)
    header = pipe.DCE_HEADER.pack(5, 0, ptype, flags, 0x10, 24 + len(stub), 0, call_id)
    return header + struct.pack("<IHBB", alloc, 0, 0, 0) + stub


def fragments(call_id: int, stub: bytes, size: int) -> list[bytes]:
    pieces = [stub[at : at + size] for at in range(0, len(stub), size)]
    return [
        fragment(call_id, piece, len(stub) - n * size, n == 0, n == len(pieces) - 1)
        for n, piece in enumerate(pieces)
    ]


def test_fragments_read_ahead_exactly() -> None:
    stub = bytes(range(256)) * 40  # 10,240 bytes in fragments of 1,000
    fake = FakePipe(fragments(1, stub, 1000))
    channel = pipe.DceChannel(fake)  # type: ignore[arg-type]
    assert channel.call(10, b"request", answer_size=len(stub)) == stub
    assert fake.asked == 10 and fake.most_in_flight == 10 and not fake.fragments
    header = pipe.DCE_HEADER.unpack_from(fake.written[0], 0)
    assert header[2] == pipe.DCE_REQUEST and header[7] == 1
    assert fake.written[0][16:24] == struct.pack("<IHH", 7, 0, 10)


def test_fragments_without_size_hint_one_by_one() -> None:
    stub = b"x" * 2500
    fake = FakePipe(fragments(1, stub, 1000))
    assert pipe.DceChannel(fake).call(4, b"", answer_size=None) == stub  # type: ignore[arg-type]
    assert fake.most_in_flight == 1


def test_fault_and_foreign_call_id() -> None:
    fault = fragment(1, struct.pack("<I", 0x1C010003), 0, True, True, ptype=pipe.DCE_FAULT)
    with pytest.raises(pipe.PipeError) as caught:
        pipe.DceChannel(FakePipe([fault])).call(10, b"")  # type: ignore[arg-type]
    assert caught.value.status == 0x1C010003
    with pytest.raises(pipe.PipeError, match="call 9"):
        pipe.DceChannel(FakePipe([fragment(9, b"", 0, True, True)])).call(10, b"")  # type: ignore[arg-type]
