"""Inception Score (Salimans et al., NeurIPS 2016): IS = exp(E_x KL(p(y|x) || p(y))).

Computed per split as in the authors' release (openai/improved-gan): the N samples are cut into
``splits`` consecutive parts of N // splits samples (a remainder is dropped), p(y) is the mean of
p(y|x) within the part, and the reported pair is the mean and (population) std over the parts.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, xlogy

from repro.metrics._checks import as_float64
from repro.registry import check_choice

KINDS = ("auto", "probs", "logits")
PROB_ATOL = 1e-6  # rows of a float32 softmax sum to 1 within a few 1e-7


def _log_probs(x: np.ndarray, kind: str) -> np.ndarray:
    check_choice("kind", kind, KINDS)
    looks_like_probs = bool(np.all(x >= 0) and np.all(x <= 1) and np.allclose(x.sum(axis=1), 1.0, atol=PROB_ATOL))
    if kind == "auto":
        kind = "probs" if looks_like_probs else "logits"
    if kind == "logits":
        return log_softmax(x, axis=1)
    if not looks_like_probs:
        raise ValueError(f"kind='probs' but the rows are not probability vectors (entries in [0, 1] "
                         f"summing to 1 within {PROB_ATOL})")
    with np.errstate(divide="ignore"):
        return np.log(x)


def inception_score(probs_or_logits, splits: int = 10, *, kind: str = "auto") -> tuple[float, float]:
    """Inception Score over ``splits`` parts -> (mean, std).

    Args:
        probs_or_logits: (N, C) class probabilities p(y|x) or unnormalised logits.
        splits: number of parts (10 in the original protocol); needs N >= splits.
        kind: "probs", "logits", or "auto" (probabilities when every row is a probability
            vector, logits otherwise).
    """
    x = as_float64("probs_or_logits", probs_or_logits, 2)
    if not isinstance(splits, (int, np.integer)) or isinstance(splits, bool) or splits < 1:
        raise ValueError(f"splits must be an integer >= 1, got {splits!r}")
    n = x.shape[0]
    if n < splits:
        raise ValueError(f"the Inception Score over {splits} splits needs at least {splits} samples, got {n}")
    logp = _log_probs(x, kind)
    p = np.exp(logp)
    part = n // splits
    scores = []
    for k in range(splits):
        lp, pk = logp[k * part:(k + 1) * part], p[k * part:(k + 1) * part]
        py = pk.mean(axis=0)
        with np.errstate(divide="ignore"):
            log_py = np.log(py)
        # KL(p(y|x) || p(y)) per sample; 0 log 0 = 0 via xlogy, and py > 0 wherever p > 0
        kl = (xlogy(pk, pk) - pk * np.where(pk > 0, log_py, 0.0)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())
