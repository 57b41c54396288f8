"""The web application's test bed: a real uvicorn serving the app in a thread on a free loopback
port, a store filled by a real sweep of the demo data, and Debian's chromium driven by
Playwright (never downloaded: ``/usr/bin/chromium``)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from eventsweep.demo import generate
from eventsweep.query import build_query
from eventsweep.runner import sweep
from eventsweep.store.writer import StoreWriter
from eventsweep.web.app import create_app
from eventsweep.web.context import Context, WebConfig
from eventsweep.web.security import Keys
from tests.testbed.net import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
DEMO_END = "2026-11-20T12:00:00Z"  # the demo week ends here: every test sees the same events
SINCE = "2026-11-13T00:00:00Z"  # a window holding the whole demo week


@dataclass
class Served:
    url: str
    context: Context
    server: uvicorn.Server
    app: Any

    @property
    def config(self) -> WebConfig:
        return self.context.config

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **options)


@contextlib.contextmanager
def serving(config: WebConfig, keys: Keys | None = None) -> Iterator[Served]:
    """The app of ``config`` under a real uvicorn on 127.0.0.1 (a free port), until the end."""
    app = create_app(config, keys)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", app.state.context, server, app)
    finally:
        server.should_exit = True
        thread.join(20)


def fill_store(store: Path, demo: Path) -> None:
    generate(demo, end=DEMO_END)
    outcomes = sweep([str(demo)], build_query(since=SINCE), outputs=[StoreWriter(str(store))])
    assert {outcome.status for outcome in outcomes} == {"ok"}


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one sweep of the demo week (34,787 events, DC01… WEB01)."""
    root = tmp_path_factory.mktemp("demo-store")
    fill_store(root / "events.db", root / "demo")
    return root / "events.db"


@pytest.fixture(scope="session")
def demo_dir(demo_store: Path) -> Path:
    return demo_store.parent / "demo"


@pytest.fixture(scope="module")
def served(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app over the demo store, on loopback without a token (the default)."""
    inventories = tmp_path_factory.mktemp("inventories")
    config = WebConfig(store=str(demo_store), inventory_dirs=(str(inventories),))
    with serving(config) as running:
        yield running


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Served]:
    """The app over a store of its own (empty at first), for tests that sweep into it."""
    (tmp_path / "inventories").mkdir()
    config = WebConfig(
        store=str(tmp_path / "events.db"),
        inventory_dirs=(str(tmp_path / "inventories"),),
        demo_dir=str(tmp_path / "demo"),
    )
    with serving(config) as running:
        yield running


def with_token(config: WebConfig, token: str) -> WebConfig:
    return replace(config, token=token)


# ---- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A browser page and what it did: every request it made, console messages, dialogs."""

    page: Any
    requests: list[str]
    console: list[str]
    dialogs: list[str]
    errors: list[str]


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    seen = Watched(page, [], [], [], [])
    context.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda message: seen.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))

    def dialog(opened: Any) -> None:
        seen.dialogs.append(opened.message)
        opened.dismiss()

    page.on("dialog", dialog)
    page.set_default_timeout(15_000)
    try:
        yield seen
    finally:
        context.close()
