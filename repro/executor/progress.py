"""One line per finished task with the overall count, and a live bar on a terminal."""

from __future__ import annotations

import sys


class Counter:
    """``finished(run_id, what)`` prints ``[audit] train 3/12 done: RUN_ID what``; on a terminal a
    tqdm bar counts along (lines go above it). ``done`` starts at the tasks already finished
    (reused runs), so the count is over the whole audit."""

    def __init__(self, label: str, total: int, done: int = 0, *, bar: bool | None = None, prefix: str = "[audit]"):
        self.label, self.total, self.done, self.prefix = label, total, done, prefix
        self._bar = None
        if bar is None:
            bar = sys.stderr.isatty()
        if bar and total > done:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=done, desc=label, unit="run", file=sys.stderr, leave=False)

    def finished(self, run_id: str, what: str) -> str:
        self.done += 1
        line = f"{self.prefix} {self.label} {self.done}/{self.total} done: {run_id} {what}"
        if self._bar is not None:
            self._bar.update(1)
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)
        return line

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
