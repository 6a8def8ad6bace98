"""Progress: a bar on interactive terminals, periodic plain lines in logs and CI."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, every_s: float = 10.0,
                 enabled: bool = True):
        self.total, self.label, self.every_s, self.enabled = total, label, every_s, enabled
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._start = time.perf_counter()

    def update(self, step: int, **values: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        done = step >= self.total
        if not (done or self.interactive or now - self._last >= self.every_s):
            return
        self._last = now
        rate = step / max(now - self._start, 1e-9)
        extras = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        if self.interactive:
            width = 30
            filled = int(width * step / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {step}/{self.total} {rate:.2f} it/s {extras}")
            if done:
                self.stream.write("\n")
        else:
            self.stream.write(f"{self.label}: step {step}/{self.total} ({rate:.2f} it/s) {extras}\n")
        self.stream.flush()
