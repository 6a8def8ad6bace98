"""Inception Score (Salimans et al., NeurIPS 2016): IS = exp(E_x KL(p(y|x) || p(y))).

Computed per split as in the authors' release (openai/improved-gan, ``inception_score/model.py``,
``get_inception_score``, lines 47-52): part i of the N samples is rows
``i * N // splits : (i + 1) * N // splits`` (every sample counts; parts differ in size by at most
one when ``splits`` does not divide N), p(y) is the mean of p(y|x) within the part, and the
reported pair is the mean and (population, ``np.std``) standard deviation of the per-part scores.
"""

from __future__ import annotations

import numpy as np

from repro.errors import InputError
from repro.metrics._checks import as_float64
from repro.registry import check_choice

KINDS = ("auto", "probs", "logits")
# Rows of probabilities must sum to 1 within this. float16 keeps each probability to 2^-11
# relative, so a row's sum is off by up to ~5e-4 (plus subnormal flushing of tiny entries);
# bfloat16 (2^-8) by up to ~4e-3. 1e-2 accepts both; rows are renormalised before use.
PROB_SUM_TOL = 1e-2


def _kind_of(x: np.ndarray) -> str:
    """"probs" when every row is a probability vector (within PROB_SUM_TOL), "logits" when some
    entry lies outside [0, 1]; otherwise neither reading is safe and the caller must say."""
    if np.any(x < 0) or np.any(x > 1):
        return "logits"
    if np.all(np.abs(x.sum(axis=1) - 1.0) <= PROB_SUM_TOL):
        return "probs"
    raise InputError("kind='auto' cannot tell probabilities from logits: every entry lies in [0, 1] but the "
                     f"rows do not sum to 1 within {PROB_SUM_TOL}; pass kind='probs' or kind='logits'")


def _log_probs(x: np.ndarray, kind: str) -> np.ndarray:
    check_choice("kind", kind, KINDS)
    if kind == "auto":
        kind = _kind_of(x)
    if kind == "logits":
        from scipy.special import log_softmax  # lazy: scipy is not needed to import the package

        return log_softmax(x, axis=1)
    sums = x.sum(axis=1, keepdims=True)
    if np.any(x < 0) or np.any(x > 1) or np.any(np.abs(sums - 1.0) > PROB_SUM_TOL):
        raise InputError(f"kind='probs' but the rows are not probability vectors (entries in [0, 1] "
                         f"summing to 1 within {PROB_SUM_TOL})")
    # renormalise: low-precision rows (float16) sum to 1 only within their rounding
    with np.errstate(divide="ignore"):
        return np.log(x) - np.log(sums)


def inception_score(probs_or_logits, splits: int = 10, *, kind: str = "auto") -> tuple[float, float]:
    """Inception Score over ``splits`` parts -> (mean, std).

    Args:
        probs_or_logits: (N, C) class probabilities p(y|x) or unnormalised logits.
        splits: number of parts (10 in the original protocol); needs N >= splits. Every sample
            counts: part i is rows i*N//splits .. (i+1)*N//splits - 1.
        kind: "probs", "logits", or "auto": logits when some entry lies outside [0, 1],
            probabilities when every row sums to 1 within ``PROB_SUM_TOL`` (so float16-rounded
            probabilities are read as probabilities), otherwise a ``ValueError`` asks for the kind.
            Probability rows are renormalised to sum to 1.
    """
    x = as_float64("probs_or_logits", probs_or_logits, 2)
    if not isinstance(splits, (int, np.integer)) or isinstance(splits, bool) or splits < 1:
        raise InputError(f"splits must be an integer >= 1, got {splits!r}")
    n = x.shape[0]
    if n < splits:
        raise InputError(f"the Inception Score over {splits} splits needs at least {splits} samples, got {n}")
    logp = _log_probs(x, kind)
    p = np.exp(logp)
    scores = []
    for k in range(splits):
        lo, hi = k * n // splits, (k + 1) * n // splits  # improved-gan's bounds: no sample dropped
        pk = p[lo:hi]
        py = pk.mean(axis=0)
        with np.errstate(divide="ignore"):
            log_py = np.log(py)
        # KL(p(y|x) || p(y)) per sample; 0 log 0 = 0 via xlogy, and py > 0 wherever p > 0
        from scipy.special import xlogy

        kl = (xlogy(pk, pk) - pk * np.where(pk > 0, log_py, 0.0)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())
