"""Where a real dataset lives: the ``root`` argument (config field ``data_root``, CLI ``--data-root``),
else its environment variable."""

from __future__ import annotations

import os
from pathlib import Path

from repro.errors import InputError

# Every command that opens a dataset takes the same option (evaluate reads the run's data_root).
_WHERE = "config field data_root; --data-root PATH on repro train, audit, scan and data check"


def resolve_root(dataset: str, root: str, env_var: str, layout: str) -> Path:
    """The dataset's root folder; missing or not a folder -> ``ValueError`` naming option, variable and layout."""
    source = "root"
    if not root:
        root = os.environ.get(env_var, "")
        source = f"${env_var}"
    if not root:
        raise InputError(f"{dataset}: no dataset root given; set the environment variable {env_var} or pass "
                         f"root=PATH ({_WHERE}). Nothing is downloaded. Expected layout: {layout}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise InputError(f"{dataset}: {source}={str(root)!r} is not a folder (root=PATH: {_WHERE}; "
                         f"environment variable {env_var}). Expected layout: {layout}")
    return path.resolve()


def env_int(env_var: str, default: int) -> int:
    """An integer override from the environment (used for the test-split sizes of small local copies)."""
    text = os.environ.get(env_var, "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"invalid ${env_var}={text!r}: expected an integer >= 1") from None
    if value < 1:
        raise InputError(f"invalid ${env_var}={text!r}: expected an integer >= 1")
    return value
