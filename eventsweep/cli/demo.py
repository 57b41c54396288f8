"""``eventsweep demo-data``: a reproducible demo set of .evtx files."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from eventsweep.errors import UsageError


def add_parser(commands: Any) -> None:
    demo = commands.add_parser("demo-data", help="write a reproducible demo set of .evtx files")
    demo.add_argument("directory", help="where to write the files")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--size", help="grow the largest file to about this size (e.g. 200M, 1G)")
    demo.set_defaults(run=run_demo)


def run_demo(arguments: argparse.Namespace) -> int:
    demo = importlib.import_module("eventsweep.demo")
    written = demo.generate(arguments.directory, seed=arguments.seed, size=_size(arguments.size))
    for path in written:
        print(path)
    return 0


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = (text[:-1], text[-1].upper()) if text[-1:].upper() in units else (text, "")
    try:
        return int(float(number) * units.get(unit, 1))
    except ValueError:
        raise UsageError(f"--size: {text!r} is not a size like 200M or 1G") from None
