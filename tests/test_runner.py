"""The one sweep call: several outputs at once, progress pushed, outcomes after a target's last
event, a failing output stopping the sweep, stop → interrupted; and the README's library
example, run as written."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eventsweep.batch import Batch
from eventsweep.demo import generate
from eventsweep.model import Event, Outcome, Query, TargetStatus
from eventsweep.runner import OutputError, Planned, Request, run
from eventsweep.sinks import SweepInfo
from eventsweep.sweep import Ended, Progress, Read, Started

ROOT = Path(__file__).resolve().parents[1]


def _event(target: str, n: int) -> Event:
    return Event(f"2024-01-01T00:00:{n:02}.000000Z", target, "c", "L", n, 1, "info", "s", None, "m")


@dataclass(frozen=True)
class Fake:
    target: str
    count: int
    delay: float = 0.0
    hang: bool = False

    async def events(self, query: Query, status: TargetStatus) -> AsyncIterator[list[Event]]:
        await asyncio.sleep(self.delay)
        yield [_event(self.target, n) for n in reversed(range(self.count))]
        if self.hang:
            await asyncio.sleep(3600)


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on

    def open(self, sweep: SweepInfo) -> None:
        self.calls.append(f"open {len(sweep.targets)}")

    def write(self, batch: Batch) -> None:
        if self.fail_on is not None and len(self.calls) >= self.fail_on:
            raise OSError(28, "No space left on device")
        self.calls.extend(f"event {e.target}" for e in batch.events())

    def outcome(self, outcome: Outcome) -> None:
        self.calls.append(f"outcome {outcome.target} {outcome.status}")

    def close(self) -> None:
        self.calls.append("close")


def _planned(*sources: Fake, group: str = "target") -> Planned:
    request = Request(tuple(s.target for s in sources), Query(), group=group)
    return Planned(request, sources)  # type: ignore[arg-type]


@pytest.mark.parametrize("group", ["target", "time"])
def test_every_output_gets_each_target_outcome_after_its_last_event(group: str) -> None:
    outputs = [Recorder(), Recorder()]
    seen: list[Progress] = []
    planned = _planned(Fake("a", 2, delay=0.05), Fake("b", 3), group=group)
    outcomes = asyncio.run(run(planned, outputs, [seen.append]))
    assert [o.status for o in outcomes] == ["ok", "ok"]
    for output in outputs:
        calls = output.calls
        assert calls[0] == "open 2" and calls[-1] == "close"
        for target in "ab":
            last_event = max(i for i, c in enumerate(calls) if c == f"event {target}")
            assert calls.index(f"outcome {target} ok") > last_event
        assert outputs[0].calls == calls
    kinds = [type(p) for p in seen]
    assert kinds.count(Started) == 2 and kinds.count(Ended) == 2 and Read in kinds
    assert sum(p.added for p in seen if isinstance(p, Read)) == 5


def test_a_failing_output_stops_the_sweep_and_others_still_get_every_outcome() -> None:
    broken, healthy = Recorder(fail_on=1), Recorder()
    planned = _planned(Fake("a", 2), Fake("b", 1, hang=True))
    with pytest.raises(OutputError) as caught:
        asyncio.run(asyncio.wait_for(run(planned, [broken, healthy]), 10))
    assert isinstance(caught.value.cause, OSError)
    assert sorted(o.status for o in caught.value.outcomes) == ["interrupted", "ok"]
    assert "outcome b interrupted" in healthy.calls and healthy.calls[-1] == "close"
    assert broken.calls[-1] == "close"  # closed even though it failed


def test_stop_ends_unfinished_targets_as_interrupted() -> None:
    async def go() -> list[Outcome]:
        stop = asyncio.Event()
        planned = _planned(Fake("a", 2), Fake("b", 1, hang=True), Fake("c", 1, delay=3600))
        asyncio.get_running_loop().call_later(0.2, stop.set)
        return await run(planned, [Recorder()], stop=stop)

    outcomes = asyncio.run(asyncio.wait_for(go(), 10))
    assert [(o.target, o.status, o.events) for o in outcomes] == [
        ("a", "ok", 2),
        ("b", "interrupted", 1),
        ("c", "interrupted", 0),
    ]


def _library_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("As a library, one call runs a sweep", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readmes_library_example_runs_as_written(tmp_path: Path) -> None:
    generate(tmp_path / "demo")
    script = tmp_path / "example.py"
    script.write_text(_library_example())
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "sweep of 12 targets"
    assert sum(line.startswith("ok ") for line in lines) == 12
    assert lines[-1].endswith(" events, 0 failures")
    total = int(lines[-1].split()[0])
    events = [line for line in lines if re.match(r"\d{4}-\d\d-\d\dT", line)]
    assert total == len(events) > 0


def test_a_scheme_can_read_a_narrower_query() -> None:
    seen: dict[str, Query] = {}

    @dataclass(frozen=True)
    class Spy:
        target: str

        async def events(self, query: Query, status: TargetStatus) -> AsyncIterator[list[Event]]:
            seen[self.target] = query
            yield []

    narrow = Query(event_ids=((4625, 4625),))
    request = Request(("a", "b"), Query(), queries={"win": narrow})
    planned = Planned(request, (Spy("a"), Spy("b")), ("win", "evtx"))  # type: ignore[arg-type]
    asyncio.run(run(planned))
    assert seen == {"a": narrow, "b": Query()}
