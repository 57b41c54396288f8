"""Real Samba servers serving MS-EVEN (``\\pipe\\eventlog``) for the win:// tests and benchmark.

Each :class:`Samba` is one ``samba-dcerpcd`` + ``smbd`` pair on 127.0.0.1, on a free port, with
its own directory (config, state, locks, pid files, logs) and its own RPC dynamic port range
(instances sharing a range lose their eventlog pipe). Started as::

    samba-dcerpcd -D -s CONF /usr/libexec/samba/rpcd_classic /usr/libexec/samba/rpcd_winreg
    smbd -D -s CONF

and stopped by killing the process groups of the PIDs in its pid directory. Users are added
with ``smbpasswd -a -s`` (they must be Unix accounts: ``root``, ``nobody``); the log size limits
are raised with ``net registry import`` before the first start, else the first open prunes
every record older than a week.

Records are written straight into ``<state>/eventlog/<log>.tdb`` (libtdb via ctypes, in one
transaction), in Samba's ``eventlog_Record_tdb`` layout (NDR, no alignment), as found by writing
one record with ``eventlogadm -o write`` and reading it back with ``tdbdump``:

    u32 size, 'eLfL', u32 record number, u32 time generated, u32 time written, u32 event id,
    u16 type, u16 number of strings, u16 category, u16 reserved flags,
    u32 closing record number, u32 string offset, u32 sid length, u32 sid offset,
    u32 data length, u32 data offset,
    u32 bytes + source name (UTF-16LE, NUL-ended), u32 bytes + computer name (same),
    u32 sid padding, u32 bytes + SID as S-1-… text (UTF-16LE, NUL-ended),
    u32 bytes + strings (each UTF-16LE, NUL-ended), u32 bytes + data, u32 padding.

``size`` is the EVENTLOGRECORD size the server will report: 56 + names + sid padding + sid
+ strings + data + padding + 4, with padding = -(names + strings + data) mod 4. Keys are the
record number (int32 LE); ``INFO/version`` (1), ``INFO/oldest_entry`` and ``INFO/next_record``
(NUL-ended keys, int32 values) keep the log's bounds. A running server sees new records at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eventsweep.sources import Settings, plan
from eventsweep.sources.winrpc import WinSource
from eventsweep.sources.winrpc.options import WinOptions
from eventsweep.sources.winrpc.session import Session
from tests.testbed.net import free_port

LIBEXEC = Path("/usr/libexec/samba")
LOGS = ("Application", "System", "Security")


@dataclass(frozen=True)
class LogRecord:
    """One record as a test writes it (times are POSIX seconds)."""

    time_generated: int
    time_written: int | None = None  # None: same as generated
    event_id: int = 1000
    event_type: int = 4
    category: int = 0
    source: str = "eventsweep-test"
    computer: str = "TESTHOST"
    strings: tuple[str, ...] = ()
    sid: str = ""  # S-1-… text, or "" for none
    data: bytes = b""

    @property
    def written(self) -> int:
        return self.time_generated if self.time_written is None else self.time_written


def _utf16z(text: str) -> bytes:
    return (text + "\x00").encode("utf-16-le")


def _blob(raw: bytes) -> bytes:
    return struct.pack("<I", len(raw)) + raw


def tdb_value(number: int, record: LogRecord) -> bytes:
    """The ``eventlog_Record_tdb`` bytes of one record (see the module docstring)."""
    source, computer = _utf16z(record.source), _utf16z(record.computer)
    sid = _utf16z(record.sid) if record.sid else b""
    strings = b"".join(_utf16z(text) for text in record.strings)
    names = len(source) + len(computer)
    sid_padding = -names % 4 if sid else 0
    padding = -(names + len(strings) + len(record.data)) % 4
    size = 56 + names + sid_padding + len(sid) + len(strings) + len(record.data) + padding + 4
    header = struct.pack(
        "<I4s4I4H6I", size, b"eLfL", number, record.time_generated, record.written,
        record.event_id, record.event_type, len(record.strings), record.category, 0,
        0, 0, len(sid), 0, len(record.data), 0,
    )  # fmt: skip
    return b"".join(
        [header, _blob(source), _blob(computer), struct.pack("<I", sid_padding), _blob(sid),
         _blob(strings), _blob(record.data), struct.pack("<I", padding)]
    )  # fmt: skip


class _Datum(ctypes.Structure):
    _fields_ = (("dptr", ctypes.c_void_p), ("dsize", ctypes.c_size_t))


def _datum(raw: bytes) -> tuple[_Datum, ctypes.Array[ctypes.c_char]]:
    buffer = ctypes.create_string_buffer(raw, len(raw))
    return _Datum(ctypes.cast(buffer, ctypes.c_void_p), len(raw)), buffer


class Tdb:
    """The few libtdb calls the record writer needs (libtdb.so.1, Debian's libtdb1)."""

    _lib: ctypes.CDLL | None = None

    def __init__(self, path: Path, mode: int = 0o644) -> None:
        lib = self.lib()
        self._tdb = lib.tdb_open(os.fsencode(path), 0, 0, os.O_RDWR | os.O_CREAT, mode)
        if not self._tdb:
            raise OSError(ctypes.get_errno(), f"tdb_open {path} failed")

    @classmethod
    def lib(cls) -> ctypes.CDLL:
        if cls._lib is None:
            lib = ctypes.CDLL("libtdb.so.1", use_errno=True)
            lib.tdb_open.restype = ctypes.c_void_p
            lib.tdb_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                     ctypes.c_uint]  # fmt: skip
            lib.tdb_store.argtypes = [ctypes.c_void_p, _Datum, _Datum, ctypes.c_int]
            lib.tdb_fetch.restype = _Datum
            lib.tdb_fetch.argtypes = [ctypes.c_void_p, _Datum]
            for name in ("tdb_close", "tdb_transaction_start", "tdb_transaction_commit",
                         "tdb_transaction_cancel"):  # fmt: skip
                getattr(lib, name).argtypes = [ctypes.c_void_p]
            cls._lib = lib
        return cls._lib

    def store(self, key: bytes, value: bytes) -> None:
        (k, _kb), (v, _vb) = _datum(key), _datum(value)
        if self.lib().tdb_store(self._tdb, k, v, 0) != 0:
            raise OSError("tdb_store failed")

    def fetch_int(self, key: bytes) -> int | None:
        k, _kb = _datum(key)
        found = self.lib().tdb_fetch(self._tdb, k)
        if not found.dptr:
            return None
        try:
            return int(struct.unpack("<i", ctypes.string_at(found.dptr, found.dsize)[:4])[0])
        finally:
            ctypes.CDLL(None).free(ctypes.c_void_p(found.dptr))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.lib().tdb_transaction_start(self._tdb) != 0:
            raise OSError("tdb_transaction_start failed")
        try:
            yield
        except BaseException:
            self.lib().tdb_transaction_cancel(self._tdb)
            raise
        if self.lib().tdb_transaction_commit(self._tdb) != 0:
            raise OSError("tdb_transaction_commit failed")

    def close(self) -> None:
        if self._tdb:
            self.lib().tdb_close(self._tdb)
            self._tdb = None


def append_records(path: Path, records: Sequence[LogRecord], mode: int = 0o644) -> list[int]:
    """Append records to a Samba eventlog tdb (created if missing); their record numbers."""
    tdb = Tdb(path, mode)
    try:
        with tdb.transaction():
            first = tdb.fetch_int(b"INFO/next_record\x00") or 1
            tdb.store(b"INFO/version\x00", struct.pack("<i", 1))
            if tdb.fetch_int(b"INFO/oldest_entry\x00") is None:
                tdb.store(b"INFO/oldest_entry\x00", struct.pack("<i", first))
            for number, record in enumerate(records, first):
                tdb.store(struct.pack("<i", number), tdb_value(number, record))
            tdb.store(b"INFO/next_record\x00", struct.pack("<i", first + len(records)))
    finally:
        tdb.close()
    os.chmod(path, mode)
    return list(range(first, first + len(records)))


def instance_root() -> Path:
    """A fresh directory for an instance that other users can traverse (mode 0755).

    Samba checks a non-root user's access to a log against the mode of its tdb, which needs a
    path that user can reach: pytest's private temporary directories (0700) are not.
    The caller removes it (``shutil.rmtree``).
    """
    root = Path(tempfile.mkdtemp(prefix="eventsweep-samba-"))
    root.chmod(0o755)
    return root


_taken_ranges: set[int] = set()


def _free_range(size: int = 10) -> tuple[int, int]:
    """Ports below the kernel's ephemeral range, all free now, not handed out before."""
    for _ in range(200):
        base = random.randrange(20000, 32000, size)
        if base not in _taken_ranges and all(_bindable(base + i) for i in range(size)):
            _taken_ranges.add(base)
            return base, base + size - 1
    raise RuntimeError("no free RPC port range")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Samba:
    """One Samba instance on 127.0.0.1 with its own directory, port and users."""

    root: Path
    logs: tuple[str, ...] = LOGS
    users: dict[str, str] = field(default_factory=lambda: {"root": "Root-pw-1"})
    options: dict[str, str] = field(default_factory=dict)  # more [global] settings
    port: int = 0
    pids: list[int] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "smb.conf"

    def url(self, log: str = "System", user: str = "root") -> str:
        return f"win://{user}@127.0.0.1:{self.port}/{log}"

    def tdb(self, log: str) -> Path:
        return self.root / "state" / "eventlog" / f"{log.lower()}.tdb"

    def write(self, log: str, records: Sequence[LogRecord], mode: int = 0o644) -> list[int]:
        self.tdb(log).parent.mkdir(parents=True, exist_ok=True)
        return append_records(self.tdb(log), records, mode)

    def start(self) -> Samba:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self._configure()
        _run([str(LIBEXEC / "samba-dcerpcd"), "-D", "-s", str(self.conf),
              str(LIBEXEC / "rpcd_classic"), str(LIBEXEC / "rpcd_winreg")])  # fmt: skip
        _run(["smbd", "-D", "-s", str(self.conf)])
        self._wait_ready(time.monotonic() + 20.0)
        return self

    def kill_smbd(self) -> None:
        """SIGKILL smbd and its children: the server is gone for every client at once."""
        _kill_group(_read_pid(self.root / "pid" / "smbd.pid"))

    def stop(self) -> None:
        for name in ("smbd.pid", "samba-dcerpcd.pid"):
            _kill_group(_read_pid(self.root / "pid" / name))
        for pid in self.pids:
            _kill_group(pid)

    def _configure(self) -> None:
        for name in ("lock", "state", "cache", "private", "pid", "ncalrpc", "log"):
            (self.root / name).mkdir(exist_ok=True)
        low, high = _free_range()
        extra = "".join(f"   {key} = {value}\n" for key, value in self.options.items())
        self.conf.write_text(_SMB_CONF.format(
            root=self.root, port=self.port, low=low, high=high, logs=" ".join(self.logs)
        ) + extra)  # fmt: skip
        for user, password in self.users.items():
            _run(["smbpasswd", "-c", str(self.conf), "-a", "-s", user],
                 stdin=f"{password}\n{password}\n")  # fmt: skip
        registry = self.root / "limits.reg"
        registry.write_text(_limits(self.logs))
        _run(["net", "-s", str(self.conf), "registry", "import", str(registry)])

    def _wait_ready(self, deadline: float) -> None:
        pipe = self.root / "ncalrpc" / "np" / "eventlog"
        while time.monotonic() < deadline:
            if pipe.exists() and _listening(self.port):
                self.pids = [_read_pid(self.root / "pid" / n) for n in ("smbd.pid",
                             "samba-dcerpcd.pid")]  # fmt: skip
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"samba in {self.root} did not start (see {self.root}/log)")


@contextlib.contextmanager
def samba_with(
    records: Mapping[str, Sequence[LogRecord]], password: str, logs: Sequence[str] = ()
) -> Iterator[Samba]:
    """A Samba instance of its own, ``root`` its one user, each log holding its records
    (``logs``: the logs it serves, those of ``records`` if none); stopped and removed after."""
    root = instance_root()
    server = Samba(root, logs=tuple(logs or records), users={"root": password})
    try:
        server.start()
        for log, written in records.items():
            server.write(log, written)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def bound_session(url: str, timeout: float = 10.0) -> Session:
    """A session to a win:// target, connected, logged on and bound to the eventlog pipe (as
    the source opens one); the caller closes it."""
    (source,) = plan([url], Settings.of(win=WinOptions(connect_timeout=timeout)))
    assert isinstance(source, WinSource)
    session = Session(source.spec, source.credentials, timeout)
    try:
        session.connect()
        session.login()
        session.bind()
    except BaseException:
        session.close()
        raise
    return session


_SMB_CONF = """\
[global]
   server role = standalone server
   interfaces = 127.0.0.1
   bind interfaces only = yes
   smb ports = {port}
   disable netbios = yes
   lock directory = {root}/lock
   state directory = {root}/state
   cache directory = {root}/cache
   private dir = {root}/private
   pid directory = {root}/pid
   ncalrpc dir = {root}/ncalrpc
   log file = {root}/log/log.%m
   passdb backend = tdbsam:{root}/private/passdb.tdb
   load printers = no
   printing = bsd
   printcap name = /dev/null
   disable spoolss = yes
   rpc start on demand helpers = no
   rpc server dynamic port range = {low}-{high}
   eventlog list = {logs}
"""


def _limits(logs: Sequence[str]) -> str:
    """A .reg file raising every log's size and age limits (trailing blank line required)."""
    key = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Eventlog\\"
    sections = [
        f'[{key}{log}]\n"MaxSize"=dword:40000000\n"Retention"=dword:7fffffff\n' for log in logs
    ]
    return "Windows Registry Editor Version 5.00\n\n" + "\n".join(sections) + "\n"


def _run(command: list[str], stdin: str | None = None) -> None:
    subprocess.run(command, input=stdin, text=True, check=True, capture_output=True, timeout=60)


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _kill_group(pid: int) -> None:
    if pid <= 0:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process of the group remains."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
