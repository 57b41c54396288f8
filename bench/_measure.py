"""Measures shared by the benchmarks."""

from __future__ import annotations

import threading

import psutil


class PeakRss:
    """The peak RSS (bytes) of a process and all its descendants, summed, sampled every 20 ms
    by a thread from the start of a ``with`` block to its end."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample)

    def __enter__(self) -> PeakRss:
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._sampler.join()

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while True:
            try:
                tree = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(process.memory_info().rss for process in tree))
            except psutil.Error:
                pass  # a process of the tree left while it was read: the next sample counts
            if self._done.wait(0.02):
                return
