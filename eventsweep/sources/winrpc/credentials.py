"""Who a ``win://`` target logs on as, and with what secret: never from the command line.

Where the secret comes from, first match wins:

1. the credentials file (``--credentials FILE``, ``WinOptions.credentials_file``): the first
   section whose host pattern matches the target's host and whose ``user`` (if any) agrees
   with the target's user;
2. no user named (in the target or the file): anonymous (or, with Kerberos, the principal of
   the ticket cache);
3. a password typed for this sweep only (``WinOptions.password``: the web application's form);
4. ``EVENTSWEEP_NTHASH``: an NT hash, 32 hex digits (or impacket's ``LM:NT`` form);
5. ``EVENTSWEEP_PASSWORD``;
6. a prompt on the terminal, once per run, when the run is interactive;
7. nothing: an empty password.

With ``WinOptions.kerberos`` the logon uses Kerberos with the ticket cache named by
``KRB5CCNAME`` (the secret, if any, is used only to get a ticket when the cache has none).

The credentials file is INI text, readable by its owner only (``chmod 600``); section names are
host patterns (shell wildcards, case-insensitive)::

    [dc01.corp.example]
    user = CORP\\admin
    password = the password, taken literally (no quoting, no inline comments)

    [10.0.0.*]
    user = admin
    nthash = 8846f7eaee8fb117ad06bdd830b7586c

    [*]
    user = CORP\\reader
    password_env = READER_PASSWORD
    kerberos = no

Secrets never appear in reprs, logs, outcome messages or exception texts.
"""

from __future__ import annotations

import configparser
import getpass
import os
import re
import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from functools import lru_cache

from eventsweep.errors import UsageError, first_line
from eventsweep.sources.winrpc.options import WinOptions
from eventsweep.sources.winrpc.target import WinTarget, split_user

PASSWORD_ENV = "EVENTSWEEP_PASSWORD"
NTHASH_ENV = "EVENTSWEEP_NTHASH"
_HASH = re.compile(r"^(?:[0-9A-Fa-f]{32}:)?(?P<nt>[0-9A-Fa-f]{32})$")
_KEYS = frozenset({"user", "domain", "password", "password_env", "nthash", "kerberos"})


@dataclass(frozen=True, slots=True)
class Credentials:
    """A logon identity. ``origin`` names where the secret came from (for messages)."""

    user: str = ""
    domain: str = ""
    password: str = field(default="", repr=False)
    nthash: str = field(default="", repr=False)
    kerberos: bool = False
    origin: str = "none"

    @property
    def has_secret(self) -> bool:
        return bool(self.password or self.nthash)

    @property
    def account(self) -> str:
        """``DOMAIN\\user`` or ``user`` (``anonymous`` when there is none), for messages."""
        if not self.user:
            return "anonymous"
        return f"{self.domain}\\{self.user}" if self.domain else self.user


@dataclass(frozen=True, slots=True)
class Entry:
    """One section of the credentials file."""

    pattern: str
    user: str = ""
    domain: str = ""
    password: str = field(default="", repr=False)
    nthash: str = field(default="", repr=False)
    kerberos: bool | None = None

    def applies(self, target: WinTarget) -> bool:
        if not fnmatchcase(target.host.lower(), self.pattern.lower()):
            return False
        return not (self.user and target.user) or self.user.lower() == target.user.lower()


def resolve(
    target: WinTarget,
    settings: WinOptions,
    environ: Mapping[str, str] = os.environ,
    prompt: Callable[[str], str] = getpass.getpass,
) -> Credentials:
    """The credentials for one target (see the module docstring for the order)."""
    entries = load(settings.credentials_file) if settings.credentials_file else ()
    for entry in entries:
        if entry.applies(target):
            return _from_entry(target, entry, settings)
    base = Credentials(user=target.user, domain=target.domain, kerberos=settings.kerberos)
    if not target.user:
        return base  # anonymous, or Kerberos with the principal of the ticket cache
    if settings.password:
        return replace(base, password=settings.password, origin="typed for this sweep")
    if environ.get(NTHASH_ENV):
        return replace(base, nthash=nthash(environ[NTHASH_ENV], NTHASH_ENV), origin=NTHASH_ENV)
    if environ.get(PASSWORD_ENV):
        return replace(base, password=environ[PASSWORD_ENV], origin=PASSWORD_ENV)
    if settings.interactive and not settings.kerberos:
        return replace(base, password=_prompt_once(prompt), origin="prompt")
    return base


def nthash(text: str, where: str) -> str:
    """The NT half of ``NT`` or ``LM:NT`` hex; UsageError naming ``where`` (not the value)."""
    match = _HASH.match(text.strip())
    if match is None:
        raise UsageError(f"{where}: an NT hash is 32 hex digits (or LM:NT)")
    return match.group("nt").lower()


def load(path: str) -> tuple[Entry, ...]:
    """The entries of a credentials file, in file order (cached per file version)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise UsageError(f"credentials file {path}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(
            f"credentials file {path} is readable by others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}): chmod 600 it"
        )
    return _load(path, info.st_mtime_ns, info.st_size)


@lru_cache(maxsize=8)
def _load(path: str, mtime: int, size: int) -> tuple[Entry, ...]:
    del mtime, size  # cache keys only
    parser = configparser.ConfigParser(interpolation=None, default_section="\x00defaults")
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise UsageError(f"credentials file {path}: {_problem(exc)}") from None
    return tuple(_entry(path, name, dict(parser[name])) for name in parser.sections())


def _entry(path: str, pattern: str, values: dict[str, str]) -> Entry:
    unknown = sorted(set(values) - _KEYS)
    if unknown:
        raise UsageError(f"credentials file {path} [{pattern}]: unknown key {unknown[0]!r}")
    domain, user = split_user(values.get("user", ""))
    password = values.get("password", "")
    if "password_env" in values:
        password = os.environ.get(values["password_env"], "")
    hashed = ""
    if values.get("nthash"):
        hashed = nthash(values["nthash"], f"credentials file {path} [{pattern}] nthash")
    return Entry(
        pattern=pattern,
        user=user,
        domain=values.get("domain", domain),
        password=password,
        nthash=hashed,
        kerberos=_yes(path, pattern, values["kerberos"]) if "kerberos" in values else None,
    )


def _from_entry(target: WinTarget, entry: Entry, settings: WinOptions) -> Credentials:
    return Credentials(
        user=target.user or entry.user,
        domain=target.domain or entry.domain,
        password=entry.password,
        nthash=entry.nthash,
        kerberos=settings.kerberos if entry.kerberos is None else entry.kerberos,
        origin=f"credentials file [{entry.pattern}]",
    )


def _yes(path: str, pattern: str, text: str) -> bool:
    value = configparser.ConfigParser.BOOLEAN_STATES.get(text.strip().lower())
    if value is None:
        raise UsageError(f"credentials file {path} [{pattern}]: kerberos is yes or no")
    return value


_prompted: list[str] = []
_prompt_lock = threading.Lock()


def _prompt_once(prompt: Callable[[str], str]) -> str:
    with _prompt_lock:
        if not _prompted:
            _prompted.append(prompt("Password for win:// targets: "))
        return _prompted[0]


def _problem(exc: BaseException) -> str:
    """What is wrong with the file, never quoting a line of it (it may hold a secret)."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno}: expected a [host pattern] line before any key"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(number) for number, _ in exc.errors) or "?"
        return f"line {lines}: expected [host pattern] or key = value"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return first_line(exc)
