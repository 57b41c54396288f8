"""``python -m eventsweep.cli``: the same as the ``eventsweep`` command."""

from eventsweep.cli import entry

entry()
