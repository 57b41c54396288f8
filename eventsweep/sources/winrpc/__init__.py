"""Windows hosts over the EventLog Remoting Protocol (MS-EVEN), ``\\pipe\\eventlog`` over SMB.

The classic ``OpenEventLog``/``ReadEventLog(BACKWARDS|SEQUENTIAL)`` recipe, from Linux, with
impacket for SMB and DCE/RPC and a direct decoder of the read buffer. Modules:

    target       win://[DOMAIN\\]user@host[:port][/Log] → WinTarget (pure)
    credentials  password / NT hash / Kerberos / credentials file → Credentials
    wire         the ElfrReadELW request and answer as bytes (pure)
    records      EVENTLOGRECORD → Event, with a header-only pre-filter (pure)
    failures     impacket's exceptions told apart, one line each
    session      one blocking SMB + MS-EVEN session, errors mapped per stage
    reader       newest first with early stop, several logs merged (blocking)
    source       the async source the engine reads
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventsweep.sources.winrpc.options import WinOptions

if TYPE_CHECKING:
    from eventsweep.sources.winrpc.source import WinSource
    from eventsweep.sources.winrpc.target import WinTarget, parse_target

__all__ = ["WinOptions", "WinSource", "WinTarget", "parse_target", "plan"]

_LAZY = {
    "WinSource": "eventsweep.sources.winrpc.source",
    "WinTarget": "eventsweep.sources.winrpc.target",
    "parse_target": "eventsweep.sources.winrpc.target",
}


def __getattr__(name: str) -> Any:
    # impacket takes ~0.2 s to import: only a sweep with win:// targets pays for it
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


def plan(text: str, options: WinOptions | None) -> list[WinSource]:
    """The one source a ``win://`` target text stands for (UsageError if the text is wrong)."""
    from eventsweep.sources.winrpc.credentials import resolve
    from eventsweep.sources.winrpc.source import WinSource
    from eventsweep.sources.winrpc.target import parse_target

    spec = parse_target(text)
    options = options or WinOptions()
    credentials = resolve(spec, options)
    return [WinSource(spec, credentials, options.connect_timeout)]
