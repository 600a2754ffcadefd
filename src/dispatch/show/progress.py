"""A one-line progress bar for long solves: time used of the limit, and the best cost so far.

Fed by the solve's progress callback (in process) or the ``SolveStream`` messages (remote);
redrawn by a ticker so the clock moves between improvements. Writes to a terminal only,
unless forced.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class ProgressBar:
    def __init__(
        self, limit: float, *, stream: TextIO | None = None, enabled: bool | None = None, width: int = 30
    ) -> None:
        self.limit = max(limit, 1e-3)
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self.best: float | None = None
        self.improvements = 0
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._drawn = 0.0

    def __enter__(self) -> ProgressBar:
        self._began = time.monotonic()
        if self.enabled:
            self._ticker = threading.Thread(target=self._tick, name="dispatch-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.enabled:
            self._draw(final=True)

    def update(self, objective: float) -> None:
        """A better solution was found."""
        with self._lock:
            if self.best is None or objective < self.best:
                self.best = objective
                self.improvements += 1
        if self.enabled and time.monotonic() - self._drawn >= 0.1:  # the ticker shows the rest
            self._draw()

    def line(self) -> str:
        elapsed = time.monotonic() - self._began
        done = min(elapsed / self.limit, 1.0)
        filled = int(round(done * self.width))
        best = "-" if self.best is None else f"{self.best:,.0f}"
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {elapsed:5.1f}/{self.limit:.1f} s  best cost {best}  ({self.improvements} improvements)"

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            self._draw()

    def _draw(self, *, final: bool = False) -> None:
        with self._lock:
            self.stream.write("\r" + self.line().ljust(78) + ("\n" if final else ""))
            self.stream.flush()
            self._drawn = time.monotonic()
