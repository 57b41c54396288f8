"""The Sigma field map, as data: which event field a Sigma field name reads.

One table per platform, documented in the README ("Hunting with Sigma"). A name found in the
table reads one of the event's own fields; any other name reads ``data[name]``, and when the
data has no key of that exact spelling, the key that equals it case-insensitively.

Two targets are derived from ``level``, not event fields: ``level_number``, the Windows level
number (1 critical, 2 error, 3 warning, 4 info, 5 verbose, 0 for the audit levels) that Sigma's
``Level`` compares with, and ``audit_keywords``, the Keywords value of the Security log's audit
levels (``0x8020000000000000`` success, ``0x8010000000000000`` failure; none otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

WINDOWS: Mapping[str, str] = MappingProxyType(
    {
        "EventID": "event_id",
        "Channel": "log",
        "Provider_Name": "source",
        "Provider": "source",
        "Computer": "computer",
        "EventRecordID": "record_id",
        "Task": "category",
        "Category": "category",
        "Level": "level_number",
        "Keywords": "audit_keywords",
        "TimeCreated": "time",
    }
)

LINUX: Mapping[str, str] = MappingProxyType(
    {
        "MESSAGE": "message",
        "SYSLOG_IDENTIFIER": "source",
        "_HOSTNAME": "computer",
        "host": "computer",
        "__SEQNUM": "record_id",
        "__REALTIME_TIMESTAMP": "time",
    }
)

# The Windows level number of each level word (Sigma's Level field; audit events log 0).
LEVEL_NUMBERS: Mapping[str, int] = MappingProxyType(
    {
        "critical": 1,
        "error": 2,
        "warning": 3,
        "info": 4,
        "verbose": 5,
        "audit_success": 0,
        "audit_failure": 0,
    }
)

# Windows log source services the pipelines do not name, and their channels (added the same
# way pysigma-pipeline-windows adds its own: a Channel condition).
EXTRA_CHANNELS: Mapping[str, str] = MappingProxyType(
    {
        "smbclient-connectivity": "Microsoft-Windows-SmbClient/Connectivity",
        "smbserver-connectivity": "Microsoft-Windows-SMBServer/Connectivity",
        "iis-configuration": "Microsoft-IIS-Configuration/Operational",
        "ldap": "Microsoft-Windows-LDAP-Client/Debug",
    }
)

# The event fields the log-source index knows for every event (see detect/index.py).
INDEXED = frozenset(("log", "source", "event_id"))

# The System/Keywords of the audit levels as the Security log writes them (classic + audit bit).
AUDIT_KEYWORDS: Mapping[str, str] = MappingProxyType(
    {"audit_success": "0x8020000000000000", "audit_failure": "0x8010000000000000"}
)

# journald identifiers (SYSLOG_IDENTIFIER, as journalctl matches them) of a Linux log source
# service; a service not named here (auth, syslog…) reads every journal entry.
LINUX_SERVICES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sshd": ("sshd",),
        "sudo": ("sudo",),
        "su": ("su",),
        "cron": ("cron", "CRON", "crond"),
        "vsftpd": ("vsftpd",),
        "clamav": ("clamd", "freshclam", "clamav"),
        "guacamole": ("guacd",),
    }
)

# Linux log sources journald does not give (their rules are reported, not loaded).
LINUX_UNSUPPORTED = (
    "auditd",
    "process_creation",
    "file_event",
    "network_connection",
)


def event_field(name: str, *, linux: bool) -> str | None:
    """The event field a Sigma field name reads (``time``, ``log``…), or None for ``data``."""
    return (LINUX if linux else WINDOWS).get(name)
