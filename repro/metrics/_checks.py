"""Boundary checks shared by the metrics: each error names the argument and the problem."""

from __future__ import annotations

import numpy as np

from repro.errors import InputError


def as_float64(name: str, value, ndim: int) -> np.ndarray:
    """``value`` as a finite float64 array with ``ndim`` dimensions, else a ``ValueError`` naming ``name``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric array: {exc}") from None
    if arr.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return arr


def features(name: str, value, min_rows: int = 1, dim: int | None = None) -> np.ndarray:
    """A (N, d) finite float64 feature matrix with N >= ``min_rows`` (and d == ``dim`` when given)."""
    arr = as_float64(name, value, 2)
    if arr.shape[0] < min_rows:
        raise InputError(f"{name} has {arr.shape[0]} sample(s); this statistic needs at least {min_rows}")
    if arr.shape[1] < 1:
        raise InputError(f"{name} has feature dimension 0")
    if dim is not None and arr.shape[1] != dim:
        raise InputError(f"{name} has feature dimension {arr.shape[1]}, expected {dim}")
    return arr
