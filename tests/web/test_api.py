"""The JSON API and the guard, without a browser: a real uvicorn, httpx as the client."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from eventsweep.store.reader import Filter, Reader
from eventsweep.web.context import WebConfig
from eventsweep.web.security import CSP
from tests.web.conftest import SINCE, Served, serving

pytestmark = pytest.mark.servers

WEEK = {"since": SINCE, "until": "2026-11-21T00:00:00Z"}


def headers_ok(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    assert "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_headers_on_every_response(served: Served) -> None:
    with served.client() as client:
        for path in (
            "/",
            "/sweeps",
            "/sweeps/new",
            "/api",
            "/api/events",
            "/static/app.js",
            "/static/style.css",
            "/no-such-page",
            "/api/events/999999999",
            "/api/openapi.json",
            "/login",
            "/events/1",
            "/api/live/nope/stream",
        ):
            response = client.get(path)
            headers_ok(response)
        headers_ok(client.post("/api/sweeps", json={}))  # refused (no CSRF token): headers too


def test_other_host_names_are_refused(served: Served) -> None:
    """A page of another site that points its name at 127.0.0.1 (DNS rebinding) reads nothing."""
    with served.client() as client:
        response = client.get("/api/events", params=WEEK, headers={"host": "evil.example:80"})
    assert response.status_code == 421
    assert b"DC01" not in response.content
    headers_ok(response)


def all_pages(client: httpx.Client, params: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = ""
    while True:
        body = client.get("/api/events", params={**params, "after": after, "size": 200}).json()
        events.extend(body["events"])
        if not body["next"]:
            return events
        after = body["next"]


def test_keyset_pages_cover_every_match_once_in_order(served: Served) -> None:
    params = {**WEEK, "level": ["error", "warning", "critical"]}
    with served.client() as client:
        events = all_pages(client, params)
        oldest = all_pages(client, {**params, "order": "asc"})
    reader = Reader(served.config.store)
    expected = reader.count(Filter(since=WEEK["since"], until=WEEK["until"],
                                   levels=frozenset({"error", "warning", "critical"})))  # fmt: skip
    assert len(events) == expected > 200
    assert len({event["id"] for event in events}) == expected
    keys = [(event["time"], event["id"]) for event in events]
    assert keys == sorted(keys, reverse=True)
    assert [event["id"] for event in oldest] == [event["id"] for event in events][::-1]
    assert {event["level"] for event in events} == {"error", "warning", "critical"}


def test_filters_as_the_command_line_has_them(served: Served) -> None:
    with served.client() as client:

        def get(**more: Any) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = client.get(
                "/api/events", params={**WEEK, "size": 200, **more}
            ).json()["events"]
            return found

        failed = get(event_id="4625", target="*/DC01/*")
        assert failed and all(e["event_id"] == 4625 and "/DC01/" in e["target"] for e in failed)
        worded = get(q="logon")
        assert worded and all("logon" in e["message"].lower() for e in worded)
        regex = get(q="Logon Type:\\s+10")
        assert regex and all("Logon Type:" in e["message"] for e in regex)
        sources = get(source="service control manager")
        assert sources and {e["source"] for e in sources} == {"Service Control Manager"}
        logs = get(log="system")
        assert logs and {e["log"] for e in logs} == {"System"}
        sweep_one = get(sweep="1")
        assert sweep_one and {e["sweep"] for e in sweep_one} == {1}
        bad = client.get("/api/events", params={"since": "yesterday"})
        assert bad.status_code == 400 and "--since" in bad.json()["detail"]
        bad = client.get("/api/events", params={"event_id": "x-y"})
        assert bad.status_code == 400


def test_one_event_has_every_field(served: Served) -> None:
    with served.client() as client:
        first = client.get("/api/events", params={**WEEK, "size": 20}).json()["events"][0]
        one = client.get(f"/api/events/{first['id']}").json()
        assert one == first
        assert set(one) >= {"time", "target", "computer", "log", "record_id", "event_id", "level",
                            "source", "category", "message", "data", "collected_at"}  # fmt: skip
        assert isinstance(one["data"], dict) and one["data"]
        assert client.get("/api/events/0").status_code == 404


def test_histogram_and_facets_count_the_search(served: Served) -> None:
    with served.client() as client:
        params = {**WEEK, "level": "audit_failure"}
        histogram = client.get("/api/histogram", params=params).json()
        facets = client.get("/api/facets", params=params).json()
        count = len(all_pages(client, params))
    total = sum(sum(bucket["counts"].values()) for bucket in histogram["buckets"])
    assert total == count > 0
    assert len(histogram["buckets"]) <= 60 and histogram["seconds"] > 0
    assert facets["level"] == [{"value": "audit_failure", "count": count}]
    assert sum(item["count"] for item in facets["target"]) <= count
    assert {"target", "source", "event_id", "level"} <= set(facets)


def test_grouped_by_target(served: Served) -> None:
    with served.client() as client:
        body = client.get("/api/events", params={**WEEK, "group": "target"}).json()
    groups = body["groups"]
    assert len(groups) == 12
    for group in groups:
        assert group["events"] and {e["target"] for e in group["events"]} == {group["target"]}


def test_export_streams_every_format(served: Served) -> None:
    params = {**WEEK, "level": "error"}
    with served.client() as client:
        expected = all_pages(client, params)
        jsonl = client.get("/api/export", params={**params, "format": "jsonl"})
        rows = client.get("/api/export", params={**params, "format": "csv"})
        evtx = client.get("/export", params={**params, "format": "evtx"})
        assert client.get("/api/export", params={"format": "exe"}).status_code == 400
    lines = [orjson.loads(line) for line in jsonl.content.splitlines()]
    assert [line["record_id"] for line in lines] == [e["record_id"] for e in expected]
    assert "attachment" in jsonl.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(rows.text)))
    assert table[0][0] == "time" and len(table) == len(expected) + 1
    assert evtx.content[:8] == b"ElfFile\x00"
    from evtx import PyEvtxParser

    parsed = list(PyEvtxParser(io.BytesIO(evtx.content)).records_json())
    assert len(parsed) == len(expected)


def test_openapi_describes_every_api_route(served: Served) -> None:
    with served.client() as client:
        document = client.get("/api/openapi.json").json()
        listed = client.get("/api").text
    paths = set(document["paths"])
    assert {"/api/events", "/api/events/{event_id}", "/api/histogram", "/api/facets",
            "/api/sweeps", "/api/sweeps/{ref}", "/api/live/{sweep_id}",
            "/api/live/{sweep_id}/stream", "/api/live/{sweep_id}/cancel", "/api/export",
            "/api/inventories", "/api/session"} <= paths  # fmt: skip
    assert all(path.startswith("/api/") for path in paths)
    for path in paths:
        assert path in listed


def test_no_cdn_and_no_interactive_docs(served: Served) -> None:
    with served.client() as client:
        assert client.get("/docs").status_code == 404
        page = client.get("/", params=WEEK).text
    assert "http://" not in page.replace(served.url, "") and "https://" not in page


# ---- CSRF --------------------------------------------------------------------------------------


def session(client: httpx.Client) -> str:
    token: str = client.get("/api/session").json()["csrf"]
    return token


def test_state_changes_need_the_csrf_token_and_our_origin(served: Served, demo_dir: Path) -> None:
    body = {"targets": [str(demo_dir / "DC01" / "System.evtx")], "since": "1h"}
    with served.client() as client:
        token = session(client)
        assert client.post("/api/sweeps", json=body).status_code == 403
        wrong = client.post("/api/sweeps", json=body, headers={"x-csrf-token": "0" * 64})
        assert wrong.status_code == 403
        foreign = client.post(
            "/api/sweeps", json=body,
            headers={"x-csrf-token": token, "origin": "http://evil.example"},
        )  # fmt: skip
        assert foreign.status_code == 403
        for fetched in (
            {"sec-fetch-site": "cross-site"},
            {"sec-fetch-site": "same-site"},
            {"origin": "null"},
            {"origin": "null", "sec-fetch-site": "cross-site"},
        ):
            refused = client.post(
                "/api/sweeps", json=body, headers={"x-csrf-token": token, **fetched}
            )
            assert refused.status_code == 403, fetched
        form = client.post("/sweeps/new", data={"targets": body["targets"][0]})
        assert form.status_code == 403
        with served.client() as other:  # another session's token is no good here
            other_token = session(other)
        assert (
            client.post("/api/sweeps", json=body, headers={"x-csrf-token": other_token}).status_code
            == 403
        )
        ok = client.post(
            "/api/sweeps", json=body, headers={"x-csrf-token": token, "origin": served.url}
        )
        assert ok.status_code == 201, ok.text
        live = ok.json()["id"]
        assert client.post(f"/api/live/{live}/cancel").status_code == 403
        assert (
            client.post(f"/api/live/{live}/cancel", headers={"x-csrf-token": token}).status_code
            == 200
        )


def routes(found: list[Any]) -> list[tuple[str, set[str]]]:
    """Every route's path and methods, through included routers."""
    paths: list[tuple[str, set[str]]] = []
    for route in found:
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and hasattr(inner, "routes") and not hasattr(route, "methods"):
            paths.extend(routes(inner.routes))
        elif hasattr(route, "path"):
            paths.append((route.path, set(getattr(route, "methods", None) or ())))
    return paths


def test_every_state_changing_route_is_guarded(served: Served) -> None:
    """No POST route answers without the token: each one is tried."""
    posts = [path for path, methods in routes(served.app.routes) if "POST" in methods]
    assert set(posts) >= {"/api/sweeps", "/api/live/{sweep_id}/cancel", "/sweeps/new", "/demo",
                          "/live/{sweep_id}/cancel", "/login", "/logout"}  # fmt: skip
    with served.client() as client:
        session(client)
        for path in posts:
            response = client.post(path.replace("{sweep_id}", "x"), data={"a": "b"})
            assert response.status_code == 403, path


# ---- the token ---------------------------------------------------------------------------------

TOKEN = "a-long-enough-test-token-1234"


@pytest.fixture(scope="module")
def guarded(demo_store: Path) -> Any:
    with serving(WebConfig(store=str(demo_store), token=TOKEN)) as running:
        yield running


def test_without_the_token_every_request_is_401_and_no_data(guarded: Served) -> None:
    from eventsweep.web.live import LiveSweep, TargetState

    # a live sweep the server knows: its stream is answered past FastAPI, inside the Guard
    guarded.context.sweeps.sweeps["known1"] = LiveSweep("known1", [TargetState("DC01")], {})
    with guarded.client() as client:
        for path in (
            "/api/live/known1/stream",
            "/api/live/known1",
            "/",
            "/api/events",
            "/api/events/1",
            "/api/sweeps",
            "/api/facets",
            "/api/openapi.json",
            "/export?format=jsonl",
            "/sweeps",
            "/api/session",
        ):
            response = client.get(path, params=WEEK)
            assert response.status_code == 401, path
            assert b"DC01" not in response.content and b"csrf" not in response.content.lower()
            headers_ok(response)
        page = client.get("/", headers={"accept": "text/html"})
        assert page.status_code == 401 and 'action="/login"' in page.text
        assert (
            client.get("/api/events", headers={"authorization": "Bearer wrong"}).status_code == 401
        )


def test_login_sets_a_cookie_not_the_token(guarded: Served) -> None:
    with guarded.client() as client:
        csrf = client.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
        wrong = client.post("/login", data={"token": "nope", "csrf": csrf})
        assert wrong.status_code == 401
        right = client.post("/login", data={"token": TOKEN, "csrf": csrf})
        assert right.status_code == 303 and right.headers["location"] == "/"
        cookie = right.headers["set-cookie"]
        assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert TOKEN not in right.headers["location"]
        assert client.get("/api/events", params=WEEK).json()["events"]
        client.post("/logout", data={"csrf": csrf})
        assert client.get("/api/events").status_code == 401


def test_scripts_may_send_the_token_as_a_bearer_header(guarded: Served) -> None:
    with guarded.client(headers={"authorization": f"Bearer {TOKEN}"}) as client:
        assert client.get("/api/events", params=WEEK).json()["events"]


# ---- sweeps through the API --------------------------------------------------------------------


def wait_ended(client: httpx.Client, live: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = client.get(f"/api/live/{live}").json()
        if not state["running"]:
            return state
        time.sleep(0.1)
    raise AssertionError("the sweep did not end")


def post_sweep(client: httpx.Client, token: str, **body: Any) -> httpx.Response:
    return client.post("/api/sweeps", headers={"x-csrf-token": token}, json=body)


def test_a_sweep_started_by_the_api_is_stored(fresh: Served, demo_dir: Path) -> None:
    with fresh.client() as client:
        assert client.get("/api/events").json()["events"] == []  # no store yet
        token = session(client)
        started = post_sweep(client, token, targets=[str(demo_dir / "DC01")], since=SINCE)
        state = wait_ended(client, started.json()["id"])
        assert [t["state"] for t in state["targets"]] == ["ok"] * 3
        past = client.get("/api/sweeps").json()["sweeps"]
        assert past[0]["id"] == state["store_id"]
        assert [o["status"] for o in past[0]["outcomes"]] == ["ok"] * 3
        events = client.get("/api/events", params={"since": "", "sweep": state["store_id"]}).json()
        assert len(events["events"]) == 50 and events["next"]
        again = post_sweep(client, token, targets=[str(demo_dir / "DC01")], since=SINCE, new=True)
        state = wait_ended(client, again.json()["id"])
        assert state["events"] == 0  # --new: nothing arrived since


def test_bad_sweeps_are_one_line_and_never_echo_the_password(
    fresh: Served, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Pa55-w0rd-never-shown"
    with fresh.client() as client:
        token = session(client)
        for targets, since in ((["foo://x"], "1h"), ([], "1h"), (["win://a@b"], "yesterday")):
            response = client.post("/sweeps/new", data={"targets": "\n".join(targets),
                                   "since": since, "password": secret, "csrf": token})  # fmt: skip
            assert response.status_code == 400
            assert secret not in response.text and 'class="error"' in response.text
            api = post_sweep(client, token, targets=targets, since=since, password=secret)
            assert api.status_code == 400 and secret not in api.text
    assert secret not in caplog.text


def test_inventories_only_from_their_directories(
    fresh: Served, demo_dir: Path, tmp_path: Path
) -> None:
    inventories = Path(fresh.config.inventory_dirs[0])
    (inventories / "dc.txt").write_text(f"# the domain controller\n{demo_dir / 'DC01'}\n")
    outside = tmp_path / "outside.txt"
    outside.write_text(f"{demo_dir}\n")
    (inventories / "link.txt").symlink_to(outside)
    with fresh.client() as client:
        token = session(client)
        listed = client.get("/api/inventories").json()
        assert {"name": "0:dc.txt", "label": "inventories/dc.txt"} in listed
        for name in (
            str(outside),
            "0:../outside.txt",
            "0:link.txt",
            "../outside.txt",
            "/etc/passwd",
        ):
            refused = client.post("/api/sweeps", json={"inventories": [name]},
                                  headers={"x-csrf-token": token})  # fmt: skip
            assert refused.status_code == 400 and "inventory" in refused.json()["detail"], name
        ok = client.post("/api/sweeps", json={"inventories": ["0:dc.txt"], "since": SINCE},
                         headers={"x-csrf-token": token})  # fmt: skip
        state = wait_ended(client, ok.json()["id"])
        assert len(state["targets"]) == 3 and all(t["state"] == "ok" for t in state["targets"])
