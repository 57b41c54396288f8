"""A pySigma rule's log source resolved to the events it reads: one :class:`Variant` or more.

Windows rules go through pySigma's own pipelines, as SigmaHQ's regression tests map them:

- ``sysmon`` (pysigma-pipeline-sysmon) then ``windows-logsources`` (pysigma-pipeline-windows):
  a generic category (process_creation, network_connection, registry_*, file_event…) becomes
  the Sysmon channel and its event id, with Sysmon's EventData names; a service becomes its
  channel (security → Security…); the ps_* categories become the PowerShell channels and ids.
- ``windows-audit`` then ``windows-logsources``, for the categories that pipeline maps
  (process_creation → Security 4688, registry_* → Security 4657, with their field names): a
  second variant of the same rule, so one rule reads both Sysmon and Security logs.
- the few services neither names (:data:`~eventsweep.detect.fields.EXTRA_CHANNELS`) get their
  channel the same way; a category or service still without a channel (file_access,
  file_rename: ETW only) is reported as not supported.

Linux rules read the journal: their service names the journald identifiers
(:data:`~eventsweep.detect.fields.LINUX_SERVICES`); auditd and the Sysmon-for-Linux categories
are not in the journal and are reported as not supported. Other products are not read.
"""

from __future__ import annotations

import contextlib
import copy
from functools import cache

from sigma.exceptions import SigmaError
from sigma.pipelines.sysmon.sysmon import sysmon_pipeline
from sigma.pipelines.windows.windows import windows_audit_pipeline, windows_logsource_pipeline
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation
from sigma.rule import SigmaRule

from eventsweep.detect.compile import Unsupported, plan
from eventsweep.detect.fields import EXTRA_CHANNELS, LINUX_SERVICES, LINUX_UNSUPPORTED
from eventsweep.detect.index import Variant, constraint, narrow

AUDIT_CATEGORIES = frozenset(("process_creation", "registry_event", "registry_set", "registry_add"))


@cache
def _pipelines() -> tuple[ProcessingPipeline, ProcessingPipeline]:
    logsources = windows_logsource_pipeline() + _extra_channels()
    return sysmon_pipeline() + logsources, windows_audit_pipeline() + logsources


def _extra_channels() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="eventsweep: channels of the services the Windows pipeline does not name",
        priority=10,
        items=[
            ProcessingItem(
                identifier=f"eventsweep_logsource_{service}",
                transformation=AddConditionTransformation({"Channel": channel}),
                rule_conditions=[LogsourceCondition(product="windows", service=service)],
            )
            for service, channel in EXTRA_CHANNELS.items()
        ],
    )


def variants(rule: SigmaRule) -> tuple[Variant, ...]:
    """The rule's variants; raises :class:`Unsupported` or pySigma's error when it has none."""
    product = (rule.logsource.product or "").lower()
    if product == "windows":
        return _windows(rule)
    if product == "linux":
        return (_linux(rule),)
    raise Unsupported(
        f"log source product {product or 'none'!r} is not read by eventsweep (windows, linux)"
    )


def _windows(rule: SigmaRule) -> tuple[Variant, ...]:
    sysmon, audit = _pipelines()
    category = (rule.logsource.category or "").lower()
    if category not in AUDIT_CATEGORIES:
        found = [_windows_variant(rule, sysmon)]
    else:
        found = [_windows_variant(copy.deepcopy(rule), sysmon)]
        # a field Security events lack fails the windows-audit variant: Sysmon only, then
        with contextlib.suppress(SigmaError, Unsupported):
            found.append(_windows_variant(rule, audit))
    named = category or rule.logsource.service
    if named and found[0].logs is None:  # a log source no pipeline knows: no channel to read
        kind = "category" if category else "service"
        raise Unsupported(f"log source {kind} {named!r} is mapped to no Windows event log")
    return tuple(found)


def _windows_variant(rule: SigmaRule, pipeline: ProcessingPipeline) -> Variant:
    pipeline.apply(rule)
    tree = plan(rule)
    return Variant(
        tree,
        False,
        constraint(tree, "Channel"),
        constraint(tree, "Provider_Name"),
        constraint(tree, "EventID", numeric=True),
    )


def _linux(rule: SigmaRule) -> Variant:
    service = (rule.logsource.service or "").lower()
    category = (rule.logsource.category or "").lower()
    for name in (service, category):
        if name in LINUX_UNSUPPORTED:
            raise Unsupported(f"linux log source {name!r} is not in the journal")
    tree = plan(rule)
    identifiers = LINUX_SERVICES.get(service)
    sources = narrow(
        frozenset(identifiers) if identifiers else None, constraint(tree, "SYSLOG_IDENTIFIER")
    )
    return Variant(tree, True, frozenset(("journal",)), sources, None)
