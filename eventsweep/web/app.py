"""The FastAPI application of ``eventsweep serve``: :func:`create_app`.

Routers: :mod:`~eventsweep.web.pages` (HTML), :mod:`~eventsweep.web.api` and
:mod:`~eventsweep.web.export` (JSON and files under ``/api``), the static files of the
package under ``/static``. Every request passes :class:`~eventsweep.web.security.Guard`
(host, token, session, headers) and, when it changes state, :func:`require_csrf`. No
interactive documentation is served (it would load scripts from a CDN): the OpenAPI document
is at ``/api/openapi.json`` and listed at ``/api``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from eventsweep.web import api, export, pages
from eventsweep.web.context import Context, WebConfig
from eventsweep.web.security import Guard, Keys, require_csrf
from eventsweep.web.streams import LiveStreams

STATIC = Path(__file__).parent / "static"


def create_app(config: WebConfig, keys: Keys | None = None) -> FastAPI:
    keys = keys or Keys(config.token)
    context = Context(config, keys)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await context.sweeps.close()

    app = FastAPI(
        title="eventsweep",
        summary="Sweep event logs of many machines; search what they held.",
        version="0.1.0",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(require_csrf)],
        lifespan=lifespan,
    )
    app.state.context = context
    app.include_router(api.router)
    app.include_router(export.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(LiveStreams, sweeps=context.sweeps)  # inside the Guard
    app.add_middleware(Guard, keys=keys, hosts=config.host_names(), login_page=pages.login_page)
    return app
