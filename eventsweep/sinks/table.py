"""The terminal table: the classic recipe's columns, one line per event, streamed.

Event text is attacker-controlled: it is shown as plain text (rich markup off, control
characters and escape sequences replaced by :func:`eventsweep.text.defuse`), never interpreted
by the terminal.
"""

from __future__ import annotations

from typing import IO, Any

from rich.console import Console
from rich.text import Text

from eventsweep.model import Event
from eventsweep.sinks import SinkOptions
from eventsweep.text import defuse

_STYLES = {
    "critical": "bold red",
    "error": "red",
    "warning": "yellow",
    "audit_failure": "magenta",
    "audit_success": "green",
    "verbose": "dim",
}
TARGET_WIDTH = 32
# (title, width, right-aligned): the classic recipe's columns, fixed widths so rows line up
COLUMNS = (
    ("time", 19, False),
    ("computer", 22, False),
    ("source", 28, False),
    ("cat", 5, True),
    ("record", 9, True),
    ("id", 6, True),
    ("level", 13, False),
)


def _cell(text: str, width: int, right: bool) -> str:
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


class TableSink:
    def __init__(self, stream: IO[Any], options: SinkOptions) -> None:
        self._console = Console(
            file=stream,
            markup=False,
            highlight=False,
            emoji=False,
            soft_wrap=True,
            color_system="auto" if options.color else None,
            width=options.width,
        )
        self._by_target = options.group == "target"
        self._target: str | None = None
        header = [_cell(name, width, right) for name, width, right in COLUMNS]
        if not self._by_target:
            header.insert(0, _cell("target", TARGET_WIDTH, False))
        self._console.print(Text("  ".join([*header, "message"]), style="bold"))

    def write(self, event: Event) -> None:
        if self._by_target and event.target != self._target:
            self._target = event.target
            self._console.print(Text(f"== {defuse(event.target)}", style="bold cyan"))
        self._console.print(self._line(event))

    def _line(self, event: Event) -> Text:
        cells = (
            event.time[:19].replace("T", " "),
            event.computer,
            event.source,
            "" if event.category is None else event.category,
            "" if event.record_id is None else event.record_id,
            "" if event.event_id is None else event.event_id,
        )
        line = Text()
        if not self._by_target:
            line.append(_cell(defuse(event.target), TARGET_WIDTH, False) + "  ", style="cyan")
        for value, (_, width, right) in zip(cells, COLUMNS[:-1], strict=True):
            line.append(_cell(defuse(value), width, right) + "  ")
        _, width, right = COLUMNS[-1]  # the level, in its colour
        line.append(_cell(event.level, width, right), style=_STYLES.get(event.level, ""))
        line.append("  " + defuse(event.message, 400))
        return line

    def close(self) -> None:
        self._console.file.flush()
