"""Progress of a training run: a tqdm bar with an ETA on a terminal, plain lines in logs and CI.

On a terminal (``stream.isatty()``) tqdm draws one bar that it redraws in place (rate, elapsed,
ETA, the latest losses). Anywhere else (a log file, DVC's captured output, CI) a bar would write
carriage returns into the log, so one plain line is written every ``every_s`` seconds and at
the end: ``train deterministic seed=0: step 40/200 (2.51 it/s, ETA 0:01:04) d_loss=1.386 g_loss=0.6931``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def format_eta(seconds: float) -> str:
    """``h:mm:ss`` (``?`` when unknown)."""
    if not seconds >= 0 or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """``update(step, **values)`` after finished steps; ``close()`` at the end.

    ``initial`` is the step a resumed run starts from (rates and ETAs count this session's steps).
    ``enabled=False`` writes nothing.
    """

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, every_s: float = 10.0,
                 enabled: bool = True, initial: int = 0):
        self.total, self.label, self.every_s, self.enabled = total, label, every_s, enabled
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.initial = initial
        self._last = float("-inf")
        self._start = time.perf_counter()
        self._bar: Any = None
        if enabled and self.interactive:
            from tqdm import tqdm  # lazy: only a terminal draws a bar

            self._bar = tqdm(total=total, initial=initial, desc=label, file=self.stream, unit="step",
                             dynamic_ncols=True, leave=True)

    def update(self, step: int, **values: float) -> None:
        if not self.enabled:
            return
        extras = {k: f"{v:.4g}" for k, v in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(extras, refresh=False)
            self._bar.update(step - self._bar.n)
            return
        now = time.perf_counter()
        if not (step >= self.total or now - self._last >= self.every_s):
            return
        self._last = now
        rate = (step - self.initial) / max(now - self._start, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        text = " ".join(f"{k}={v}" for k, v in extras.items())
        self.stream.write(f"{self.label}: step {step}/{self.total} ({rate:.2f} it/s, ETA {format_eta(eta)}) {text}"
                          .rstrip() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
