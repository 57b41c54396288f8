"""Detections beside the events: a hunt of the demo week kept in a store, then the API (each
event's detections, the search's counts per rule and listing) and the pages in chromium (a
rule badge on the rows that have detections, every rule in the event's detail with its
matched fields, the Detections facet and page). A rule's title is attacker-controlled text
(anyone can write a rule file): it is shown as text, never run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from eventsweep.demo import generate
from tests.web.conftest import DEMO_END, SINCE, Served, serving

pytestmark = pytest.mark.servers

HOSTILE = "Lockout <img src=x onerror=alert(1)><script>alert(2)</script>"
RULES = {
    "failed": """\
title: Failed logon
id: 7d1c0e51-0c1e-4d5e-9a3c-2f1a4bde0001
status: test
level: medium
tags: [attack.t1110]
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
""",
    "hostile": f"""\
title: '{HOSTILE}'
id: 7d1c0e51-0c1e-4d5e-9a3c-2f1a4bde0002
status: stable
level: high
logsource: {{product: windows, service: security}}
detection:
  selection:
    EventID: 4740
  condition: selection
""",
    "any_logon_failure": """\
title: Logon failure of anyone
id: 7d1c0e51-0c1e-4d5e-9a3c-2f1a4bde0003
status: test
level: low
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625, TargetUserName|exists: true}
  condition: selection
""",
}
WEEK = {"since": SINCE, "until": "2026-11-21T00:00:00Z"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hunted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Counter[str]]]:
    """A store holding a sweep and a hunt of the demo week, served; and the hunt's count per
    rule title."""
    import json

    root = tmp_path_factory.mktemp("hunted")
    generate(root / "demo", end=DEMO_END)
    (root / "rules").mkdir()
    for name, text in RULES.items():
        (root / "rules" / f"{name}.yml").write_text(text)
    store, printed = root / "events.db", root / "detections.jsonl"
    argv = ["hunt", str(root / "demo"), "--rules", str(root / "rules"), "--since", SINCE]
    argv += ["--until", DEMO_END, "--store", str(store), "--format", "jsonl", "-o", str(printed)]
    swept = ["sweep", str(root / "demo"), "--since", SINCE, "--until", DEMO_END]
    swept += ["--store", str(store), "--format", "jsonl", "-o", str(root / "events.jsonl")]
    # in processes of their own: the browser's event loop may already run in this thread
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVENTSWEEP_CACHE": str(root / "cache")}
    for words in (swept, argv):  # every event of the week, then the hunt's detections
        subprocess.run([sys.executable, "-m", "eventsweep.cli", *words], env=env, check=True)
    counts = Counter(json.loads(line)["rule"]["title"] for line in printed.read_text().splitlines())
    assert set(counts) == {"Failed logon", HOSTILE, "Logon failure of anyone"}
    from eventsweep.web.context import WebConfig

    with serving(WebConfig(store=str(store))) as running:
        yield running, counts


def _get(served: Served, path: str, **params: Any) -> Any:
    with served.client() as client:
        response = client.get(path, params={**WEEK, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_store_without_detections_says_how_to_get_them(served: Served) -> None:
    # first in this module: the demo store is swept before the browser's event loop runs
    with httpx.Client(base_url=served.url, timeout=30) as client:
        page = client.get("/detections", params=WEEK)
        body = client.get("/api/detections", params=WEEK).json()
    assert page.status_code == 200 and "hunt --stored" in page.text
    assert body == {"rules": [], "detections": []}


def test_the_api_gives_each_event_its_detections(hunted: tuple[Served, Counter[str]]) -> None:
    served, _ = hunted
    body = _get(served, "/api/events", event_id="4625", size=20)
    assert len(body["events"]) == 20
    for event in body["events"]:
        titles = {d["title"] for d in event["detections"]}
        assert titles <= {"Failed logon", "Logon failure of anyone"} and "Failed logon" in titles
        failed = next(d for d in event["detections"] if d["title"] == "Failed logon")
        assert failed["fields"] == ["event_id"] and failed["level"] == "medium"
        assert failed["tags"] == ["attack.t1110"] and failed["path"].endswith("failed.yml")
    plain = _get(served, "/api/events", event_id="4624", size=5)["events"]
    assert plain and all(event["detections"] == [] for event in plain)
    one = body["events"][0]
    detail = _get(served, f"/api/events/{one['id']}")
    assert detail["detections"] == one["detections"]
    grouped = _get(served, "/api/events", event_id="4740", group="target")["groups"]
    assert grouped and all(
        e["detections"][0]["title"] == HOSTILE for g in grouped for e in g["events"]
    )


def test_the_api_counts_and_lists_the_searchs_detections(
    hunted: tuple[Served, Counter[str]],
) -> None:
    served, counts = hunted
    body = _get(served, "/api/detections")
    assert {rule["title"]: rule["count"] for rule in body["rules"]} == counts
    assert [rule["count"] for rule in body["rules"]] == sorted(counts.values(), reverse=True)
    listed = body["detections"]
    assert len(listed) == min(200, sum(counts.values()))
    assert [item["time"] for item in listed] == sorted(
        (item["time"] for item in listed), reverse=True
    )
    narrowed = _get(served, "/api/detections", target="*DC01*", event_id="4740")
    assert [rule["title"] for rule in narrowed["rules"]] == [HOSTILE]
    assert all("DC01" in item["target"] for item in narrowed["detections"])
    searched = _get(served, "/api/detections", q="Failed|failure")  # a regular expression
    assert {rule["title"] for rule in searched["rules"]} <= set(counts)
    none = _get(served, "/api/detections", event_id="4624")
    assert none == {"rules": [], "detections": []}


def test_rows_show_a_rule_badge_and_the_detail_every_rule(
    hunted: tuple[Served, Counter[str]], watched: Any
) -> None:
    served, _ = hunted
    page = watched.page
    page.goto(f"{served.url}/?{urlencode({**WEEK, 'event_id': '4624,4625', 'size': 100})}")
    rows = page.locator("details.row")
    assert rows.count() == 100
    badged = page.locator("details.row:has(summary .rule)")
    assert 0 < badged.count() < 100  # 4625s have badges, 4624s none
    for index in range(rows.count()):
        row = rows.nth(index)
        eid = row.locator(".eid").inner_text()
        titles = row.locator("summary .rule").all_inner_texts()
        if eid == "4625":
            assert "medium Failed logon" in titles
        else:
            assert titles == []
    first = badged.first
    first.locator("summary").click()
    detail = first.locator(".detections")
    assert detail.is_visible()
    assert "event_id" in detail.locator(".matched").all_inner_texts()
    first.locator("a:has-text('open this event')").click()
    page.wait_for_url("**/events/*")
    matched = page.locator(".detections li")
    assert matched.count() >= 1
    assert "Failed logon" in page.locator(".detections").inner_text()
    assert not watched.errors and not watched.dialogs


def test_the_detections_facet_and_page_show_hostile_titles_as_text(
    hunted: tuple[Served, Counter[str]], watched: Any
) -> None:
    served, counts = hunted
    page = watched.page
    page.goto(f"{served.url}/?{urlencode(WEEK)}")
    facet = page.locator(".facet[data-facet=rule]")
    assert HOSTILE in facet.inner_text()  # the markup as text
    assert page.locator(".facet[data-facet=rule] li").count() == len(counts)
    page.click("#all-detections")
    page.wait_for_url("**/detections?**")
    table = page.locator("table.rules tbody tr")
    assert table.count() == len(counts)
    assert table.first.locator("td.num").inner_text() == str(max(counts.values()))
    assert HOSTILE in page.locator("table.rules").inner_text()
    assert page.locator("table.listed tbody tr").count() == 200
    assert page.locator("img[src=x], main script").count() == 0
    page.locator("table.listed a").first.click()
    page.wait_for_url("**/events/*")
    assert page.locator(".detections li").count() >= 1
    assert not watched.errors and not watched.dialogs


def test_the_hunt_store_path_is_a_real_file(hunted: tuple[Served, Counter[str]]) -> None:
    served, _ = hunted
    assert Path(served.config.store).is_file()
