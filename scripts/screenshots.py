"""Screenshots of each page of the web application into docs/ (the README shows them).

    PYTHONPATH=. python3 scripts/screenshots.py

Starts the app as the tests do (a real uvicorn on a free loopback port, a store filled by a
sweep of the demo week, Debian's chromium driven by Playwright) and saves one PNG per page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from eventsweep.web.context import WebConfig
from tests.testbed.net import silent_listener
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, SINCE, fill_store, serving

DOCS = Path(__file__).resolve().parents[1] / "docs"
WEEK = f"since={SINCE}&until=2026-11-21T00:00:00Z"


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        fill_store(root / "events.db", root / "demo")
        (root / "inventories").mkdir()
        dcs = root / "inventories" / "domain-controllers.txt"
        dcs.write_text(f"{root / 'demo' / 'DC01'}\n")
        inventories = (str(root / "inventories"),)
        config = WebConfig(store=str(root / "events.db"), inventory_dirs=inventories, timeout=30.0)
        hung = silent_listener()
        with hung, serving(config) as served, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})

            def shot(name: str) -> None:
                page.screenshot(path=str(DOCS / f"web-{name}.png"))
                print(DOCS / f"web-{name}.png")

            page.goto(f"{served.url}/?{WEEK}")
            page.locator("details.row summary").nth(2).click()
            shot("search")
            page.goto(f"{served.url}/?since=2026-11-19T00:00:00Z&until=2026-11-20T12:00:00Z"
                      "&event_id=4625&target=*DC01*")  # fmt: skip
            shot("failed-logons")
            first = page.locator("details.row").first.get_attribute("data-id")
            page.goto(f"{served.url}/events/{first}")
            shot("event")
            page.goto(f"{served.url}/sweeps/new")
            page.fill("textarea[name=targets]", f"{root / 'demo'}\nssh://admin@127.0.0.1:"
                      f"{hung.getsockname()[1]}")  # fmt: skip
            page.fill("input[name=since]", SINCE)
            shot("new-sweep")
            page.click("#start")
            page.wait_for_url("**/live/**")
            expect(page.locator("#targets tbody tr.st-ok")).to_have_count(12, timeout=30_000)
            page.wait_for_timeout(300)
            shot("live")
            page.click("#cancel")
            expect(page.locator("#live-state")).to_have_text("cancelled")
            page.goto(f"{served.url}/sweeps")
            shot("sweeps")
            browser.close()
        empty = WebConfig(store=str(root / "empty.db"), demo_dir=str(root / "d"))
        guarded = WebConfig(store=str(root / "empty.db"), token="x" * 20)
        with serving(empty) as bare, serving(guarded) as login, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 600})
            page.goto(bare.url + "/")
            page.screenshot(path=str(DOCS / "web-empty.png"))
            page.goto(login.url + "/")
            page.screenshot(path=str(DOCS / "web-login.png"))
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
