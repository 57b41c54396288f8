"""The HTML pages: rendered on the server (Jinja2, autoescaping on), each the twin of an API route
and computed by the same functions (:mod:`eventsweep.web.api`). Forms post with the session's
CSRF token; nothing here needs JavaScript to search, page, open an event or start a sweep.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Form, HTTPException
from fastapi import Request as HttpRequest
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined

from eventsweep.errors import UsageError
from eventsweep.model import LEVELS
from eventsweep.store.reader import SweepRecord
from eventsweep.web import api
from eventsweep.web.api import Ctx, Searched
from eventsweep.web.context import Context, SweepSpec
from eventsweep.web.export import export_response
from eventsweep.web.histogram import LEVEL_CLASSES, chart
from eventsweep.web.search import QUICK_PICKS, Search, glob_escape
from eventsweep.web.security import AUTH_COOKIE, cookie_header

router = APIRouter(include_in_schema=False)

templates = Environment(
    loader=PackageLoader("eventsweep.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["json"] = lambda value: orjson.dumps(
    value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
).decode()


def _level_class(level: object) -> str:
    return LEVEL_CLASSES.get(str(level), "l-other")


templates.filters["level_class"] = _level_class
templates.filters["glob_escape"] = glob_escape


def render(request: HttpRequest, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    ctx: Context = request.app.state.context
    page = templates.get_template(name).render(
        csrf=request.state.csrf,
        path=request.url.path,
        login=ctx.keys.token is not None,
        levels=LEVELS,
        **values,
    )
    return HTMLResponse(page, status_code=status, headers={"cache-control": "no-store"})


def login_page(csrf: str, error: str = "") -> bytes:
    """The login page, also the body of every 401 a browser gets (it holds no data)."""
    return templates.get_template("login.html").render(csrf=csrf, error=error).encode()


# ---- search -----------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def search_page(request: HttpRequest, ctx: Ctx, search: Searched) -> HTMLResponse:
    if not await asyncio.to_thread(ctx.has_store):
        return render(request, "empty.html", search=search, demo=ctx.config.demo_dir is not None)
    try:
        found, drawn, facets, rules = await asyncio.gather(
            api.results(ctx, search), api.histogram(ctx, search), api.facets(ctx, search),
            api.rule_counts(ctx, search),
        )  # fmt: skip
    except HTTPException as exc:
        return render(
            request, "search.html", 400, search=search, error=exc.detail, results=None,
            chart=None, facets={}, quick=QUICK_PICKS, rules=[],
        )  # fmt: skip
    return render(
        request, "search.html", search=search, error=None, results=found, chart=chart(drawn),
        facets=facets, quick=QUICK_PICKS, rules=rules,
    )  # fmt: skip


@router.get("/detections", response_class=HTMLResponse)
async def detections_page(request: HttpRequest, ctx: Ctx, search: Searched) -> HTMLResponse:
    """The detections of the search's events: counts per rule, then the newest of them."""
    try:
        found = await api.detections(ctx, search)
    except HTTPException as exc:
        return render(request, "message.html", 400, title="Bad search", text=exc.detail)
    pinned = search.pinned(datetime.now(UTC))
    return render(
        request, "detections.html", search=pinned, quick=QUICK_PICKS, found=found,
        most=api.LISTED,
    )  # fmt: skip


@router.get("/events/{event_id}", response_class=HTMLResponse)
async def event_page(request: HttpRequest, ctx: Ctx, event_id: int) -> HTMLResponse:
    found, rules = await api.event_and_detections(ctx, event_id)
    if found is None:
        return render(request, "message.html", 404, title="No such event", text="")
    return render(request, "event.html", stored=found, event=found.event.to_dict(), rules=rules)


@router.get("/export")
async def export_page(ctx: Ctx, search: Searched, format: str = "jsonl") -> Response:
    return export_response(ctx, search, format)


# ---- sweeps -----------------------------------------------------------------------------------


@router.get("/sweeps", response_class=HTMLResponse)
async def sweeps_page(request: HttpRequest, ctx: Ctx, before: int | None = None) -> HTMLResponse:
    none: list[SweepRecord] = []
    past = await ctx.read(lambda reader: reader.sweeps(before=before), none)
    return render(request, "sweeps.html", running=ctx.sweeps.running(), past=past)


@router.get("/sweeps/new", response_class=HTMLResponse)
async def new_sweep_page(request: HttpRequest, ctx: Ctx) -> HTMLResponse:
    return _form(request, ctx, SweepSpec(), None)


def _form(
    request: HttpRequest, ctx: Context, spec: SweepSpec, error: str | None, status: int = 200
) -> HTMLResponse:
    return render(
        request, "new_sweep.html", status, spec=spec.without_secret(), error=error,
        inventories=ctx.inventories.listing(), quick=QUICK_PICKS,
    )  # fmt: skip


@router.post("/sweeps/new", response_model=None)
async def start_sweep(
    request: HttpRequest,
    ctx: Ctx,
    targets: str = Form(""),
    inventory: list[str] = Form([]),  # noqa: B008
    since: str = Form("24h"),
    until: str = Form(""),
    level: list[str] = Form([]),  # noqa: B008
    event_id: str = Form(""),
    source: str = Form(""),
    log: str = Form(""),
    grep: str = Form(""),
    new: str = Form(""),
    password: str = Form(""),
) -> Response:
    spec = SweepSpec(
        tuple(targets.splitlines()), tuple(inventory), since, until, tuple(level), event_id,
        source, log, grep, bool(new), password,
    )  # fmt: skip
    try:
        live = await ctx.start_sweep(spec)
    except UsageError as exc:
        return _form(request, ctx, spec, str(exc), 400)
    return RedirectResponse(f"/live/{live.id}", status_code=303)


@router.get("/live/{sweep_id}", response_class=HTMLResponse)
async def live_page(request: HttpRequest, ctx: Ctx, sweep_id: str) -> HTMLResponse:
    live = ctx.sweeps.get(sweep_id)
    if live is None:
        return render(request, "message.html", 404, title="No such running sweep", text="")
    recent = [event for _, event in reversed(live.recent)]
    return render(request, "live.html", live=live, state=live.to_dict(), recent=recent)


@router.post("/live/{sweep_id}/cancel", response_model=None)
async def cancel_page(ctx: Ctx, sweep_id: str) -> Response:
    await api.cancel(ctx, sweep_id)
    return RedirectResponse(f"/live/{sweep_id}", status_code=303)


@router.get("/sweeps/{ref}", response_class=HTMLResponse)
async def sweep_page(request: HttpRequest, ctx: Ctx, ref: str) -> HTMLResponse:
    found = await ctx.read(lambda reader: reader.sweep(ref), None)
    if found is None:
        return render(request, "message.html", 404, title="No such sweep", text="")
    events = Search(since="", sweep=str(found.seq)).url("/")
    return render(request, "sweep.html", record=found, events=events)


@router.post("/demo", response_model=None)
async def demo(ctx: Ctx) -> Response:
    """Write the demo data (once) and sweep its last 7 days."""
    directory = ctx.config.demo_dir
    if directory is None:
        raise HTTPException(404, "not offered by this server")
    if not os.path.isdir(directory):
        from eventsweep.demo import generate

        await asyncio.to_thread(generate, directory)
    live = await ctx.start_sweep(SweepSpec(targets=(directory,), since="7d"))
    return RedirectResponse(f"/live/{live.id}", status_code=303)


# ---- login ------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: HttpRequest) -> HTMLResponse:
    return HTMLResponse(login_page(request.state.csrf), headers={"cache-control": "no-store"})


@router.post("/login", response_model=None)
async def login(request: HttpRequest, ctx: Ctx, token: str = Form("")) -> Response:
    if ctx.keys.token is None:
        return RedirectResponse("/", status_code=303)
    if not ctx.keys.token_matches(token.strip()):
        return HTMLResponse(
            login_page(request.state.csrf, "That is not this server's token."), status_code=401
        )
    response = RedirectResponse("/", status_code=303)
    response.raw_headers.append((b"set-cookie", cookie_header(AUTH_COOKIE, ctx.keys.auth_cookie())))
    return response


@router.post("/logout", response_model=None)
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.raw_headers.append((b"set-cookie", cookie_header(AUTH_COOKIE, "", max_age=0)))
    return response


@router.get("/api", response_class=HTMLResponse)
async def api_page(request: HttpRequest) -> HTMLResponse:
    schema = request.app.openapi()
    routes = [
        (method.upper(), path, spec.get("summary", ""), spec.get("description", ""))
        for path, methods in schema["paths"].items()
        for method, spec in methods.items()
    ]
    return render(request, "api.html", routes=routes, now=datetime.now(UTC))
