"""Every event field is attacker-controlled: events whose every field holds markup, script and
foreign URLs are shown inert on every page, in a real browser, and in the live view of a sweep
(an .evtx file written with them, under a directory whose name is markup too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from eventsweep.batch import Batch
from eventsweep.model import Event, Outcome, Query, now_iso
from eventsweep.sinks import SweepInfo
from eventsweep.sinks.evtx import EvtxWriter
from eventsweep.store.writer import StoreWriter
from eventsweep.web.context import WebConfig
from eventsweep.web.live import Tap
from tests.testbed.net import silent_listener
from tests.web.conftest import Served, Watched, serving

pytestmark = pytest.mark.servers

FOREIGN = "http://evil.example"
PAYLOADS = (
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    '"><svg onload="window.__pwned = 3">',
    "javascript:window.__pwned = 4",
    '\'><a href="javascript:window.__pwned=5">click</a>',
    f'<img src="{FOREIGN}/beacon.png">',
    f"<link rel=stylesheet href={FOREIGN}/x.css><style>@import '{FOREIGN}/y.css'</style>",
    "{{ 7 * 7 }} {% raw %}",
    "</title></textarea><script>alert(6)</script>",
    f'<iframe src="{FOREIGN}"></iframe><meta http-equiv="refresh" content="0;url={FOREIGN}">',
)


def hostile_events(count: int = 30) -> list[Event]:
    events = []
    for index in range(count):
        payload = PAYLOADS[index % len(PAYLOADS)]
        events.append(
            Event(
                time=f"2026-11-19T{10 + index // 60:02}:{index % 60:02}:00.000000Z",
                target=f"{payload}/target",
                computer=payload,
                log=payload,
                record_id=index + 1,
                event_id=4625,
                level=payload if index % 3 == 0 else "error",
                source=payload,
                category=None,
                message=f"{payload} message {payload}",
                data={payload: payload, "Url": f"{FOREIGN}/{index}", "n": index},
                collected_at=now_iso(),
            )
        )
    return events


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("hostile")
    store = str(root / "events.db")
    writer = StoreWriter(store)
    events = hostile_events()
    targets = tuple(dict.fromkeys(event.target for event in events))
    writer.open(SweepInfo(id=PAYLOADS[2], targets=targets, query=Query()))
    writer.write(Batch(events))
    for target in targets:
        writer.outcome(Outcome(target, "error", 3, 0.1, 1, f"auth: {target}", (PAYLOADS[0],)))
    writer.close()
    inventories = root / "inventories"
    inventories.mkdir()
    (inventories / f"{PAYLOADS[1]}.txt").write_text("nothing\n")
    config = WebConfig(store=store, inventory_dirs=(str(inventories),))
    with serving(config) as running:
        yield running


def assert_inert(watched: Watched, served: Served) -> None:
    page = watched.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    found = page.evaluate(
        """() => {
        const bad = [];
        for (const node of document.querySelectorAll('*')) {
          for (const attr of node.attributes) {
            if (attr.name.startsWith('on')) bad.push(node.tagName + ' ' + attr.name);
            const link = ['href', 'src', 'action'].includes(attr.name);
            if (link && /^\\s*javascript:/i.test(attr.value))
              bad.push(node.tagName + ' ' + attr.name + '=' + attr.value);
          }
        }
        const foreign = 'script:not([src]), img, iframe, link[href*="evil"], meta[http-equiv], '
          + 'style';
        for (const node of document.querySelectorAll(foreign))
          bad.push(node.outerHTML.slice(0, 80));
        return bad;
    }"""
    )
    assert found == []
    assert watched.dialogs == [] and watched.errors == []
    assert [request for request in watched.requests if not request.startswith(served.url)] == []
    assert "evil.example" not in " ".join(watched.requests)


def test_hostile_fields_are_inert_on_every_page(hostile: Served, watched: Watched) -> None:
    page = watched.page
    base = hostile.url
    page.goto(f"{base}/?since=")
    assert page.locator("details.row").count() == 30
    for row in page.locator("details.row").all():  # every row opened: every field and data
        row.locator("summary").click()
    shown = page.locator("#rows").inner_text()
    assert all(payload in shown for payload in PAYLOADS)  # shown, as text
    page.locator("#histogram a.bar").first.hover()
    assert_inert(watched, hostile)
    for facet in ("target", "source", "level"):  # a click on each hostile facet value
        page.goto(f"{base}/?since=")
        page.locator(f".facet[data-facet={facet}] li a").first.click()
        page.wait_for_load_state()
        assert page.locator("details.row").count() > 0
        assert_inert(watched, hostile)
    page.goto(f"{base}/?since=&group=target")
    assert_inert(watched, hostile)
    for path in ("/events/1", "/events/2", "/events/3", "/sweeps", "/sweeps/1", "/sweeps/new"):
        page.goto(base + path)
        assert_inert(watched, hostile)
    assert PAYLOADS[1] in page.locator("form").inner_text()  # the inventory's name, as text
    page.goto(
        f"{base}/?since=&q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&target=%22%3E%3Csvg%20onload%3Dalert(2)%3E"
    )
    assert page.locator("input[name=q]").input_value() == "<script>alert(1)</script>"
    assert_inert(watched, hostile)


def test_exports_keep_hostile_text_as_data(hostile: Served) -> None:
    with hostile.client() as client:
        jsonl = client.get("/api/export", params={"since": "", "format": "jsonl"})
        csv = client.get("/api/export", params={"since": "", "format": "csv"})
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert csv.headers["content-type"].startswith("text/csv")
    assert jsonl.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in csv.headers["content-disposition"]
    assert PAYLOADS[0] in jsonl.text


def test_hostile_events_arriving_live_are_inert(tmp_path: Path, watched: Watched) -> None:
    """A host that never answers comes first (its 3 s timeout), so the hostile events reach the
    page over the server-sent events, put in by the script."""
    folder = tmp_path / '"><svg onload=window.__pwned=7>'
    folder.mkdir()
    with EvtxWriter(folder / "<img src=x onerror=alert(8)>.evtx") as writer:
        for event in hostile_events():
            writer.write(event)
    config = WebConfig(store=str(tmp_path / "events.db"), timeout=3.0)
    listener = silent_listener()
    hung = f"ssh://root@127.0.0.1:{listener.getsockname()[1]}"
    with listener, serving(config) as served:
        page = watched.page
        page.goto(served.url + "/sweeps/new")
        page.fill("textarea[name=targets]", f"{hung}\n{folder}")
        page.fill("input[name=since]", "2026-11-19T00:00Z")
        page.click("#start")
        page.wait_for_url("**/live/**")
        assert page.locator("#recent tbody tr").count() == 0  # none yet: they come live
        expect(page.locator("#live-state")).to_have_text("ended", timeout=30_000)
        assert page.locator("#recent tbody tr").count() == Tap.PER_BATCH  # a batch's newest
        expect(page.locator("#recent tbody tr").first).to_be_visible()
        assert PAYLOADS[0] in page.locator("#recent").inner_text()
        assert "<img src=x onerror=alert(8)>" in page.locator("#targets").inner_text()
        assert_inert(watched, served)
        page.reload()
        assert_inert(watched, served)
