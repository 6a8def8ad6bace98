"""A paper's conclusions as data, checked on a study's results with :func:`repro.stats.compare_seeds`.

A claims file (YAML) holds ``claims:``, a list of::

    id: sn-beats-none-resnet          # unique
    text: spectral normalization beats no normalization (ResNet)
    source: Kurach et al. 2019, Section 4.2, Figure 2   # where the paper makes it
    factor: d_norm                    # what differs between the two sides (see FACTORS)
    a: sn                             # level (or list of levels) of side A
    b: none                           # level(s) of side B
    where: {architecture: resnet, flags: "-"}          # optional: both sides also match these
    expect: lower                     # A's FID vs B's: lower | higher | similar | not_higher
    aggregate: median                 # optional: per seed, over a side's trials: median | min

Evidence (seeds are the unit: docs/statistics.md, "Seeds are the unit of evidence"): for each seed of the
study, a side's observation is the ``aggregate`` over that side's trials (settings and variants)
of the seed's FID (a diverged run scores the study's worst FID, :mod:`repro.study.results`).
The two sides' per-seed observations go to :func:`repro.stats.compare_seeds` (Welch interval of
the difference A - B, or the rank-based comparison when the per-seed values are bimodal or
strongly skewed; seeds needed), and its verdict maps onto the claim:

=====================  ===================  ============  ==============  ============
compare_seeds verdict  expect lower         higher        similar         not_higher
=====================  ===================  ============  ==============  ============
real difference, A<B   holds                contradicted  contradicted    holds
real difference, A>B   contradicted         holds         contradicted    contradicted
within noise           contradicted         contradicted  holds           holds
inconclusive           inconclusive         inconclusive  inconclusive    inconclusive
=====================  ===================  ============  ==============  ============

"within noise" means the 90% interval lies inside +-``min_effect`` (default 5% of B's mean): two
one-sided tests show the difference smaller than that, so a predicted difference at least that
large is refuted.

A claim whose factor the study did not vary (a side none of whose levels has a trial under ``where``) is a
``ValueError`` naming the levels the study has; :func:`evaluate` with ``skip_untestable`` lists such
claims as ``not tested`` instead.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from repro.errors import InputError
from repro.stats import compare_seeds
from repro.study import space

FACTORS = (*space.FACTORS, "flags", "variant", "setting")
EXPECTS = ("lower", "higher", "similar", "not_higher")
AGGREGATES = ("median", "min")
OUTCOMES = ("holds", "contradicted", "inconclusive")
_KEYS = {"id", "text", "source", "factor", "a", "b", "where", "expect", "aggregate"}


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    source: str
    factor: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    expect: str
    where: Mapping[str, str] = field(default_factory=dict)
    aggregate: str = "median"


def _levels(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return tuple(str(v) for v in items)


def parse(doc: Any, origin: str = "claims") -> list[Claim]:
    """Claims from a parsed YAML document; any malformed entry is a ``ValueError`` naming it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list) or not doc["claims"]:
        raise InputError(f"{origin}: expected a mapping with a non-empty list 'claims:'")
    out, seen = [], set()
    for i, c in enumerate(doc["claims"]):
        where = f"{origin}: claim {i + 1}" + (f" ({c.get('id')})" if isinstance(c, dict) and c.get("id") else "")
        if not isinstance(c, dict):
            raise InputError(f"{where}: expected a mapping")
        missing = sorted({"id", "text", "source", "factor", "a", "b", "expect"} - set(c))
        unknown = sorted(set(c) - _KEYS)
        if missing or unknown:
            raise InputError(f"{where}: " + "; ".join(
                ([f"missing key(s) {', '.join(missing)}"] if missing else [])
                + ([f"unknown key(s) {', '.join(unknown)}"] if unknown else []))
                + f" (keys: {', '.join(sorted(_KEYS))})")
        if c["factor"] not in FACTORS:
            raise InputError(f"{where}: unknown factor {c['factor']!r}; valid factors: {', '.join(FACTORS)}")
        if c["expect"] not in EXPECTS:
            raise InputError(f"{where}: unknown expect {c['expect']!r}; valid: {', '.join(EXPECTS)}")
        agg = c.get("aggregate", "median")
        if agg not in AGGREGATES:
            raise InputError(f"{where}: unknown aggregate {agg!r}; valid: {', '.join(AGGREGATES)}")
        cond = c.get("where") or {}
        if not isinstance(cond, dict) or any(k not in FACTORS for k in cond):
            raise InputError(f"{where}: 'where' must map factors ({', '.join(FACTORS)}) to levels")
        if c["id"] in seen:
            raise InputError(f"{where}: duplicate id {c['id']!r}")
        seen.add(c["id"])
        out.append(Claim(str(c["id"]), str(c["text"]), str(c["source"]), c["factor"], _levels(c["a"]),
                         _levels(c["b"]), c["expect"], {k: str(v) for k, v in cond.items()}, agg))
    return out


def load(path: str | Path) -> list[Claim]:
    import yaml

    path = Path(path)
    if not path.exists():
        raise InputError(f"claims file {path} does not exist (the paper's claims: claims/kurach2019.yaml)")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    return parse(doc, str(path))


def _value(trial: Mapping[str, Any], factor: str) -> str:
    v = trial.get(factor)
    return "-" if v is None else str(v)


def _side(trials: list[Mapping[str, Any]], claim: Claim, levels: tuple[str, ...]) -> list[Mapping[str, Any]]:
    return [t for t in trials if _value(t, claim.factor) in levels
            and all(_value(t, k) == v for k, v in claim.where.items())]


def untestable(claim: Claim, trials: list[Mapping[str, Any]]) -> str:
    """Why ``claim`` cannot be tested on ``trials`` ("" when it can)."""
    base = [t for t in trials if all(_value(t, k) == v for k, v in claim.where.items())]
    present = sorted({_value(t, claim.factor) for t in base})
    absent = [side for side in (claim.a, claim.b) if not any(lv in present for lv in side)]
    if not absent:
        return ""
    absent = [" or ".join(side) for side in absent]
    scope = f" where {', '.join(f'{k}={v}' for k, v in claim.where.items())}" if claim.where else ""
    return (f"claim {claim.id!r} needs {claim.factor}={' and '.join(absent)}, which the study did not train{scope}; "
            f"levels of {claim.factor} in the study{scope}: {', '.join(present) or '(no trial matches)'}")


def per_seed(side: list[Mapping[str, Any]], aggregate: str) -> dict[int, float]:
    """Seed -> the aggregate over ``side``'s trials of that seed's score (seeds without one left out)."""
    by_seed: dict[int, list[float]] = {}
    for t in side:
        for seed, score in zip(t["seeds"], t["scores"]):
            if score is not None:
                by_seed.setdefault(int(seed), []).append(float(score))
    fn = statistics.median if aggregate == "median" else min
    return {s: fn(v) for s, v in sorted(by_seed.items())}


def outcome(expect: str, verdict: str, diff: float | None) -> str:
    """The claim's outcome from compare_seeds' verdict (table in the module doc)."""
    if verdict == "inconclusive":
        return "inconclusive"
    if verdict == "within noise":
        return "holds" if expect in ("similar", "not_higher") else "contradicted"
    lower = diff is not None and diff < 0
    if expect in ("lower", "not_higher"):
        return "holds" if lower else "contradicted"
    if expect == "higher":
        return "contradicted" if lower else "holds"
    return "contradicted"  # similar, but a real difference


@dataclass(frozen=True)
class Verdict:
    id: str
    text: str
    source: str
    expect: str
    outcome: str  # holds | contradicted | inconclusive | not tested
    comparison: dict | None  # repro.stats.Comparison.to_dict()
    seeds_a: list[int]
    seeds_b: list[int]
    fid_a: list[float]
    fid_b: list[float]
    trials_a: int
    trials_b: int
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_claim(claim: Claim, trials: list[Mapping[str, Any]], *, min_effect: float | None = None) -> Verdict:
    why = untestable(claim, trials)
    if why:
        raise InputError(why)
    side_a, side_b = _side(trials, claim, claim.a), _side(trials, claim, claim.b)
    obs_a, obs_b = per_seed(side_a, claim.aggregate), per_seed(side_b, claim.aggregate)
    c = compare_seeds(list(obs_a.values()), list(obs_b.values()), variant=f"{claim.factor}={'|'.join(claim.a)}",
                      baseline_variant=f"{claim.factor}={'|'.join(claim.b)}", min_effect=min_effect)
    result = outcome(claim.expect, c.verdict, c.effect)  # the direction of the verdict's basis (Welch or rank)
    return Verdict(claim.id, claim.text, claim.source, claim.expect, result, c.to_dict(), list(obs_a),
                   list(obs_b), list(obs_a.values()), list(obs_b.values()), len(side_a), len(side_b),
                   f"{c.verdict}: {c.reason}")


def evaluate(claims: list[Claim], trials: list[Mapping[str, Any]], *, min_effect: float | None = None,
             skip_untestable: bool = False) -> list[Verdict]:
    """Every claim's verdict. Untestable claims raise, or with ``skip_untestable`` are ``not tested``."""
    out = []
    for claim in claims:
        why = untestable(claim, trials)
        if why and skip_untestable:
            out.append(Verdict(claim.id, claim.text, claim.source, claim.expect, "not tested", None, [], [], [], [],
                               0, 0, why))
            continue
        out.append(evaluate_claim(claim, trials, min_effect=min_effect))
    return out


__all__ = ["FACTORS", "EXPECTS", "AGGREGATES", "OUTCOMES", "Claim", "Verdict", "parse", "load", "untestable",
           "per_seed", "outcome", "evaluate_claim", "evaluate"]
