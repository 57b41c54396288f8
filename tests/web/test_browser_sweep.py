"""Sweeps from the page, in a real browser, against real targets: .evtx files, a real sshd with
a journal, a real Samba serving MS-EVEN, and a host that never answers. Every target's status
arrives live (server-sent events) in two browsers at once; the hung one is cancelled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from eventsweep.sources import Settings
from eventsweep.sources.ssh import SshOptions
from eventsweep.sources.winrpc.options import WinOptions
from eventsweep.web.context import WebConfig
from tests.testbed import sshd
from tests.testbed.journals import Entry, make_journal
from tests.testbed.net import silent_listener
from tests.testbed.samba import LOGS, LogRecord, Samba, samba_with
from tests.web.conftest import SINCE, Served, Watched, serving

pytestmark = pytest.mark.servers

PASSWORD = "Root-pw-web-1"
HOST = "127.0.0.2"
NOW = int(time.time())


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sshd.Fleet]:
    with sshd.running(tmp_path_factory.mktemp("fleet"), [HOST]) as running:
        entries = [
            Entry(
                (NOW - 600 + i) * 1_000_000,
                f"web entry {i}",
                priority=3 + i % 4,
                identifier="sshd",
                host="web01",
            )
            for i in range(30)
        ]
        make_journal(running.journal_dir(HOST), entries)
        yield running


@pytest.fixture(scope="module")
def samba() -> Iterator[Samba]:
    records = [LogRecord(NOW - 60 * i, event_id=7000 + i, event_type=1 if i % 5 else 2,
                         source="Service Control Manager", computer="FILESRV",
                         strings=(f"service {i}",)) for i in range(40)]  # fmt: skip
    with samba_with({"System": records}, PASSWORD, logs=LOGS) as server:
        yield server


@pytest.fixture
def hung() -> Iterator[int]:
    listener = silent_listener()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


@pytest.fixture
def app(tmp_path: Path, fleet: sshd.Fleet, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.delenv("EVENTSWEEP_PASSWORD", raising=False)  # typed in the form, or nothing
    monkeypatch.delenv("EVENTSWEEP_NTHASH", raising=False)
    settings = Settings.of(
        ssh=SshOptions(
            connect_timeout=20.0,
            known_hosts=str(fleet.known_hosts),
            ssh_config=str(fleet.ssh_config),
        ),
        win=WinOptions(connect_timeout=20.0),
    )
    config = WebConfig(store=str(tmp_path / "events.db"), settings=settings, timeout=60.0,
                       demo_dir=str(tmp_path / "demo"))  # fmt: skip
    with serving(config) as running:
        yield running


def rows(page: Any) -> Any:
    return page.locator("#targets tbody tr")


def status(page: Any, index: int) -> Any:
    return rows(page).nth(index).locator(".status")


def test_start_watch_and_cancel_against_real_targets(
    app: Served, fleet: sshd.Fleet, samba: Samba, hung: int, demo_dir: Path, watched: Watched,
    browser: Any,
) -> None:  # fmt: skip
    targets = [
        str(demo_dir / "DC01" / "Security.evtx"),
        str(demo_dir / "WEB01" / "System.evtx"),
        fleet.target(HOST),
        samba.url("System"),
        f"ssh://root@127.0.0.1:{hung}",
    ]
    page = watched.page
    page.goto(app.url + "/sweeps/new")
    page.fill("textarea[name=targets]", "\n".join(targets))
    page.fill("input[name=since]", SINCE)  # the demo week, and the servers' records of now
    page.fill("input[name=password]", PASSWORD)
    page.click("#start")
    page.wait_for_url("**/live/**")
    assert PASSWORD not in page.content() and PASSWORD not in page.url
    other = browser.new_context().new_page()  # a second browser watching the same sweep
    other.goto(page.url)
    try:
        for watcher in (page, other):
            for index in range(4):
                expect(status(watcher, index)).to_have_text("ok", timeout=30_000)
            expect(status(watcher, 4)).to_have_text("running")  # still waiting for its answer
            expect(watcher.locator("#live-state")).to_have_text("running")
        counts = [int(rows(page).nth(i).locator(".events").inner_text()) for i in range(4)]
        assert all(count > 0 for count in counts), counts
        assert int(page.locator("#live-events").inner_text()) == sum(counts)
        expect(page.locator("#recent tbody tr").first).to_be_visible()
        page.click("#cancel")
        for watcher in (page, other):
            expect(status(watcher, 4)).to_have_text("interrupted", timeout=15_000)
            expect(watcher.locator("#live-state")).to_have_text("cancelled")
        failed = rows(page).nth(4)
        assert failed.get_attribute("class") == "st-interrupted"
        expect(page.locator("#live-results")).to_be_visible()
        page.click("#live-results")
        page.wait_for_url("**sweep=**")
        levels = page.locator(".facet[data-facet=target] li").all_inner_texts()
        assert len(levels) == 4
    finally:
        other.context.close()
    for kept in Path(app.config.store).parent.glob("events.db*"):  # the store, its WAL
        assert PASSWORD.encode() not in kept.read_bytes()


def test_a_failure_shows_its_one_line(app: Served, samba: Samba, watched: Watched) -> None:
    page = watched.page
    page.goto(app.url + "/sweeps/new")
    page.fill("textarea[name=targets]", samba.url("System"))
    page.fill("input[name=password]", "wrong password")
    page.click("#start")
    page.wait_for_url("**/live/**")
    expect(status(page, 0)).to_have_text("error", timeout=30_000)
    expect(rows(page).nth(0).locator(".failure")).to_contain_text("auth:")


def test_a_new_user_finds_the_failed_logons_of_the_last_day_on_dc01(
    app: Served, watched: Watched
) -> None:
    page = watched.page
    page.goto(app.url + "/")
    page.click("#demo")  # the empty store offers the demo data
    page.wait_for_url("**/live/**")
    expect(page.locator("#live-state")).to_have_text("ended", timeout=60_000)
    page.click("a:has-text('Search')")
    page.click(".quick a:has-text('24h')")
    page.fill("input[name=event_id]", "4625")
    page.fill("input[name=target]", "*DC01*")
    page.click("button:has-text('Search')")
    page.wait_for_url("**event_id=4625**")
    found = page.locator("details.row")
    assert found.count() > 0
    assert set(page.locator("details.row .eid").all_inner_texts()) == {"4625"}
    computers = page.locator("details.row .target").all_inner_texts()
    assert {text.split(".")[0] for text in computers} == {"DC01"}
