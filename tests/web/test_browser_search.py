"""The search page in a real browser (Debian's chromium): filters, histogram, rows, pages,
facets, export; and the same without JavaScript."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from tests.web.conftest import CHROMIUM_ARGS, SINCE, Served, Watched

pytestmark = pytest.mark.servers

WEEK = {"since": SINCE, "until": "2026-11-21T00:00:00Z"}


def url(served: Served, **params: Any) -> str:
    return f"{served.url}/?{urlencode({**WEEK, **params}, doseq=True)}"


def query_of(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query, keep_blank_values=True)


def since_is(value: str | None) -> Any:
    return lambda at: parse_qs(urlparse(at).query).get("since") == [value]


def row_levels(page: Any) -> set[str]:
    return set(page.locator("details.row .level").all_inner_texts())


def test_filter_by_level_and_text_from_the_query_bar(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served))
    page.check("input[name=level][value=audit_failure]")
    page.fill("input[name=q]", "logon")
    page.click("button:has-text('Search')")
    page.wait_for_url("**level=audit_failure**")
    assert query_of(page)["q"] == ["logon"]
    assert row_levels(page) == {"audit_failure"}
    messages = page.locator("details.row .message").all_inner_texts()
    assert messages and all("logon" in text.lower() for text in messages)
    assert page.locator("input[name=level][value=audit_failure]").is_checked()
    assert not watched.errors


def test_quick_picks_and_absolute_times(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served))
    page.click(".quick a:has-text('8h')")
    page.wait_for_url("**since=8h")
    assert page.locator(".quick a[aria-current]").inner_text() == "8h"
    page.click(".quick a:has-text('24h')")  # the default: left out of the URL
    page.wait_for_url(served.url + "/")
    assert page.locator(".quick a[aria-current]").inner_text() == "24h"
    page.fill("input[name=since]", "2026-11-19T00:00Z")
    page.fill("input[name=until]", "2026-11-19T06:00Z")
    page.click("button:has-text('Search')")
    page.wait_for_url("**until=2026-11-19T06**")
    times = page.locator("details.row time").all_inner_texts()
    assert times and all("2026-11-19 00:00" <= text <= "2026-11-19 06:00" for text in times)


def test_clicking_a_bar_narrows_to_it(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served))
    bar = page.locator("#histogram a.bar").nth(20)
    start, end = bar.get_attribute("data-start"), bar.get_attribute("data-end")
    bar.locator("rect.hit").click()
    page.wait_for_url(since_is(start))
    assert query_of(page)["until"] == [end]
    times = page.locator("details.row time").get_by_text("2026", exact=False).all_inner_texts()
    assert times and all(str(start)[:10] <= text[:10] <= str(end)[:10] for text in times)


def test_dragging_across_bars_narrows_to_them(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served))
    bars = page.locator("#histogram a.bar")
    first, last = bars.nth(10), bars.nth(25)
    start, end = first.get_attribute("data-start"), last.get_attribute("data-end")
    begin = first.locator("rect.hit").bounding_box()
    finish = last.locator("rect.hit").bounding_box()
    assert begin and finish
    y = begin["y"] + begin["height"] / 2
    page.mouse.move(begin["x"] + begin["width"] / 2, y)
    page.mouse.down()
    page.mouse.move((begin["x"] + finish["x"]) / 2, y, steps=5)
    page.mouse.move(finish["x"] + finish["width"] / 2, y, steps=5)
    page.mouse.up()
    page.wait_for_url(since_is(start))
    assert query_of(page)["until"] == [end]


def test_a_row_opens_to_every_field_and_its_page(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served, event_id="4625"))
    row = page.locator("details.row").first
    assert not row.locator(".fields").is_visible()
    row.locator("summary").click()
    fields = row.locator(".fields")
    assert fields.is_visible()
    names = fields.locator("dl").first.locator("dt").all_inner_texts()
    for name in ("time", "target", "computer", "log", "record_id", "event_id", "level", "source",
                 "category", "message", "collected_at"):  # fmt: skip
        assert name in names
    data = fields.locator("dl.data dt").all_inner_texts()
    assert "TargetUserName" in data and "IpAddress" in data
    fields.locator("a:has-text('open this event')").click()
    page.wait_for_url("**/events/**")
    assert "4625" in page.locator("h1").inner_text()
    assert "TargetUserName" in page.locator("dl.data").inner_text()


def test_paging_through_a_large_result(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served))
    seen: list[str] = []
    last_time = "9999"
    for _ in range(4):
        ids = [row.get_attribute("data-id") or "" for row in page.locator("details.row").all()]
        times = [t.get_attribute("datetime") or "" for t in page.locator("details.row time").all()]
        assert len(ids) == 50 and not set(ids) & set(seen)
        assert times == sorted(times, reverse=True) and times[0] <= last_time
        seen.extend(ids)
        last_time = times[-1]
        page.click("#next")
        page.wait_for_load_state()
    assert "after" in query_of(page) and "at" in query_of(page)  # the window stays put


def test_a_facet_adds_its_filter(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served, event_id="4625"))
    target = page.locator(".facet[data-facet=target] li a").first
    name = target.get_attribute("title") or ""
    target.click()
    page.wait_for_url("**target=**")
    assert query_of(page)["event_id"] == ["4625"]
    assert page.locator("input[name=target]").input_value()
    rows = page.locator("details.row").all()
    assert rows
    rows[0].locator("summary").click()
    assert name in rows[0].locator(".fields").inner_text()
    page.locator(".facet[data-facet=level] li a").first.click()
    page.wait_for_load_state()
    assert query_of(page)["level"]


def test_grouped_by_target(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served))
    page.select_option("select[name=group]", "target")
    page.click("button:has-text('Search')")
    page.wait_for_url("**group=target**")
    groups = page.locator("section.group")
    assert groups.count() == 12
    assert groups.first.locator("details.row").count() == 10


def test_export_downloads_the_search(served: Served, watched: Watched) -> None:
    page = watched.page
    page.goto(url(served, level="critical"))
    with page.expect_download() as download:
        page.click(".export a:has-text('JSON Lines')")
    path = download.value.path()
    lines = Path(path).read_bytes().splitlines()
    assert len(lines) == int(page.locator(".count").inner_text().split()[0]) > 0


def test_search_works_without_javascript(served: Served, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(url(served))
        page.check("input[name=level][value=error]")
        page.click("button:has-text('Search')")
        page.wait_for_url("**level=error**")
        assert row_levels(page) == {"error"}
        page.click("#next")
        page.wait_for_url("**after=**")
        assert row_levels(page) == {"error"}
        bar = page.locator("#histogram a.bar:not([data-total='0'])").last
        start = bar.get_attribute("data-start")
        bar.locator("rect.hit").click()
        page.wait_for_url(since_is(start))
        page.locator("details.row summary").first.click()
        assert page.locator("details.row .fields").first.is_visible()
    finally:
        context.close()


def test_no_script_error_and_nothing_fetched_elsewhere(served: Served, watched: Watched) -> None:
    page = watched.page
    for path in ("/", "/sweeps", "/sweeps/new", "/api", "/events/1"):
        page.goto(served.url + path + "?" + urlencode(WEEK))
    assert not watched.errors
    assert not [text for text in watched.console if text.startswith("error")], watched.console
    assert all(request.startswith(served.url) for request in watched.requests)


assert CHROMIUM_ARGS  # the browser's flags live in conftest
