"""The web application's pure parts, without a server: the query bar's URL, the histogram's
drawing, inventories' confinement, the token, and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eventsweep.cli.serve import token_of
from eventsweep.errors import UsageError
from eventsweep.store.reader import Histogram
from eventsweep.web.histogram import chart, duration
from eventsweep.web.inventory import Inventories
from eventsweep.web.search import Search, glob_escape
from eventsweep.web.security import Keys, is_loopback
from tests.testbed.net import free_port


def test_a_search_round_trips_through_its_url() -> None:
    search = Search(since="", until="2026-11-19T06:00Z", level=("error", "warning"),
                    event_id="4625", target="*/DC01/*", q="Failed <b>", group="target")  # fmt: skip
    assert search.url("/") == (
        "/?since=&until=2026-11-19T06%3A00Z&level=error&level=warning&event_id=4625"
        "&target=%2A%2FDC01%2F%2A&q=Failed+%3Cb%3E&group=target"
    )
    assert Search().url("/") == "/"
    where = search.filter()
    assert where.since is None and where.until == "2026-11-19T06:00:00.000000Z"
    assert where.levels == {"error", "warning"} and where.event_ids == ((4625, 4625),)
    assert where.targets == ("*/DC01/*",) and where.text == "Failed <b>"
    assert search.with_level("error").level == ("error", "warning")
    assert search.export_url("csv").endswith("&format=csv")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [("since", "yesterday", "--since"), ("level", ("loud",), "--level"),
     ("event_id", "9-1", "--event-id")],
)  # fmt: skip
def test_a_bad_search_is_one_line_naming_the_field(field: str, value: object, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        Search(**{field: value}).filter()  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Search(group="nope")


def test_pinned_pages_keep_their_window() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    pinned = Search(since="8h").pinned(now)
    assert pinned.at == "2026-11-20T12:00:00.000000Z" and pinned.until == ""
    later = datetime(2026, 11, 21, tzinfo=UTC)
    where = pinned.filter(later)  # a page link followed a day later: the same window
    assert (where.since, where.until) == ("2026-11-20T04:00:00.000000Z", pinned.at)
    assert Search(since="8h", until="1h").pinned(now).filter(later).until == (
        "2026-11-20T11:00:00.000000Z")  # fmt: skip
    assert pinned.pinned(later) is pinned
    with pytest.raises(UsageError, match="at:"):
        Search(at="soon").filter()


def test_glob_escape_matches_only_itself() -> None:
    from fnmatch import fnmatchcase

    name = "/cases/[x]*?/a.evtx"
    assert fnmatchcase(name, glob_escape(name))
    assert not fnmatchcase("/cases/[x]ab/a.evtx", glob_escape(name))


def test_histogram_bars_stack_by_level() -> None:
    drawn = chart(Histogram("2026-11-19T00:00:00Z", "2026-11-19T02:59:59Z", 3600, [
        ("2026-11-19T00:00:00.000000Z", {"info": 3, "error": 1}),
        ("2026-11-19T01:00:00.000000Z", {}),
        ("2026-11-19T02:00:00.000000Z", {"<b>x</b>": 2}),
    ]))  # fmt: skip
    assert drawn is not None and drawn.total == 6 and drawn.peak == 4
    first, empty, odd = drawn.bars
    assert [s.level for s in first.segments] == ["error", "info"]  # most severe at the bottom
    assert first.segments[0].y > first.segments[1].y
    assert first.end == "2026-11-19T00:59:59.999999Z"
    assert first.title == "2026-11-19 00:00: 4 events (1 error, 3 info)"
    assert empty.segments == () and empty.total == 0
    assert odd.segments[0].level == "<b>x</b>"  # the template escapes it; its class is l-other
    assert chart(Histogram("", "", 0, [])) is None
    assert duration(10800) == "3 h" and duration(86400) == "1 d" and duration(30) == "30 s"


def test_inventories_stay_inside_their_directories(tmp_path: Path) -> None:
    inside = tmp_path / "inv"
    (inside / "sub").mkdir(parents=True)
    (inside / "sub" / "fleet.txt").write_text("# comment\n\nssh://web01\n  win://dc01  \n")
    (inside / ".hidden").write_text("x\n")
    (tmp_path / "secret.txt").write_text("ssh://elsewhere\n")
    (inside / "escape.txt").symlink_to(tmp_path / "secret.txt")
    inventories = Inventories([str(inside)])
    assert [item.name for item in inventories.listing()] == ["0:escape.txt", "0:sub/fleet.txt"]
    assert inventories.targets("0:sub/fleet.txt") == ["ssh://web01", "win://dc01"]
    for name in ("0:escape.txt", "0:../secret.txt", str(tmp_path / "secret.txt"), "9:x", "/"):
        with pytest.raises(UsageError, match="inventory"):
            inventories.targets(name)


def test_the_token(tmp_path: Path) -> None:
    assert token_of("127.0.0.1", None, {}) == (None, False)
    assert token_of("::1", None, {}) == (None, False)
    token, generated = token_of("0.0.0.0", None, {})
    assert generated and token and len(token) >= 32
    assert token_of("0.0.0.0", None, {"EVENTSWEEP_TOKEN": "from-the-environment"}) == (
        "from-the-environment", False)  # fmt: skip
    path = tmp_path / "token"
    path.write_text("a-token-from-a-file-1234\n")
    path.chmod(0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        token_of("0.0.0.0", str(path), {})
    path.chmod(0o600)
    assert token_of("10.0.0.1", str(path), {}) == ("a-token-from-a-file-1234", False)
    assert is_loopback("localhost") and is_loopback("127.0.0.9") and not is_loopback("0.0.0.0")
    keys = Keys("t" * 20)
    assert keys.csrf("a" * 20) != keys.csrf("b" * 20) and "t" * 20 not in keys.auth_cookie()


@pytest.mark.servers
def test_the_serve_command(tmp_path: Path) -> None:
    """``eventsweep serve`` as a user runs it: a token from the environment, 401 without it,
    the token never printed; a store file that is not a store refused with exit status 2."""
    port = free_port()
    environment = {**os.environ, "EVENTSWEEP_TOKEN": "env-token-for-the-test-1"}
    command = [sys.executable, "-m", "eventsweep.cli", "serve", "--store",
               str(tmp_path / "events.db"), "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/events")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        assert response.status_code == 401
        bearer = {"authorization": "Bearer env-token-for-the-test-1"}
        authorised = httpx.get(f"http://127.0.0.1:{port}/", headers=bearer)
        assert authorised.status_code == 200 and "No events stored yet" in authorised.text
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert f"serving http://127.0.0.1:{port}/" in errors
    assert "env-token-for-the-test-1" not in errors
    (tmp_path / "foreign.db").write_bytes(b"not a database at all")
    refused = subprocess.run([*command[:5], str(tmp_path / "foreign.db")], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and "not an eventsweep store" in refused.stderr
    assert (tmp_path / "foreign.db").read_bytes() == b"not a database at all"
