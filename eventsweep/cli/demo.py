"""``eventsweep demo-data``: a reproducible demo set of .evtx files."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from eventsweep.query import parse_size


def add_parser(commands: Any) -> None:
    demo = commands.add_parser("demo-data", help="write a reproducible demo set of .evtx files")
    demo.add_argument("directory", help="where to write the files")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--size", help="grow the largest file to about this size (e.g. 200M, 1G)")
    demo.set_defaults(run=run_demo)


def run_demo(arguments: argparse.Namespace) -> int:
    demo = importlib.import_module("eventsweep.demo")
    size = parse_size("--size", arguments.size)
    written = demo.generate(arguments.directory, seed=arguments.seed, size=size)
    for path in written:
        print(path)
    return 0
