"""The systemd journal, as the ``ssh://`` and ``journal:`` sources both read it, apart from
either transport:

- :mod:`.command`: the journalctl command for a query and what its exit status means (pure);
- :mod:`.mapping`: one ``journalctl --output=json`` record as an event (pure);
- :mod:`.stream`: the read itself, over any running journalctl (:data:`~.stream.Starter`);
- :mod:`.resume`: ``--new``, after a bookmark's cursor;
- :mod:`.follow`: ``eventsweep follow``, a kept ``journalctl --follow`` per target.

The names below are re-exported for callers that import them from here.
"""

from __future__ import annotations

from eventsweep.sources.journald.command import (
    Journalctl,
    build_argv,
    can_match,
    check_exit,
    command_line,
    exact_levels,
    fields_argv,
    follow_argv,
    journal_time,
    priorities,
    priority_range,
    source_matches,
    wanted_values,
)
from eventsweep.sources.journald.mapping import (
    DEFAULT_LEVEL,
    LEVEL_OF_PRIORITY,
    SOURCE_FIELDS,
    iso_us,
    level,
    parse,
    record_id,
    source,
    text,
    to_event,
)
from eventsweep.sources.journald.stream import (
    CHUNK,
    STDERR_KEPT,
    Process,
    Starter,
    drain_into,
    encoded,
    found_sources,
    journal_events,
    line_batches,
    note,
    read_values,
)

__all__ = [
    "CHUNK",
    "DEFAULT_LEVEL",
    "LEVEL_OF_PRIORITY",
    "SOURCE_FIELDS",
    "STDERR_KEPT",
    "Journalctl",
    "Process",
    "Starter",
    "build_argv",
    "can_match",
    "check_exit",
    "command_line",
    "drain_into",
    "encoded",
    "exact_levels",
    "fields_argv",
    "follow_argv",
    "found_sources",
    "iso_us",
    "journal_events",
    "journal_time",
    "level",
    "line_batches",
    "note",
    "parse",
    "priorities",
    "priority_range",
    "read_values",
    "record_id",
    "source",
    "source_matches",
    "text",
    "to_event",
    "wanted_values",
]
