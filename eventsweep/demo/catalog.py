"""What the demo servers log: realistic providers, event ids, levels, data and messages.

Each *kind* is a function ``(rng, host) -> Draft``; a *mix* gives, for one log of one server
role, the kinds with their relative weights and the events per day. Error kinds are weighted so
that each server logs a few errors a day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random
from typing import Any

DOMAIN = "CORP"
DNS_DOMAIN = "corp.example.com"
DOMAIN_SID = "S-1-5-21-3623811015-3361044348-30300820"
USERS = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "administrator",
    "svc_backup",
    "svc_sql",
    "svc_web",
    "svc_monitor",
)
WORKSTATIONS = tuple(f"WKS-{number:04}" for number in range(101, 161))
SERVICES = (
    "Windows Update",
    "Background Intelligent Transfer Service",
    "Print Spooler",
    "WinHTTP Web Proxy Auto-Discovery Service",
    "Windows Modules Installer",
    "Software Protection",
    "Windows Defender Antivirus Service",
    "Volume Shadow Copy",
    "Microsoft Software Shadow Copy Provider",
    "Windows Error Reporting Service",
    "Device Setup Manager",
    "Network Setup Service",
)
PROCESSES = (
    r"C:\Windows\System32\svchost.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Windows\System32\taskhostw.exe",
    r"C:\Windows\System32\conhost.exe",
    r"C:\Windows\System32\wbem\WmiPrvSE.exe",
    r"C:\Program Files\Backup\agent.exe",
    r"C:\Windows\System32\gpupdate.exe",
    r"C:\Windows\System32\net.exe",
)
CRASHERS = (
    ("w3wp.exe", "10.0.17763.1", "clr.dll"),
    ("sqlservr.exe", "2019.150.4298.1", "sqlmin.dll"),
    ("agent.exe", "4.2.1.7", "ntdll.dll"),
    ("explorer.exe", "10.0.17763.4377", "KERNELBASE.dll"),
)


@dataclass(frozen=True, slots=True)
class Host:
    """One demo server."""

    name: str
    role: str

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DNS_DOMAIN}"


@dataclass(frozen=True, slots=True)
class Draft:
    """An event's content before it gets a time, a host and a record number."""

    event_id: int
    level: str
    source: str
    category: int | None
    data: dict[str, Any]
    message: str


Kind = Callable[[Random, Host], Draft]

SECURITY = "Microsoft-Windows-Security-Auditing"
SCM = "Service Control Manager"


def _user(rng: Random) -> str:
    return rng.choice(USERS)


def _sid(user: str) -> str:
    return f"{DOMAIN_SID}-{1100 + USERS.index(user)}"


def _client_ip(rng: Random) -> str:
    return f"10.20.{rng.randint(1, 8)}.{rng.randint(10, 250)}"


def _logon_id(rng: Random) -> str:
    return hex(rng.randint(0x100000, 0xFFFFFFF))


def _machine_subject(host: Host) -> dict[str, str]:
    """The Subject fields of an event the computer's own account (SYSTEM) caused."""
    return {
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": f"{host.name}$",
        "SubjectDomainName": DOMAIN,
        "SubjectLogonId": "0x3e7",
    }


def _user_subject(rng: Random, user: str, sid: str | None = None) -> dict[str, str]:
    """The Subject fields of an event a domain user's session caused (a new logon id)."""
    return {
        "SubjectUserSid": _sid(user) if sid is None else sid,
        "SubjectUserName": user,
        "SubjectDomainName": DOMAIN,
        "SubjectLogonId": _logon_id(rng),
    }


def logon(rng: Random, host: Host) -> Draft:
    user, kind = _user(rng), rng.choice((3, 3, 3, 3, 2, 10, 5))
    ip = "-" if kind in (2, 5) else _client_ip(rng)
    package = "Kerberos" if rng.random() < 0.8 else "NTLM"
    data = {
        **_machine_subject(host),
        "TargetUserSid": _sid(user),
        "TargetUserName": user,
        "TargetDomainName": DOMAIN,
        "TargetLogonId": _logon_id(rng),
        "LogonType": kind,
        "LogonProcessName": "Kerberos" if package == "Kerberos" else "NtLmSsp",
        "AuthenticationPackageName": package,
        "WorkstationName": rng.choice(WORKSTATIONS),
        "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
        "TransmittedServices": "-",
        "LmPackageName": "-" if package == "Kerberos" else "NTLM V2",
        "KeyLength": 0,
        "ProcessId": "0x0",
        "ProcessName": "-",
        "IpAddress": ip,
        "IpPort": "-" if ip == "-" else str(rng.randint(49152, 65535)),
        "ImpersonationLevel": "%%1833",
        "ElevatedToken": "%%1842",
    }
    message = (
        f"An account was successfully logged on.\r\n\r\nLogon Type:\t\t\t{kind}\r\n\r\n"
        f"New Logon:\r\n\tAccount Name:\t\t{user}\r\n\tAccount Domain:\t\t{DOMAIN}\r\n\r\n"
        f"Network Information:\r\n\tSource Network Address:\t{ip}\r\n\r\n"
        f"Detailed Authentication Information:\r\n\tAuthentication Package:\t{package}"
    )
    return Draft(4624, "audit_success", SECURITY, 12544, data, message)


def logon_failed(rng: Random, host: Host) -> Draft:
    user = rng.choice((*USERS[:8], "admin", "test", "guest", "backup", "scanner"))
    unknown = user not in USERS
    sub = "0xc0000064" if unknown else rng.choice(("0xc000006a", "0xc000006a", "0xc0000234"))
    ip = _client_ip(rng) if rng.random() < 0.8 else f"203.0.113.{rng.randint(1, 254)}"
    data = {
        "SubjectUserSid": "S-1-0-0",
        "SubjectUserName": "-",
        "SubjectDomainName": "-",
        "SubjectLogonId": "0x0",
        "TargetUserSid": "S-1-0-0",
        "TargetUserName": user,
        "TargetDomainName": DOMAIN,
        "Status": "0xc000006d",
        "FailureReason": "%%2313",
        "SubStatus": sub,
        "LogonType": 3,
        "LogonProcessName": "NtLmSsp ",
        "AuthenticationPackageName": "NTLM",
        "WorkstationName": rng.choice(WORKSTATIONS),
        "TransmittedServices": "-",
        "LmPackageName": "-",
        "KeyLength": 0,
        "ProcessId": "0x0",
        "ProcessName": "-",
        "IpAddress": ip,
        "IpPort": str(rng.randint(49152, 65535)),
    }
    message = (
        f"An account failed to log on.\r\n\r\nLogon Type:\t\t\t3\r\n\r\n"
        f"Account For Which Logon Failed:\r\n\tAccount Name:\t\t{user}\r\n"
        f"\tAccount Domain:\t\t{DOMAIN}\r\n\r\nFailure Information:\r\n"
        f"\tFailure Reason:\t\tUnknown user name or bad password.\r\n"
        f"\tStatus:\t\t\t0xC000006D\r\n\tSub Status:\t\t{sub.upper().replace('X', 'x')}\r\n\r\n"
        f"Network Information:\r\n\tSource Network Address:\t{ip}"
    )
    return Draft(4625, "audit_failure", SECURITY, 12544, data, message)


def logoff(rng: Random, host: Host) -> Draft:
    user = _user(rng)
    data = {
        "TargetUserSid": _sid(user),
        "TargetUserName": user,
        "TargetDomainName": DOMAIN,
        "TargetLogonId": _logon_id(rng),
        "LogonType": rng.choice((3, 3, 2, 10)),
    }
    message = f"An account was logged off.\r\n\r\nSubject:\r\n\tAccount Name:\t\t{user}"
    return Draft(4634, "audit_success", SECURITY, 12545, data, message)


def special_logon(rng: Random, host: Host) -> Draft:
    user = rng.choice(("administrator", "svc_backup", "svc_sql", "SYSTEM"))
    data = {
        **_user_subject(rng, user, "S-1-5-18" if user == "SYSTEM" else None),
        "PrivilegeList": "SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\t"
        "SeRestorePrivilege\r\n\t\t\tSeDebugPrivilege",
    }
    message = f"Special privileges assigned to new logon.\r\n\r\nAccount Name:\t\t{user}"
    return Draft(4672, "audit_success", SECURITY, 12548, data, message)


def process_created(rng: Random, host: Host) -> Draft:
    user, image = _user(rng), rng.choice(PROCESSES)
    parent = rng.choice(PROCESSES[:3])
    data = {
        **_user_subject(rng, user),
        "NewProcessId": hex(rng.randint(0x100, 0x3FFF)),
        "NewProcessName": image,
        "TokenElevationType": "%%1936",
        "ProcessId": hex(rng.randint(0x100, 0x3FFF)),
        "CommandLine": f'"{image}"',
        "TargetUserSid": "S-1-0-0",
        "TargetUserName": "-",
        "TargetDomainName": "-",
        "TargetLogonId": "0x0",
        "ParentProcessName": parent,
        "MandatoryLabel": "S-1-16-12288",
    }
    message = (
        f"A new process has been created.\r\n\r\nCreator Subject:\r\n\tAccount Name:\t\t"
        f"{user}\r\n\r\nProcess Information:\r\n\tNew Process Name:\t{image}\r\n"
        f"\tCreator Process Name:\t{parent}"
    )
    return Draft(4688, "audit_success", SECURITY, 13312, data, message)


def ticket_granted(rng: Random, host: Host) -> Draft:
    user = _user(rng)
    data = {
        "TargetUserName": user,
        "TargetDomainName": DNS_DOMAIN.upper(),
        "TargetSid": _sid(user),
        "ServiceName": "krbtgt",
        "ServiceSid": f"{DOMAIN_SID}-502",
        "TicketOptions": "0x40810010",
        "Status": "0x0",
        "TicketEncryptionType": "0x12",
        "PreAuthType": "2",
        "IpAddress": f"::ffff:{_client_ip(rng)}",
        "IpPort": str(rng.randint(49152, 65535)),
    }
    message = (
        f"A Kerberos authentication ticket (TGT) was requested.\r\n\r\nAccount Name:\t\t{user}"
    )
    return Draft(4768, "audit_success", SECURITY, 14339, data, message)


def service_ticket(rng: Random, host: Host) -> Draft:
    user = _user(rng)
    service = rng.choice(("WEB01$", "SQL01$", "FS01$", "APP01$", "cifs/FS01", "MSSQLSvc/SQL01"))
    data = {
        "TargetUserName": f"{user}@{DNS_DOMAIN.upper()}",
        "TargetDomainName": DNS_DOMAIN.upper(),
        "ServiceName": service,
        "ServiceSid": f"{DOMAIN_SID}-{rng.randint(1000, 1100)}",
        "TicketOptions": "0x40810000",
        "TicketEncryptionType": "0x12",
        "IpAddress": f"::ffff:{_client_ip(rng)}",
        "IpPort": "0",
        "Status": "0x0",
        "LogonGuid": "{6f1f2b2c-9d3e-4a55-8c1b-0d2e7a4b9c11}",
        "TransmittedServices": "-",
    }
    message = f"A Kerberos service ticket was requested.\r\n\r\nService Name:\t\t{service}"
    return Draft(4769, "audit_success", SECURITY, 14337, data, message)


def credential_validated(rng: Random, host: Host) -> Draft:
    user, ok = _user(rng), rng.random() < 0.97
    data = {
        "PackageName": "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0",
        "TargetUserName": user,
        "Workstation": rng.choice(WORKSTATIONS),
        "Status": "0x0" if ok else "0xc000006a",
    }
    message = (
        "The computer attempted to validate the credentials for an account.\r\n\r\n"
        f"Logon Account:\t{user}"
    )
    return Draft(4776, "audit_success" if ok else "audit_failure", SECURITY, 14336, data, message)


def share_accessed(rng: Random, host: Host) -> Draft:
    user = _user(rng)
    share = rng.choice((r"\\*\Finance", r"\\*\HR", r"\\*\Public", r"\\*\IPC$", r"\\*\Projects"))
    data = {
        **_user_subject(rng, user),
        "ObjectType": "File",
        "IpAddress": _client_ip(rng),
        "IpPort": str(rng.randint(49152, 65535)),
        "ShareName": share,
        "ShareLocalPath": "\\??\\D:\\Shares\\" + share[4:],
        "AccessMask": "0x1",
        "AccessList": "%%4416",
    }
    message = f"A network share object was accessed.\r\n\r\nShare Name:\t\t{share}"
    return Draft(5140, "audit_success", SECURITY, 12808, data, message)


def locked_out(rng: Random, host: Host) -> Draft:
    user = rng.choice(USERS[:12])
    data = {
        "TargetUserName": user,
        "TargetDomainName": rng.choice(WORKSTATIONS),
        "TargetSid": _sid(user),
        **_machine_subject(host),
    }
    return Draft(
        4740,
        "audit_success",
        SECURITY,
        13824,
        data,
        f"A user account was locked out.\r\n\r\nAccount Name:\t\t{user}",
    )


def group_member_added(rng: Random, host: Host) -> Draft:
    user = _user(rng)
    group = rng.choice(("Administrators", "Remote Desktop Users", "Backup Operators"))
    data = {
        "MemberName": f"CN={user},OU=Staff,DC=corp,DC=example,DC=com",
        "MemberSid": _sid(user),
        "TargetUserName": group,
        "TargetDomainName": "Builtin",
        "TargetSid": "S-1-5-32-544",
        **_user_subject(rng, "administrator"),
        "PrivilegeList": "-",
    }
    message = f"A member was added to a security-enabled local group.\r\n\r\nGroup Name:\t\t{group}"
    return Draft(4732, "audit_success", SECURITY, 13826, data, message)


def service_state(rng: Random, host: Host) -> Draft:
    service, state = rng.choice(SERVICES), rng.choice(("running", "stopped"))
    data = {"param1": service, "param2": state, "Binary": ""}
    return Draft(7036, "info", SCM, 0, data, f"The {service} service entered the {state} state.")


def start_type_changed(rng: Random, host: Host) -> Draft:
    service = rng.choice(SERVICES)
    old, new = rng.sample(("auto start", "demand start", "disabled"), 2)
    data = {"param1": service, "param2": old, "param3": new, "param4": service.replace(" ", "")}
    message = f"The start type of the {service} service was changed from {old} to {new}."
    return Draft(7040, "info", SCM, 0, data, message)


def service_crashed(rng: Random, host: Host) -> Draft:
    service, count = rng.choice(SERVICES), rng.randint(1, 3)
    data = {
        "param1": service,
        "param2": count,
        "param3": 60000,
        "param4": 1,
        "param5": "Restart the service",
    }
    message = (
        f"The {service} service terminated unexpectedly.  It has done this {count} time(s)."
        "  The following corrective action will be taken in 60000 milliseconds: "
        "Restart the service."
    )
    return Draft(7031, "error", SCM, 0, data, message)


def service_failed(rng: Random, host: Host) -> Draft:
    service = rng.choice(SERVICES)
    data = {"param1": service, "param2": "%%1053"}
    message = (
        f"The {service} service failed to start due to the following error: \r\n"
        "The service did not respond to the start or control request in a timely fashion."
    )
    return Draft(7000, "error", SCM, 0, data, message)


def netlogon_no_dc(rng: Random, host: Host) -> Draft:
    data = {"Data": DOMAIN, "Binary": "5E0000C0"}
    message = (
        f"This computer was not able to set up a secure session with a domain controller in "
        f"domain {DOMAIN} due to the following: \r\nThere are currently no logon servers "
        "available to service the logon request."
    )
    return Draft(5719, "error", "NETLOGON", 0, data, message)


def dns_timeout(rng: Random, host: Host) -> Draft:
    name = rng.choice(
        (
            "wpad",
            "time.windows.com",
            "settings-win.data.microsoft.com",
            f"fs01.{DNS_DOMAIN}",
            "ctldl.windowsupdate.com",
        )
    )
    data = {"QueryName": name, "AddressLength": 128, "Address": "02000035C0A80A0A0000000000000000"}
    message = (
        f"Name resolution for the name {name} timed out after none of the configured DNS "
        "servers responded."
    )
    return Draft(1014, "warning", "Microsoft-Windows-DNS-Client", 1014, data, message)


def dcom_denied(rng: Random, host: Host) -> Draft:
    data = {
        "param1": "application-specific",
        "param2": "Local",
        "param3": "Activation",
        "param4": "{D63B10C5-BB46-4990-A94F-E40B9D520160}",
        "param5": "{9CA88EE3-ACB7-47C8-AFC4-AB702511C276}",
        "param6": "NT AUTHORITY",
        "param7": "SYSTEM",
        "param8": "S-1-5-18",
        "param9": "LocalHost (Using LRPC)",
        "param10": "Unavailable",
        "param11": "Unavailable",
    }
    message = (
        "The application-specific permission settings do not grant Local Activation "
        "permission for the COM Server application with CLSID "
        "{D63B10C5-BB46-4990-A94F-E40B9D520160} to the user NT AUTHORITY\\SYSTEM."
    )
    return Draft(10016, "warning", "Microsoft-Windows-DistributedCOM", 0, data, message)


def time_changed(rng: Random, host: Host) -> Draft:
    drift = rng.randint(1, 900)
    data = {
        "NewTime": "",
        "OldTime": "",
        "Reason": 2,
        "ProcessName": "",
        "ProcessId": 1328,
        "DriftMicroseconds": drift * 1000,
    }
    return Draft(
        1, "info", "Microsoft-Windows-Kernel-General", 5, data, "The system time has changed."
    )


def uptime(rng: Random, host: Host) -> Draft:
    seconds = rng.randint(86400, 86400 * 60)
    data = {"Data": str(seconds), "Data_2": "60", "Binary": ""}
    return Draft(6013, "info", "EventLog", 0, data, f"The system uptime is {seconds} seconds.")


def disk_reset(rng: Random, host: Host) -> Draft:
    data = {"DeviceName": "\\Device\\RaidPort0", "ErrorCode": "0x00040081"}
    return Draft(
        129, "warning", "storahci", 0, data, "Reset to device, \\Device\\RaidPort0, was issued."
    )


def unexpected_reboot(rng: Random, host: Host) -> Draft:
    data = {
        "BugcheckCode": 0,
        "BugcheckParameter1": "0x0",
        "SleepInProgress": 0,
        "PowerButtonTimestamp": 0,
        "BootAppStatus": 0,
        "Checkpoint": 0,
        "ConnectedStandbyInProgress": False,
    }
    message = (
        "The system has rebooted without cleanly shutting down first. This error could be "
        "caused if the system stopped responding, crashed, or lost power unexpectedly."
    )
    return Draft(41, "critical", "Microsoft-Windows-Kernel-Power", 63, data, message)


def app_crash(rng: Random, host: Host) -> Draft:
    app, version, module = rng.choice(CRASHERS)
    code = rng.choice(("0xc0000005", "0xe0434352", "0xc0000409"))
    data = {
        "AppName": app,
        "AppVersion": version,
        "AppTimeStamp": "5c1c2f3a",
        "ModuleName": module,
        "ModuleVersion": "10.0.17763.4377",
        "ModuleTimeStamp": "6c8b1a7e",
        "ExceptionCode": code,
        "FaultingOffset": hex(rng.randint(0x1000, 0xFFFFF)),
        "ProcessId": hex(rng.randint(0x100, 0x3FFF)),
        "ProcessCreationTime": "0x1d9a1f0c2b3e4f5",
        "AppPath": f"C:\\Program Files\\{app.split('.')[0]}\\{app}",
        "ModulePath": f"C:\\Windows\\System32\\{module}",
        "IntegratorReportId": "8a0e4c52-1f7b-4b9e-9d1a-3c2f5e6a7b8c",
    }
    message = (
        f"Faulting application name: {app}, version: {version}, time stamp: 0x5c1c2f3a\r\n"
        f"Faulting module name: {module}, version: 10.0.17763.4377\r\n"
        f"Exception code: {code}"
    )
    return Draft(1000, "error", "Application Error", 100, data, message)


def dotnet_error(rng: Random, host: Host) -> Draft:
    app = rng.choice(("w3wp.exe", "agent.exe", "ReportService.exe"))
    data = {
        "Data": f"Application: {app}\nCoreCLR Version: 6.0.2523.51912\nDescription: The "
        "process was terminated due to an unhandled exception.\nException Info: "
        "System.NullReferenceException: Object reference not set to an instance of "
        "an object."
    }
    return Draft(1026, "error", ".NET Runtime", 0, data, data["Data"])


def wer_report(rng: Random, host: Host) -> Draft:
    bucket = rng.randint(10**9, 10**10)
    data = {
        "Bucket": str(bucket),
        "BucketType": 4,
        "EventName": "APPCRASH",
        "Response": "Not available",
        "CabId": 0,
        "P1": rng.choice(CRASHERS)[0],
        "ReportStatus": 268435456,
    }
    message = f"Fault bucket {bucket}, type 4\r\nEvent Name: APPCRASH\r\nResponse: Not available"
    return Draft(1001, "info", "Windows Error Reporting", 0, data, message)


def license_check(rng: Random, host: Host) -> Draft:
    data = {"Data": "RulesEngine"}
    return Draft(
        16384,
        "info",
        "Microsoft-Windows-Security-SPP",
        0,
        data,
        "Successfully scheduled Software Protection service for re-start.",
    )


def vss_info(rng: Random, host: Host) -> Draft:
    data = {"Data": "VSS", "Binary": ""}
    return Draft(
        8224, "info", "VSS", 0, data, "The VSS service is shutting down due to idle timeout."
    )


def sql_login_failed(rng: Random, host: Host) -> Draft:
    user = rng.choice(("sa", "report_reader", "svc_web", "admin"))
    ip = _client_ip(rng)
    data = {
        "Data": user,
        "Data_2": " Reason: Password did not match that for the login provided.",
        "Data_3": f" [CLIENT: {ip}]",
    }
    message = (
        f"Login failed for user '{user}'. Reason: Password did not match that for the "
        f"login provided. [CLIENT: {ip}]"
    )
    return Draft(18456, "audit_failure", "MSSQLSERVER", 4, data, message)


def sql_backup(rng: Random, host: Host) -> Draft:
    db = rng.choice(("Sales", "Inventory", "HR", "master", "msdb"))
    pages = rng.randint(1000, 900000)
    data = {"Data": db, "Data_2": str(pages), "Data_3": f"D:\\Backup\\{db}.bak"}
    message = f"Database backed up. Database: {db}, pages dumped: {pages}, first LSN: 4521:112:37."
    return Draft(18264, "info", "MSSQLSERVER", 6, data, message)


def iis_app_pool(rng: Random, host: Host) -> Draft:
    pool = rng.choice(("DefaultAppPool", "Intranet", "ShopApi"))
    data = {"AppPoolID": pool, "ProcessID": str(rng.randint(1000, 9000))}
    message = (
        f"A worker process with process id of '{data['ProcessID']}' serving application pool "
        f"'{pool}' was shutdown due to inactivity."
    )
    return Draft(5186, "info", "Microsoft-Windows-WAS", 0, data, message)


@dataclass(frozen=True, slots=True)
class Mix:
    """One log of one server role: events per day and the kinds with their weights."""

    per_day: int
    kinds: tuple[Kind, ...]
    weights: tuple[float, ...]


def _mix(per_day: int, *pairs: tuple[Kind, float]) -> Mix:
    return Mix(per_day, tuple(kind for kind, _ in pairs), tuple(weight for _, weight in pairs))


_SYSTEM_COMMON = (
    (service_state, 55.0),
    (start_type_changed, 4.0),
    (time_changed, 6.0),
    (uptime, 1.0),
    (dns_timeout, 3.0),
    (dcom_denied, 4.0),
    (disk_reset, 0.3),
    (service_crashed, 0.6),
    (service_failed, 0.2),
    (netlogon_no_dc, 0.2),
    (unexpected_reboot, 0.03),
)
_APP_COMMON = (
    (license_check, 30.0),
    (vss_info, 15.0),
    (wer_report, 4.0),
    (app_crash, 1.0),
    (dotnet_error, 0.4),
)
_SECURITY_MEMBER = (
    (logon, 30.0),
    (logoff, 26.0),
    (special_logon, 8.0),
    (process_created, 20.0),
    (logon_failed, 1.5),
    (share_accessed, 2.0),
    (group_member_added, 0.02),
)

MIXES: dict[str, dict[str, Mix]] = {
    "dc": {
        "Security": _mix(
            2400,
            (logon, 25),
            (logoff, 18),
            (ticket_granted, 14),
            (service_ticket, 22),
            (credential_validated, 9),
            (special_logon, 5),
            (process_created, 4),
            (logon_failed, 1.2),
            (locked_out, 0.04),
            (group_member_added, 0.03),
        ),
        "System": _mix(150, *_SYSTEM_COMMON),
        "Application": _mix(90, *_APP_COMMON),
    },
    "file": {
        "Security": _mix(900, (share_accessed, 40), *_SECURITY_MEMBER),
        "System": _mix(110, *_SYSTEM_COMMON),
        "Application": _mix(70, *_APP_COMMON),
    },
    "sql": {
        "Security": _mix(400, *_SECURITY_MEMBER),
        "System": _mix(110, *_SYSTEM_COMMON),
        "Application": _mix(160, *_APP_COMMON, (sql_backup, 20), (sql_login_failed, 2)),
    },
    "web": {
        "Security": _mix(350, *_SECURITY_MEMBER),
        "System": _mix(110, *_SYSTEM_COMMON),
        "Application": _mix(120, *_APP_COMMON, (iis_app_pool, 20)),
    },
}
ROLES = (
    ("DC01", "dc"),
    ("FS01", "file"),
    ("SQL01", "sql"),
    ("WEB01", "web"),
    ("DC02", "dc"),
    ("WEB02", "web"),
    ("APP01", "web"),
    ("FS02", "file"),
)
LOGS = ("Security", "System", "Application")
