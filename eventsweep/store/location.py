"""Where the store lives: ``--store PATH``, else ``EVENTSWEEP_STORE``, else ``eventsweep/events.db``
in the user's data directory (XDG: ``~/.local/share/eventsweep/events.db``, via platformdirs);
``--no-store`` for none."""

from __future__ import annotations

import os

ENVIRONMENT = "EVENTSWEEP_STORE"


def default_path() -> str:
    """The store used when no ``--store`` is given."""
    given = os.environ.get(ENVIRONMENT)
    if given:
        return given
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("eventsweep", appauthor=False), "events.db")


def resolve(flag: str | None, disabled: bool = False) -> str | None:
    """The store path a command uses (None with ``--no-store``)."""
    if disabled:
        return None
    return os.path.expanduser(flag) if flag else default_path()
