"""The names of a win:// record's insertion strings, so that Sigma rules (and ``data`` readers)
see ``TargetUserName`` and not ``strings[5]``.

MS-EVEN hands a record's insertion strings without their names; an .evtx file of the same
event holds them as its EventData, in the same order (the order of the provider's template).
``templates.tsv`` is that order for every (provider, event id, number of strings) met in the
real .evtx files of the corpus (written by ``scripts/winrpc_templates.py``); :data:`DOCUMENTED`
adds the templates of busy Security events that the corpus lacks, as Microsoft documents them.
A record whose (provider, event id, number of strings) is in neither keeps ``strings`` only.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

Key = tuple[str, int, int]

_SUBJECT = ("SubjectUserSid", "SubjectUserName", "SubjectDomainName", "SubjectLogonId")
_SECURITY = "Microsoft-Windows-Security-Auditing"
DOCUMENTED: dict[Key, tuple[str, ...]] = {
    # 4624 version 2 (Windows 10 / Server 2016 and later): version 1's 21, then six more
    (_SECURITY, 4624, 27): (
        *_SUBJECT,
        *("TargetUserSid", "TargetUserName", "TargetDomainName", "TargetLogonId", "LogonType"),
        *("LogonProcessName", "AuthenticationPackageName", "WorkstationName", "LogonGuid"),
        *("TransmittedServices", "LmPackageName", "KeyLength", "ProcessId", "ProcessName"),
        *("IpAddress", "IpPort", "ImpersonationLevel", "RestrictedAdminMode"),
        *("TargetOutboundUserName", "TargetOutboundDomainName", "VirtualAccount"),
        *("TargetLinkedLogonId", "ElevatedToken"),
    ),
    (_SECURITY, 4697, 9): (
        *_SUBJECT,
        *("ServiceName", "ServiceFileName", "ServiceType", "ServiceStartType", "ServiceAccount"),
    ),
    (_SECURITY, 4698, 6): (*_SUBJECT, "TaskName", "TaskContent"),
    (_SECURITY, 4740, 7): ("TargetUserName", "TargetDomainName", "TargetSid", *_SUBJECT),
    (_SECURITY, 4768, 14): (
        *("TargetUserName", "TargetDomainName", "TargetSid", "ServiceName", "ServiceSid"),
        *("TicketOptions", "Status", "TicketEncryptionType", "PreAuthType", "IpAddress"),
        *("IpPort", "CertIssuerName", "CertSerialNumber", "CertThumbprint"),
    ),
    (_SECURITY, 4769, 11): (
        *("TargetUserName", "TargetDomainName", "ServiceName", "ServiceSid", "TicketOptions"),
        *("TicketEncryptionType", "IpAddress", "IpPort", "Status", "LogonGuid"),
        "TransmittedServices",
    ),
}


@cache
def templates() -> dict[Key, tuple[str, ...]]:
    """Every known template (the corpus's, then the documented ones)."""
    found: dict[Key, tuple[str, ...]] = {}
    text = files("eventsweep.sources.winrpc").joinpath("templates.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            provider, event_id, count, spaced = line.split("\t")
            found[(provider, int(event_id), int(count))] = tuple(spaced.split(" "))
    for key, names in DOCUMENTED.items():
        assert len(names) == key[2], key
        found.setdefault(key, names)
    return found


def names_of(provider: str, event_id: int, count: int) -> tuple[str, ...] | None:
    """The names of a record's ``count`` insertion strings, or None when not known."""
    return templates().get((provider, event_id, count)) if count else None
