"""Where the shared public .evtx corpus lives, and the files of it the tests and benchmarks use.

The real public .evtx files are read from ../shared beside the repository (or from
``$EVENTSWEEP_CORPUS``), never copied in.
"""

from __future__ import annotations

import os
from pathlib import Path

CORPUS = Path(
    os.environ.get("EVENTSWEEP_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpus/evtx")
)
# files of the corpus, relative to it
SECURITY = "omerbenamram__evtx/samples/security.evtx"
SMALL = "omerbenamram__evtx/samples/new-user-security.evtx"  # 4 records
SYNTHETIC = "synthetic/synthetic_big_security.evtx"


def corpus_files() -> list[Path]:
    """Every .evtx file of the corpus, sorted."""
    return sorted(CORPUS.rglob("*.evtx"))


def real_corpus_files() -> list[Path]:
    """The corpus without its synthetic files: the ones real machines wrote."""
    return [path for path in corpus_files() if "synthetic" not in path.parts]
