"""Where repro keeps caches and its default tracking store."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "REPRO_CACHE_DIR"


def cache_dir() -> Path:
    """``$REPRO_CACHE_DIR`` if set, else ``~/.cache/repro``; created on demand."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "repro").expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root
