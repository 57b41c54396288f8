"""``--new`` on an .evtx file written in order: the chunk holding the bookmarked record is found
by bisection, in a few chunk reads for any size, and the read plans exactly what the scan of
every slot plans; a file out of order where it is read (swapped chunks, a dirty, stale or wrapped
header, a wrapped log whose header lies) is scanned instead, with the same notes as before."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from eventsweep.formats.evtx import index
from eventsweep.formats.evtx.layout import CHUNK_SIZE, FILE_HEADER, HEADER_SIZE
from eventsweep.model import Bookmark, Query
from eventsweep.sources import evtx_resume
from tests.formats.test_evtx_index import swap_chunks
from tests.testbed.corpus import CORPUS, SYNTHETIC, corpus_files

Plan = tuple[list[index.ChunkSlot], int, evtx_resume.Start]
SLOTS = 390  # the synthetic file's chunks
NOTHING = Query(since="2099-01-01T00:00:00.000000Z")  # a window that holds nothing
ENDED = [  # windows with an end: the synthetic file's last hour, an hour three days back
    Query(since="2024-01-17T20:20:00.000000Z", until="2024-01-17T21:20:00.000000Z"),
    Query(since="2024-01-14T21:20:00.000000Z", until="2024-01-14T22:20:00.000000Z"),
]


def _plan(path: Path, mark: Bookmark | None, bisect: bool = True, query: Query = NOTHING) -> Plan:
    """The read ``--new`` plans after ``mark`` (or a window's read, without one): with the
    bisection, or with the scan alone."""
    text = str(path)

    def since(record_id: int) -> list[index.ChunkSlot] | None:
        return index.since(text, record_id) if bisect else None

    return evtx_resume.plan(
        text,
        query,
        mark,
        lambda: index.choose(text, query.since, query.until),
        lambda: index.scan(text),
        since,
    )


def _records(path: Path) -> list[tuple[int, int]]:
    """(record id, FILETIME written) of every record in the file, by the record headers."""
    found: list[tuple[int, int]] = []
    with open(path, "rb") as file:
        data = file.read()
    for start in range(HEADER_SIZE, len(data), CHUNK_SIZE):
        found.extend(evtx_resume.records(data[start : start + CHUNK_SIZE]))
    return sorted(set(found))


def _marks(path: Path, count: int, seed: int) -> list[Bookmark]:
    """Bookmarks of records across the file (its newest and oldest among them), of records it
    does not hold (below and above its ids) and of a record that is another than it was."""
    held = _records(path)
    if not held:
        return [Bookmark(evtx_resume.LOG, record_id=5, epoch="written:1")]
    rng = random.Random(seed)
    picked = [held[-1], held[0], held[len(held) // 2], *rng.sample(held, min(count, len(held)))]
    marks = [_mark(*record) for record in picked]
    newest, written = held[-1]
    return [
        *marks,
        _mark(newest + 1000, written),  # ids went back since
        _mark(max(held[0][0] - 1, 0), held[0][1]),  # overwritten: wrapped past it
        _mark(newest, written + 1),  # another record has its id
        Bookmark(evtx_resume.LOG, record_id=newest - 1),  # no epoch: an older bookmark
    ]


def _mark(record_id: int, written: int) -> Bookmark:
    return Bookmark(evtx_resume.LOG, record_id=record_id, epoch=f"written:{written}")


def _same_as_the_scan(path: Path, marks: list[Bookmark]) -> None:
    for mark in marks:
        assert _plan(path, mark) == _plan(path, mark, bisect=False), mark
    for query in ENDED:  # and a window's read: its chunks and the file's newest record
        assert _plan(path, None, query=query) == _plan(path, None, False, query), query


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "copy.evtx"
    shutil.copy(CORPUS / SYNTHETIC, copy)
    return copy


def _counting(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """The slots read for their record headers, and how many scans were made."""
    reads: list[int] = []
    scans: list[int] = []
    real_span, real_chunk, real_scan = index._read_span, evtx_resume._read_chunk, index.scan

    def span(fd: int, slot: int) -> index.Span:
        reads.append(slot)
        return real_span(fd, slot)

    def chunk(fd: int, at: index.ChunkSlot) -> bytes:
        reads.append(at.slot)
        return real_chunk(fd, at)

    def scan(path: str) -> tuple[list[index.ChunkSlot], int]:
        scans.append(1)
        return real_scan(path)

    monkeypatch.setattr(index, "_read_span", span)
    monkeypatch.setattr(evtx_resume, "_read_chunk", chunk)
    monkeypatch.setattr(index, "scan", scan)
    return reads, scans


def test_a_resume_in_an_ordered_file_reads_a_few_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    path = CORPUS / SYNTHETIC
    marks = _marks(path, 30, seed=12)[:-4]  # the records the file holds
    expected = [_plan(path, mark, bisect=False) for mark in marks]
    reads, scans = _counting(monkeypatch)
    for mark, wanted in zip(marks, expected, strict=True):
        reads.clear()
        chunks, damaged, begun = _plan(path, mark)
        assert (chunks, damaged, begun) == wanted and begun.note is None
        assert len(reads) <= 10 + len(chunks) + 2  # log2(390) < 9; the new chunks; two again
    assert not scans
    newest = _plan(path, marks[0])
    assert newest[0] == [] and newest[2].after == marks[0].record_id  # nothing new: no chunk
    oldest = _plan(path, marks[1])
    assert [chunk.slot for chunk in oldest[0]] == list(range(SLOTS - 1, -1, -1))


def test_a_window_with_an_end_finds_the_newest_record_without_a_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = CORPUS / SYNTHETIC
    record_id, written = _records(path)[-1]
    _, scans = _counting(monkeypatch)
    for query in ENDED:
        mark = _plan(path, None, query=query)[2].mark
        assert not scans
        assert mark is not None and (mark.record_id, mark.epoch) == (
            record_id,
            f"written:{written}",
        )
        assert mark == _plan(path, None, False, query)[2].mark
        scans.clear()


def test_a_bookmark_the_file_no_longer_holds_is_scanned_for_its_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = CORPUS / SYNTHETIC
    notes = []
    for mark in _marks(path, 0, seed=1)[-4:]:
        expected = _plan(path, mark, bisect=False)
        _, scans = _counting(monkeypatch)
        assert _plan(path, mark) == expected
        if expected[2].note is not None:
            assert scans and "read from --since instead" in expected[2].note
            notes.append(expected[2].note)
        monkeypatch.undo()
    assert len(notes) == 3, notes  # the bookmark without an epoch is resumed after


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name[:40])
def test_every_corpus_file_resumes_as_the_scan_does(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file bisected, however small (the bisection's own cut-off lowered to one slot)."""
    monkeypatch.setattr(index, "_BISECT_FROM", 1)
    _same_as_the_scan(path, _marks(path, 8, seed=len(path.name)))


@pytest.mark.parametrize("slots", [(388, 389), (300, 200), (195, 194), (0, 389), (10, 11)])
def test_chunks_out_of_order_are_seen_or_do_not_matter(
    tmp_path: Path, slots: tuple[int, int]
) -> None:
    copy = _copy(tmp_path)
    swap_chunks(copy, *slots)
    _same_as_the_scan(copy, _marks(copy, 12, seed=sum(slots)))


def _header(path: Path, **changes: int) -> None:
    """Set file header fields by their index in FILE_HEADER (``f1=`` the oldest chunk…)."""
    data = bytearray(path.read_bytes())
    fields = list(FILE_HEADER.unpack_from(data))
    for name, value in changes.items():
        fields[int(name[1:])] = value
    FILE_HEADER.pack_into(data, 0, *fields)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("changes", [{"f9": 1}, {"f8": SLOTS - 5}, {"f1": 3}, {"f2": 7}], ids=str)
def test_a_dirty_or_stale_header_is_scanned(
    tmp_path: Path, changes: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _copy(tmp_path)
    _header(copy, **changes)
    assert index.since(str(copy), _records(copy)[-1][0]) is None
    _same_as_the_scan(copy, _marks(copy, 4, seed=9))


def _wrap(path: Path, by: int) -> None:
    """A circular log that went round: the chunks moved ``by`` slots up, the newest ones at the
    start of the file (the file header left as it was)."""
    data = path.read_bytes()
    chunks = [data[at : at + CHUNK_SIZE] for at in range(HEADER_SIZE, len(data), CHUNK_SIZE)]
    chunks = chunks[-by:] + chunks[:-by]
    path.write_bytes(data[:HEADER_SIZE] + b"".join(chunks))


@pytest.mark.parametrize("by", [1, 5, 200, SLOTS - 1])
def test_a_wrapped_log_is_scanned(tmp_path: Path, by: int) -> None:
    copy = _copy(tmp_path)
    _wrap(copy, by)
    marks = _marks(copy, 12, seed=by)
    _same_as_the_scan(copy, marks)  # its header says it is in order: the record ids do not
    _header(copy, f1=by, f2=by - 1)  # as Windows leaves it: the oldest chunk, the current one
    _same_as_the_scan(copy, marks)
    assert index.since(str(copy), marks[0].record_id or 0) is None


def test_a_chunk_beyond_the_header_count_is_scanned(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    marks = _marks(copy, 6, seed=3)
    with open(copy, "ab") as file:  # a chunk appended, the header not rewritten
        file.write(os.urandom(16) + bytes(CHUNK_SIZE - 16))
    assert index.since(str(copy), marks[0].record_id or 0) is None
    _same_as_the_scan(copy, marks)
