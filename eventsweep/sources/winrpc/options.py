"""The win:// source's own settings (from the command line's connection and credential flags)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class WinOptions:
    connect_timeout: float = 10.0
    credentials_file: str | None = None  # --credentials FILE
    kerberos: bool = False  # --kerberos: the ticket cache in KRB5CCNAME
    interactive: bool = False  # may prompt for a password on the terminal
    # typed for one sweep only (the web form): used where the environment's would be, first
    password: str = field(default="", repr=False)
