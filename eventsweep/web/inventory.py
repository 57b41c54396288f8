"""Inventory files (one target a line, as ``sweep -i``) offered by the new-sweep form.

Only files inside the ``--inventory-dir`` directories are read: a name is resolved (symbolic
links and ``..`` included) and refused unless the real path lies inside one of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from eventsweep.errors import UsageError

MAX_BYTES = 1 << 20  # an inventory larger than this is refused
MAX_FILES = 500


@dataclass(frozen=True, slots=True)
class Inventory:
    name: str  # as offered: "<directory's index>:<path inside it>"
    path: str  # the real path
    label: str  # what the form shows


class Inventories:
    def __init__(self, directories: Sequence[str]) -> None:
        self.directories = tuple(os.path.realpath(directory) for directory in directories)

    def listing(self) -> list[Inventory]:
        """Every regular file below the directories (hidden ones skipped), sorted."""
        found: list[Inventory] = []
        for index, root in enumerate(self.directories):
            for folder, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    path = os.path.join(folder, name)
                    inside = os.path.relpath(path, root)
                    if os.path.isfile(path) and len(found) < MAX_FILES:
                        label = os.path.join(os.path.basename(root), inside)
                        found.append(Inventory(f"{index}:{inside}", path, label))
        return found

    def resolve(self, name: str) -> str:
        """The real path of an inventory named in the form; UsageError if outside."""
        index, colon, inside = name.partition(":")
        if colon and index.isdigit() and int(index) < len(self.directories):
            candidate = os.path.join(self.directories[int(index)], inside)
        else:
            candidate = name
        real = os.path.realpath(candidate)
        if not any(_within(real, root) for root in self.directories):
            raise UsageError(f"inventory {name!r}: not inside an --inventory-dir directory")
        if not os.path.isfile(real):
            raise UsageError(f"inventory {name!r}: no such file")
        return real

    def targets(self, name: str) -> list[str]:
        """The targets an inventory names (comments and blank lines skipped)."""
        path = self.resolve(name)
        try:
            if os.path.getsize(path) > MAX_BYTES:
                raise UsageError(f"inventory {name!r}: larger than {MAX_BYTES} bytes")
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"inventory {name!r}: cannot read it ({exc})") from None
        return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
