"""Logging for the command line: one stderr line per message, ``[area] message``.

Library modules log to ``logging.getLogger(__name__)`` and configure nothing (a Python caller
chooses its own handlers); :func:`configure` is what ``repro`` does at start-up: ``--quiet``
shows warnings only, the default adds the informational lines, ``-v`` adds debug detail.
The area is the package below ``repro`` (``repro.train.run`` logs as ``[train]``).
"""

from __future__ import annotations

import logging
import sys

ROOT = "repro"


class _Area(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = record.name.split(".")
        area = parts[1] if len(parts) > 1 and parts[0] == ROOT else record.name
        text = f"[{area}] {record.getMessage()}"
        if record.levelno >= logging.WARNING:
            text = f"[{area}] {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record arrives (tests capture it by swapping)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # logging.StreamHandler.__init__ assigns it
        pass


def configure(level: int = logging.INFO) -> None:
    """Send the ``repro`` loggers' records at ``level`` and above to stderr (idempotent)."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(level)
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(_Area())
        logger.addHandler(handler)


def level_for(verbose: int, quiet: bool) -> int:
    """``-v`` (any count) -> DEBUG; ``--quiet`` -> WARNING; else INFO."""
    if verbose:
        return logging.DEBUG
    return logging.WARNING if quiet else logging.INFO


__all__ = ["configure", "level_for", "ROOT"]
