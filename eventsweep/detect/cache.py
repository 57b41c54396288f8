"""The compiled-rule cache: one pickle of every rule file's compiled result, keyed by content.

The key of a file is the sha256 of its bytes; the pickle holds the :func:`fingerprint` it was
made with (the versions of pySigma and its pipelines, and the text of the modules that
compile) and is ignored under another one. So an edited rule recompiles that file, an upgraded
pySigma or a changed compiler every file, and old entries never pile up. The pickle holds our
own plain tuples (:class:`~eventsweep.detect.parse.FileResult`), never pySigma objects.
It lives in ``platformdirs.user_cache_dir("eventsweep")`` or ``$EVENTSWEEP_CACHE``, and is
replaced atomically; a damaged or unreadable cache is ignored (rules are recompiled).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs

NAME = "sigma-rules.pickle"
LIMIT = 50_000  # entries kept; beyond, only the last load's
_PACKAGES = ("pysigma", "pysigma-pipeline-windows", "pysigma-pipeline-sysmon")
_COMPILERS = ("plan.py", "compile.py", "logsources.py", "parse.py", "index.py", "fields.py")


def directory() -> Path:
    override = os.environ.get("EVENTSWEEP_CACHE")
    return Path(override) if override else Path(platformdirs.user_cache_dir("eventsweep"))


@cache
def fingerprint() -> bytes:
    digest = hashlib.sha256()
    for package in _PACKAGES:
        digest.update(f"{package}=={_version(package)};".encode())
    here = Path(__file__).parent
    for name in _COMPILERS:
        digest.update((here / name).read_bytes())
    return digest.digest()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def key(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def read(where: Path) -> dict[str, Any]:
    """The cached entries (file key → compiled result), empty when there are none for this
    fingerprint."""
    path = where / NAME
    try:
        with path.open("rb") as file:
            stored = pickle.load(file)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return {}
    if not isinstance(stored, tuple) or len(stored) != 2 or stored[0] != fingerprint():
        return {}
    return stored[1] if isinstance(stored[1], dict) else {}


def write(entries: dict[str, Any], where: Path) -> None:
    """Replace the cache with ``entries`` (atomically; an unwritable cache is not an error)."""
    try:
        where.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=where, prefix=".sigma-", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump((fingerprint(), entries), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, where / NAME)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
