"""A one-line progress indicator on a terminal's stderr; silent when stderr is not a TTY."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30
MIN_INTERVAL_S = 0.1


class Progress:
    """`update(done, total)` redraws at most every 0.1 s; `close()` ends the line."""

    def __init__(self, label: str, stream: TextIO | None = None, force: bool = False) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self._last_s = 0.0
        self._drawn = False

    def update(self, done: int, total: int | None = None) -> None:
        now_s = time.monotonic()
        if not self.enabled or (now_s - self._last_s < MIN_INTERVAL_S and done != total):
            return
        self._last_s = now_s
        if total:
            filled = int(BAR_WIDTH * min(done, total) / total)
            text = f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}"
        else:
            text = f"{self.label} {done}"
        self.stream.write("\r" + text)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
