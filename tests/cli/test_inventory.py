"""Inventories (-i FILE): comments and blank lines skipped, a BOM skipped, binary or
non-UTF-8 content a usage error naming the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventsweep.cli import main
from eventsweep.errors import UsageError
from eventsweep.inventory import read_inventory
from tests.testbed.corpus import SMALL


def inventory(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "targets.txt"
    path.write_bytes(data)
    return str(path)


def test_comments_blank_lines_and_spaces(tmp_path: Path) -> None:
    path = inventory(tmp_path, b"# the fleet\n\nssh://web01\n   \n  win://dc01  \r\n  # off\nx")
    assert read_inventory(path) == ["ssh://web01", "win://dc01", "x"]


def test_a_bom_is_skipped(tmp_path: Path) -> None:
    assert read_inventory(inventory(tmp_path, b"\xef\xbb\xbfssh://web01\n")) == ["ssh://web01"]


@pytest.mark.parametrize(
    ("data", "line", "what"),
    [
        (b"ssh://a\n\xff\xfe\n", 2, "not UTF-8"),
        (b"ssh://a\nssh://b\n\xc3(\n", 3, "not UTF-8"),
        (b"ssh://a\nb\x00c\n", 2, "binary"),
        (b"\x7fELF\x02\x01\x01\x00", 1, "binary"),
        (b"\xff\xfes\x00s\x00h\x00", 1, "not UTF-8"),  # UTF-16
        (b"ok\n\x1b]0;owned\x07\n", 2, "binary"),
    ],
)
def test_binary_or_not_utf8_names_file_and_line(
    tmp_path: Path, data: bytes, line: int, what: str
) -> None:
    path = inventory(tmp_path, data)
    with pytest.raises(UsageError) as caught:
        read_inventory(path)
    message = str(caught.value)
    assert message.startswith(f"-i {path}: line {line} ") and what in message


def test_unreadable_inventory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        read_inventory(str(tmp_path / "absent.txt"))


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf{target}\n", b"{target}\n\xff\n"])
def test_inventories_through_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path, data: bytes
) -> None:
    path = inventory(tmp_path, data.replace(b"{target}", str(corpus / SMALL).encode()))
    code = main(["sweep", "-i", path, "--all", "--format", "jsonl"])
    out, err = capsys.readouterr()
    if data.startswith(b"\xef"):
        assert code == 0 and len(out.splitlines()) == 4
    else:
        assert code == 2 and f"-i {path}: line 2 is not UTF-8" in err
