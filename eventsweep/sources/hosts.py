"""``host[:port]`` in a target text, as ssh:// and win:// both write it (pure).

A host is a name (no spaces, controls, ``@``, ``/``, brackets or colons) or an IPv6 address in
brackets (``[2001:db8::7]``, ``[fe80::1%eth0]``); the port, when given, 1 to 65535 in ASCII
digits. Anything else is a :class:`~eventsweep.errors.UsageError` quoting the target.
"""

from __future__ import annotations

import ipaddress
import re

from eventsweep.errors import UsageError

_NAME = re.compile(r"[^\s\x00-\x1f\x7f@/\\\[\]:?#]+")
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)


def host_port(target: str, hostport: str) -> tuple[str, int | None]:
    """(host, port or None) of ``hostport``, the host part of the target text ``target``."""
    if hostport.startswith("["):
        inside, closed, after = hostport[1:].partition("]")
        if not closed:
            raise UsageError(f"target {target!r}: '[' without its ']' around an IPv6 address")
        host = _ipv6(target, inside)
        if after and not after.startswith(":"):
            raise UsageError(f"target {target!r}: {after!r} after the address (expected :PORT)")
        return host, _port(target, after[1:]) if after else None
    host, colon, port_text = hostport.partition(":")
    if not host:
        raise UsageError(f"target {target!r}: no host name")
    if not _NAME.fullmatch(host):
        raise UsageError(
            f"target {target!r}: {host!r} is not a host name (an IPv6 address goes in brackets)"
        )
    return host, _port(target, port_text) if colon else None


def _ipv6(target: str, text: str) -> str:
    address, _, zone = text.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise UsageError(f"target {target!r}: [{text}] is not an IPv6 address") from None
    if "%" in text and not _NAME.fullmatch(zone):
        raise UsageError(f"target {target!r}: [{text}] has a bad zone after '%'")
    return text


def _port(target: str, text: str) -> int:
    if not _PORT.fullmatch(text) or not 0 < int(text) < 65536:
        raise UsageError(f"target {target!r}: port {text!r} is not a number from 1 to 65535")
    return int(text)
