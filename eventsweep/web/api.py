"""The JSON API (``/api/…``): everything the pages show and do, for scripts (OpenAPI at
``/api/openapi.json``). The pages call the same functions (:func:`results`, :func:`summary`…).

A state-changing call (POST) needs the session's CSRF token in ``X-CSRF-Token``:
``GET /api/session`` gives it (and the session cookie to send it with).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Query as Param
from fastapi import Request as HttpRequest
from pydantic import BaseModel, Field

from eventsweep.detect.rules import Detection
from eventsweep.errors import UsageError
from eventsweep.store import detections as kept
from eventsweep.store.detections import Listed, RuleCount
from eventsweep.store.reader import Histogram, Page, Reader, Stored, SweepRecord
from eventsweep.web.context import Context, SweepSpec
from eventsweep.web.live import LiveSweep, watch
from eventsweep.web.search import PAGE_SIZES, Search
from eventsweep.web.streams import StreamResponse

router = APIRouter(prefix="/api", tags=["api"])


def context(request: HttpRequest) -> Context:
    found: Context = request.app.state.context
    return found


Ctx = Annotated[Context, Depends(context)]


def search_of(
    since: str = "24h",
    until: str = "",
    level: Annotated[list[str], Param()] = [],  # noqa: B006 (FastAPI reads, never mutates)
    event_id: str = "",
    source: str = "",
    log: str = "",
    target: str = "",
    q: str = "",
    sweep: str = "",
    group: str = "time",
    order: str = "desc",
    size: int = 50,
    after: str = "",
    at: str = "",
) -> Search:
    """The query bar's parameters (the same for every page and API call that searches)."""
    try:
        return Search(
            since, until, tuple(level), event_id, source, log, target, q, sweep, group, order,
            size if size in PAGE_SIZES else 50, after, at,
        )  # fmt: skip
    except UsageError as exc:
        raise HTTPException(400, str(exc)) from None


Searched = Annotated[Search, Depends(search_of)]


# ---- what the pages and the API both compute ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Results:
    search: Search  # with its moment (``at``) fixed, for the page links
    page: Page
    groups: list[tuple[str, int, Page]]  # grouped by target: (target, its count, first page)
    # the shown events' detections, by store id (events no rule matched are absent)
    detections: dict[int, list[Detection]] = field(default_factory=dict)

    def shown(self) -> list[Stored]:
        """Every event the results show (the page's, or each group's)."""
        return self.page.events + [stored for _, _, page in self.groups for stored in page.events]


def bad_request(exc: UsageError) -> HTTPException:
    return HTTPException(400, str(exc))


async def results(ctx: Context, search: Search) -> Results:
    now = datetime.now(UTC)
    pinned = search.pinned(now)
    try:
        where = pinned.filter(now)
    except UsageError as exc:
        raise bad_request(exc) from None
    newest = search.order == "desc"

    def work(reader: Reader) -> Results:
        if search.group == "target":
            found = Results(pinned, Page([], None), _groups(reader, pinned, now))
        else:
            page = reader.events(
                where, newest_first=newest, size=search.size, after=search.after or None
            )
            found = Results(pinned, page, [])
        found.detections.update(kept.of_events(reader, [s.id for s in found.shown()]))
        return found

    try:
        return await ctx.read(work, Results(pinned, Page([], None), []))
    except UsageError as exc:
        raise bad_request(exc) from None


GROUP_TARGETS = 20  # targets shown when grouped by target (their top events each)
GROUP_ROWS = 10


def _groups(reader: Reader, search: Search, now: datetime) -> list[tuple[str, int, Page]]:
    from dataclasses import replace

    from eventsweep.web.search import glob_escape

    where = search.filter(now)
    found = reader.facets(where, top=GROUP_TARGETS).get("target", [])
    newest = search.order == "desc"
    groups = []
    for target, count in found:
        one = replace(where, targets=(glob_escape(str(target)),))
        groups.append(
            (str(target), count, reader.events(one, newest_first=newest, size=GROUP_ROWS))
        )
    return groups


@dataclass(frozen=True, slots=True)
class Summary:
    histogram: Histogram
    facets: dict[str, list[tuple[Any, int]]]


async def histogram(ctx: Context, search: Search) -> Histogram:
    where = _filter(search)
    empty = Histogram("", "", 0, [])
    return await ctx.summary("histogram", where, lambda reader: reader.histogram(where), empty)


async def facets(ctx: Context, search: Search) -> dict[str, list[tuple[Any, int]]]:
    where = _filter(search)
    return await ctx.summary("facets", where, lambda reader: reader.facets(where), {})


def _filter(search: Search) -> Any:
    now = datetime.now(UTC)
    try:
        return search.pinned(now).filter(now)
    except UsageError as exc:
        raise bad_request(exc) from None


def event_json(stored: Stored, detections: list[Detection] | None = None) -> dict[str, Any]:
    """A stored event as the API gives it; with ``detections``, the rules that matched it."""
    found = {"id": stored.id, "sweep": stored.sweep, **stored.event.to_dict()}
    if detections is not None:
        found["detections"] = [detection.to_dict() for detection in detections]
    return found


@dataclass(frozen=True, slots=True)
class Detections:
    """The detections of a search's events: counts per rule, and the newest of them."""

    rules: list[RuleCount]
    listed: list[Listed]


LISTED = 200  # detections a listing shows


async def detections(ctx: Context, search: Search) -> Detections:
    where = _filter(search)
    none = Detections([], [])

    def work(reader: Reader) -> Detections:
        return Detections(kept.by_rule(reader, where), kept.listing(reader, where, LISTED))

    return await ctx.summary("detections", where, work, none)


async def rule_counts(ctx: Context, search: Search) -> list[RuleCount]:
    where = _filter(search)
    none: list[RuleCount] = []
    return await ctx.summary("rules", where, lambda reader: kept.by_rule(reader, where), none)


def sweep_json(record: SweepRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "id": record.id,
        "started": record.started,
        "ended": record.ended,
        "command": record.command,
        "query": record.query,
        "targets": record.targets,
        "events": record.events,
        "failed": record.failed,
        "outcomes": record.outcome_dicts(),
    }


# ---- routes ------------------------------------------------------------------------------------


@router.get("/session")
async def session(request: HttpRequest) -> dict[str, Any]:
    """This session's CSRF token (send it as ``X-CSRF-Token`` on every POST)."""
    return {"csrf": request.state.csrf}


@router.get("/events")
async def events(ctx: Ctx, search: Searched) -> dict[str, Any]:
    """One page of events (keyset: pass ``next`` back as ``after``); grouped by target:
    each target's first events."""
    found = await results(ctx, search)
    body: dict[str, Any] = {"search": found.search.to_dict(), "store": ctx.has_store()}

    def one(stored: Stored) -> dict[str, Any]:
        return event_json(stored, found.detections.get(stored.id, []))

    if search.group == "target":
        body["groups"] = [
            {"target": target, "count": count, "events": [one(s) for s in page.events]}
            for target, count, page in found.groups
        ]
    else:
        body["events"] = [one(stored) for stored in found.page.events]
        body["next"] = found.page.next
    return body


@router.get("/events/{event_id}")
async def event(ctx: Ctx, event_id: int) -> dict[str, Any]:
    """One event, every field (``data`` included), and every rule that matched it."""
    found, rules = await event_and_detections(ctx, event_id)
    if found is None:
        raise HTTPException(404, "no such event")
    return event_json(found, rules)


async def event_and_detections(
    ctx: Context, event_id: int
) -> tuple[Stored | None, list[Detection]]:
    def work(reader: Reader) -> tuple[Stored | None, list[Detection]]:
        found = reader.event(event_id)
        if found is None:
            return None, []
        return found, kept.of_events(reader, [event_id]).get(event_id, [])

    return await ctx.read(work, (None, []))


@router.get("/detections")
async def detections_route(ctx: Ctx, search: Searched) -> dict[str, Any]:
    """The detections of the search's events (hunts keep them): counts per rule, most first,
    and the newest detections, each with its event's id."""
    found = await detections(ctx, search)
    return {
        "rules": [
            {"id": rule.rule_id, "title": rule.title, "level": rule.level, "count": rule.count}
            for rule in found.rules
        ],
        "detections": [
            {"event": item.event_id, "time": item.time, "target": item.target,
             "rule": item.detection.to_dict()}
            for item in found.listed
        ],
    }  # fmt: skip


@router.get("/histogram")
async def histogram_route(ctx: Ctx, search: Searched) -> dict[str, Any]:
    """Counts per time bucket per level for the search."""
    found = await histogram(ctx, search)
    return {
        "since": found.since,
        "until": found.until,
        "seconds": found.seconds,
        "buckets": [{"start": start, "counts": counts} for start, counts in found.buckets],
    }


@router.get("/facets")
async def facets_route(ctx: Ctx, search: Searched) -> dict[str, Any]:
    """Top targets, sources, event ids and levels of the search, with counts."""
    found = await facets(ctx, search)
    return {
        name: [{"value": value, "count": count} for value, count in values]
        for name, values in found.items()
    }


@router.get("/sweeps")
async def sweeps(ctx: Ctx, before: int | None = None) -> dict[str, Any]:
    """Running sweeps started here, and past sweeps from the store (newest first)."""
    none: list[SweepRecord] = []
    past = await ctx.read(lambda reader: reader.sweeps(before=before), none)
    return {
        "running": [live.to_dict() for live in ctx.sweeps.running()],
        "sweeps": [sweep_json(record) for record in past],
    }


@router.get("/sweeps/{ref}")
async def sweep(ctx: Ctx, ref: str) -> dict[str, Any]:
    """One past sweep by number or id, with every target's outcome."""
    found = await ctx.read(lambda reader: reader.sweep(ref), None)
    if found is None:
        raise HTTPException(404, "no such sweep")
    return sweep_json(found)


class SweepBody(BaseModel):
    """A new sweep. Texts as the command line's flags take them."""

    targets: list[str] = Field(default_factory=list, description="targets, as `sweep` takes")
    inventories: list[str] = Field(default_factory=list, description="names from /api/inventories")
    since: str = "24h"
    until: str = ""
    levels: list[str] = Field(default_factory=list)
    event_ids: str = ""
    sources: str = ""
    logs: str = ""
    grep: str = ""
    new: bool = Field(False, description="only what arrived since the last sweep of each target")
    password: str = Field("", description="win:// password for this sweep only; never kept")

    def spec(self) -> SweepSpec:
        return SweepSpec(
            tuple(self.targets), tuple(self.inventories), self.since, self.until,
            tuple(self.levels), self.event_ids, self.sources, self.logs, self.grep, self.new,
            self.password,
        )  # fmt: skip


@router.post("/sweeps", status_code=201)
async def start(ctx: Ctx, body: SweepBody) -> dict[str, Any]:
    """Start a sweep; watch it at ``/api/live/{id}/stream``."""
    try:
        live = await ctx.start_sweep(body.spec())
    except UsageError as exc:
        raise bad_request(exc) from None
    return {"id": live.id, "live": f"/api/live/{live.id}", "page": f"/live/{live.id}"}


def live_of(ctx: Context, sweep_id: str) -> LiveSweep:
    live = ctx.sweeps.get(sweep_id)
    if live is None:
        raise HTTPException(404, "no such running sweep (past sweeps: /api/sweeps)")
    return live


@router.get("/live/{sweep_id}")
async def live(ctx: Ctx, sweep_id: str) -> dict[str, Any]:
    """A sweep started here: every target's state, the events so far."""
    return live_of(ctx, sweep_id).to_dict()


@router.get("/live/{sweep_id}/stream", response_class=StreamResponse)
async def stream(ctx: Ctx, sweep_id: str, seen: Annotated[int, Param(ge=0)] = 0) -> StreamResponse:
    """Server-sent events, at most 4 times a second: ``state`` (as /api/live/{id}) if it
    changed, ``events`` (the newest 20 arrivals after event number ``seen``, which a page
    rendered with, then after those sent), ``end``."""
    found = live_of(ctx, sweep_id)
    return StreamResponse(watch(found, seen))


@router.post("/live/{sweep_id}/cancel")
async def cancel(ctx: Ctx, sweep_id: str) -> dict[str, Any]:
    """Stop a running sweep: targets not finished end as ``interrupted``."""
    found = live_of(ctx, sweep_id)
    found.stop.set()
    found.bump()
    return {"id": found.id, "cancelled": True}


@router.get("/inventories")
async def inventories(ctx: Ctx) -> list[dict[str, str]]:
    """The inventory files the new-sweep form may name (inside --inventory-dir only)."""
    found = ctx.inventories.listing()
    return [{"name": item.name, "label": item.label} for item in found]
