"""The chunk index: a bisected window picks what the walk over every chunk header picks, in a few
dozen chunk reads; a file out of order anywhere the bisection looks falls back to that walk."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from eventsweep.formats.evtx import index
from eventsweep.formats.evtx.layout import CHUNK_SIZE, FILE_HEADER, HEADER_SIZE
from eventsweep.model import iso_from_epoch
from tests.testbed.corpus import CORPUS, SYNTHETIC, corpus_files

FIRST, LAST = 1704921600, 1705526400  # the synthetic file: 2024-01-10T21:20Z … 2024-01-17T21:20Z


def _walked(path: str, since: str | None, until: str | None) -> list[index.ChunkSlot]:
    """What the walk over every chunk (the scan) picks."""
    found = index.scan(path)[0]
    return list(index.select(path, since, until, found))


def _windows(count: int, seed: int) -> list[tuple[str | None, str | None]]:
    rng = random.Random(seed)
    windows: list[tuple[str | None, str | None]] = [
        (iso_from_epoch(LAST - 3600), None),
        (iso_from_epoch(LAST - 3 * 86400), iso_from_epoch(LAST - 3 * 86400 + 3600)),
        (None, iso_from_epoch(FIRST + 7200)),
        (iso_from_epoch(LAST + 86400), None),  # after the file
        (None, iso_from_epoch(FIRST - 86400)),  # before it
    ]
    for _ in range(count):
        start = rng.uniform(FIRST - 7200, LAST + 7200)
        windows.append((iso_from_epoch(start), iso_from_epoch(start + rng.uniform(1, 40_000))))
    return windows


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads: list[int] = []
    real = index._read_span

    def counted(fd: int, slot: int) -> index.Span:
        reads.append(slot)
        return real(fd, slot)

    monkeypatch.setattr(index, "_read_span", counted)
    return reads


def test_an_ordered_file_is_bisected() -> None:
    path = str(CORPUS / SYNTHETIC)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert index._Ordered.open(fd) is not None
    finally:
        os.close(fd)


@pytest.mark.parametrize("since, until", _windows(40, seed=15))
def test_bisected_windows_pick_what_the_walk_picks(
    since: str | None, until: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(CORPUS / SYNTHETIC)
    expected = _walked(path, since, until)
    reads = _counting(monkeypatch)
    picked, damaged = index.choose(path, since, until)
    assert picked == expected and damaged == 0
    assert len(reads) <= 2 * 10 + len(expected) + 3  # log2(390) < 9, the window, the stop


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "copy.evtx"
    shutil.copy(CORPUS / SYNTHETIC, copy)
    return copy


def swap_chunks(path: Path, a: int, b: int) -> None:
    """Swap two chunk slots of the file in place."""
    data = bytearray(path.read_bytes())
    first = data[HEADER_SIZE + a * CHUNK_SIZE : HEADER_SIZE + (a + 1) * CHUNK_SIZE]
    second = data[HEADER_SIZE + b * CHUNK_SIZE : HEADER_SIZE + (b + 1) * CHUNK_SIZE]
    data[HEADER_SIZE + a * CHUNK_SIZE : HEADER_SIZE + (a + 1) * CHUNK_SIZE] = second
    data[HEADER_SIZE + b * CHUNK_SIZE : HEADER_SIZE + (b + 1) * CHUNK_SIZE] = first
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("slots", [(388, 389), (300, 200), (195, 194), (0, 389), (10, 11)])
def test_chunks_out_of_order_are_seen_or_do_not_matter(
    tmp_path: Path, slots: tuple[int, int]
) -> None:
    """Swapped chunks: where the bisection or the window reads them, it falls back to the walk;
    elsewhere they change nothing it picks. Either way, the walk's pick."""
    copy = _copy(tmp_path)
    swap_chunks(copy, *slots)
    for since, until in _windows(12, seed=sum(slots)):
        assert index.choose(str(copy), since, until)[0] == _walked(str(copy), since, until)


def test_a_dirty_or_stale_header_is_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _copy(tmp_path)
    data = bytearray(copy.read_bytes())
    fields = list(FILE_HEADER.unpack_from(data))
    for change in ({9: fields[9] | 1}, {8: fields[8] - 5}, {1: 3}):
        changed = list(fields)
        for at, value in change.items():
            changed[at] = value
        FILE_HEADER.pack_into(data, 0, *changed)
        copy.write_bytes(bytes(data))
        fd = os.open(copy, os.O_RDONLY)
        try:
            assert index._Ordered.open(fd) is None, change
        finally:
            os.close(fd)
        since = iso_from_epoch(LAST - 3600)
        assert index.choose(str(copy), since, None)[0] == _walked(str(copy), since, None)


def test_chunks_beyond_the_header_count_are_walked(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    with open(copy, "ab") as file:
        file.write((CORPUS / SYNTHETIC).read_bytes()[HEADER_SIZE : HEADER_SIZE + CHUNK_SIZE])
    since = iso_from_epoch(FIRST)
    assert index.choose(str(copy), since, None)[0] == _walked(str(copy), since, None)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name[:40])
def test_every_corpus_file_chooses_what_the_walk_picks(path: Path) -> None:
    for since, until in _windows(6, seed=len(path.name)):
        assert index.choose(str(path), since, until)[0] == _walked(str(path), since, until)


@pytest.mark.parametrize("by", [1, 5, 200])
def test_a_wrapped_log_whose_header_says_in_order_is_walked(tmp_path: Path, by: int) -> None:
    """The chunks moved ``by`` slots up, the newest at the file's start, the header left as it
    was: the last slot's records end before the header's next record id."""
    copy = _copy(tmp_path)
    data = copy.read_bytes()
    chunks = [data[at : at + CHUNK_SIZE] for at in range(HEADER_SIZE, len(data), CHUNK_SIZE)]
    copy.write_bytes(data[:HEADER_SIZE] + b"".join(chunks[-by:] + chunks[:-by]))
    for since, until in _windows(12, seed=by):
        assert index.choose(str(copy), since, until)[0] == _walked(str(copy), since, until)
