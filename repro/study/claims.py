"""A paper's conclusions as data, checked on a study's results with :func:`repro.stats.compare_seeds`.

A claims file (YAML) holds ``claims:``, a list of::

    id: sn-beats-none-resnet19        # unique
    text: spectral normalization beats no normalization or penalty (ResNet19)
    source: Kurach et al. 2019, Section 3.1, Figure 1       # where the paper makes it
    quote: "We observe that both gradient penalty (GP) and ..."  # optional: the sentence tested, verbatim
    note: ...                         # optional: how the claim reads the quote, what is left open
    paper: {architectures: [resnet19], datasets: [celeba_hq_128, lsun_bedroom]}  # optional: what the paper ran
    factor: treatment                 # what differs between the two sides (see FACTORS)
    a: sn                             # level (or list of levels) of side A
    b: none                           # level(s) of side B
    where: {architecture: resnet19, loss: ns}   # optional: both sides also match these (a value may be
                                      # a glob, or a list of globs: any matches)
    expect: lower                     # A's statistic vs B's: lower | higher | similar | not_higher | not_lower
    statistic: top5                   # optional (default top5): repro.study.seedstats.STATISTICS
    threshold: auto                   # settings_to_threshold only: an FID, or auto

``treatment`` is the discriminator's normalization and penalty together, named as the paper's
figures name them: ``none`` (neither, "W/O"), a normalization (``bn``, ``ln``, ``sn``), a penalty
(``gp``, ``dragan``, ``l2``), or both joined by ``+`` (``sn+gp``, Figure 4).

Evidence (seeds are the unit: docs/statistics.md, "Seeds are the unit of evidence"): for each seed of
the study, a side's observation is the claim's ``statistic`` (:mod:`repro.study.seedstats`) of that
seed's FIDs over the side's trials (its hyperparameter settings; a diverged run scores the study's
worst FID, :mod:`repro.study.results`; trials with the same configuration are counted once). The
two sides' per-seed observations go to :func:`repro.stats.compare_seeds` (Welch interval of the
difference A - B, or the rank-based comparison when the per-seed values are bimodal or strongly
skewed; seeds needed), and its verdict maps onto the claim (the direction of a real difference is
that of the verdict's basis, ``Comparison.effect``):

=====================  ============  ============  ============  ============  ============
compare_seeds verdict  lower         higher        similar       not_higher    not_lower
=====================  ============  ============  ============  ============  ============
real difference, A<B   holds         contradicted  contradicted  holds         contradicted
real difference, A>B   contradicted  holds         contradicted  contradicted  holds
within noise           contradicted  contradicted  holds         holds         holds
inconclusive           inconclusive  inconclusive  inconclusive  inconclusive  inconclusive
=====================  ============  ============  ============  ============  ============

"within noise" means the 90% interval lies inside +-``min_effect`` (default 5% of B's mean
statistic): two one-sided tests show the difference smaller than that, so a predicted difference
at least that large is refuted. A
``--min-effect`` given in FID units applies to the statistics in FID units only
(``seedstats.FID_UNITS``); a spread or a settings count keeps the 5% default.

Stand-ins: ``evaluate(..., stand_ins={"resnet19": "resnet"})`` tests a claim the paper made on one
architecture on another (a cheaper one), and every such verdict says so in its ``caveats``; so does
a verdict on an architecture outside the claim's ``paper.architectures``.

A claim the study cannot test (a side none of whose levels has a trial under ``where``, or too few
settings for its statistic) is an ``InputError`` naming what the study has; :func:`evaluate` with
``skip_untestable`` lists it as ``not tested`` instead.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from repro.choices import ARCHITECTURES
from repro.errors import InputError
from repro.stats import compare_seeds
from repro.study import seedstats, space

FACTORS = (*space.FACTORS, "treatment", "flags", "n_dis", "variant", "setting")
EXPECTS = ("lower", "higher", "similar", "not_higher", "not_lower")
STATISTICS = seedstats.STATISTICS
OUTCOMES = ("holds", "contradicted", "inconclusive")
_KEYS = {"id", "text", "source", "quote", "note", "paper", "factor", "a", "b", "where", "expect", "statistic",
         "aggregate", "threshold"}
_CONFIG_KEY = (*space.FACTORS, "flags", "lr", "penalty_weight", "beta1", "beta2", "n_dis")


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    source: str
    factor: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    expect: str
    where: Mapping[str, Any] = field(default_factory=dict)  # factor -> glob, or tuple of globs
    statistic: str = "top5"
    threshold: float | None = None  # settings_to_threshold: None = auto
    quote: str = ""
    note: str = ""
    paper_architectures: tuple[str, ...] = ()


def _levels(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return tuple(str(v) for v in items)


def _where(cond: Any, where: str) -> dict[str, Any]:
    if not isinstance(cond, dict) or any(k not in FACTORS for k in cond):
        raise InputError(f"{where}: 'where' must map factors ({', '.join(FACTORS)}) to levels")
    return {k: (_levels(v) if isinstance(v, (list, tuple)) else str(v)) for k, v in cond.items()}


def _threshold(c: dict, statistic: str, where: str) -> float | None:
    value = c.get("threshold", "auto")
    if "threshold" in c and statistic != "settings_to_threshold":
        raise InputError(f"{where}: 'threshold' belongs to statistic settings_to_threshold")
    if value == "auto":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: threshold must be an FID or 'auto', got {value!r}") from None


def parse(doc: Any, origin: str = "claims") -> list[Claim]:
    """Claims from a parsed YAML document; any malformed entry is an ``InputError`` naming it."""
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
        if "statistic" in c and "aggregate" in c:
            raise InputError(f"{where}: give 'statistic' (or its old name 'aggregate'), not both")
        stat = c.get("statistic", c.get("aggregate", "top5"))
        if stat not in STATISTICS:
            raise InputError(f"{where}: unknown statistic {stat!r}; valid: {', '.join(STATISTICS)}")
        paper = c.get("paper") or {}
        if not isinstance(paper, dict) or set(paper) - {"architectures", "datasets"}:
            raise InputError(f"{where}: 'paper' maps architectures and datasets to lists")
        if c["id"] in seen:
            raise InputError(f"{where}: duplicate id {c['id']!r}")
        seen.add(c["id"])
        out.append(Claim(str(c["id"]), str(c["text"]), str(c["source"]), c["factor"], _levels(c["a"]),
                         _levels(c["b"]), c["expect"], _where(c.get("where") or {}, where), stat,
                         _threshold(c, stat, where), str(c.get("quote") or "").strip(),
                         str(c.get("note") or "").strip(), _levels(paper.get("architectures") or ())))
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


def treatment(trial: Mapping[str, Any]) -> str:
    """The discriminator's normalization and penalty as the paper's figures name them."""
    norm, pen = str(trial.get("d_norm") or "none"), str(trial.get("penalty") or "none")
    if pen == "none":
        return norm
    return pen if norm == "none" else f"{norm}+{pen}"


def _value(trial: Mapping[str, Any], factor: str) -> str:
    if factor == "treatment":
        return treatment(trial)
    v = trial.get(factor)
    return "-" if v is None else str(v)


def _matches(trial: Mapping[str, Any], cond: Mapping[str, Any]) -> bool:
    for k, pattern in cond.items():
        globs = pattern if isinstance(pattern, tuple) else (pattern,)
        if not any(fnmatch.fnmatchcase(_value(trial, k), g) for g in globs):
            return False
    return True


def _side(trials: list[Mapping[str, Any]], claim: Claim, levels: tuple[str, ...]) -> list[Mapping[str, Any]]:
    """The side's trials, each configuration once (two presets trained with one setting are one model)."""
    out, seen = [], set()
    for t in trials:
        if _value(t, claim.factor) in levels and _matches(t, claim.where):
            key = (t.get("setting"), *(_value(t, k) for k in _CONFIG_KEY))
            if key not in seen:
                seen.add(key)
                out.append(t)
    return out


def _scope(claim: Claim) -> str:
    def show(v: Any) -> str:
        return "|".join(v) if isinstance(v, tuple) else str(v)

    return f" where {', '.join(f'{k}={show(v)}' for k, v in claim.where.items())}" if claim.where else ""


def per_seed(side: list[Mapping[str, Any]], statistic: str = "top5", *,
             threshold: float | None = None) -> dict[int, float]:
    """Seed -> ``statistic`` of that seed's scores over ``side``'s trials (seeds without one left out)."""
    by_seed = _scores(side)
    return {s: seedstats.statistic(v, statistic, threshold=threshold) for s, v in sorted(by_seed.items())}


def _scores(side: list[Mapping[str, Any]]) -> dict[int, list[float]]:
    by_seed: dict[int, list[float]] = {}
    for t in side:
        for seed, score in zip(t["seeds"], t["scores"]):
            if score is not None:
                by_seed.setdefault(int(seed), []).append(float(score))
    return by_seed


def untestable(claim: Claim, trials: list[Mapping[str, Any]]) -> str:
    """Why ``claim`` cannot be tested on ``trials`` ("" when it can)."""
    base = [t for t in trials if _matches(t, claim.where)]
    present = sorted({_value(t, claim.factor) for t in base})
    absent = [side for side in (claim.a, claim.b) if not any(lv in present for lv in side)]
    scope = _scope(claim)
    if absent:
        absent = [" or ".join(side) for side in absent]
        return (f"claim {claim.id!r} needs {claim.factor}={' and '.join(absent)}, which the study did not train"
                f"{scope}; levels of {claim.factor} in the study{scope}: {', '.join(present) or '(no trial matches)'}")
    need = seedstats.min_settings(claim.statistic)
    for name, levels in (("A", claim.a), ("B", claim.b)):
        counts = [len(v) for v in _scores(_side(trials, claim, levels)).values()]
        if need > 1 and (not counts or min(counts) < need):
            return (f"claim {claim.id!r}: statistic {claim.statistic} needs at least {need} settings per seed on "
                    f"each side; side {name} ({claim.factor}={'|'.join(levels)}{scope}) has "
                    f"{min(counts) if counts else 0}")
    return ""


def outcome(expect: str, verdict: str, diff: float | None) -> str:
    """The claim's outcome from compare_seeds' verdict (table in the module doc)."""
    if verdict == "inconclusive":
        return "inconclusive"
    if verdict == "within noise":
        return "holds" if expect in ("similar", "not_higher", "not_lower") else "contradicted"
    lower = diff is not None and diff < 0
    if expect in ("lower", "not_higher"):
        return "holds" if lower else "contradicted"
    if expect in ("higher", "not_lower"):
        return "contradicted" if lower else "holds"
    return "contradicted"  # similar, but a real difference


def stand_in(claim: Claim, stand_ins: Mapping[str, str] | None = None) -> tuple[Claim, list[str]]:
    """``claim`` with stand-in architectures put in, and the caveats that say so."""
    caveats: list[str] = []
    subs = dict(stand_ins or {})
    where = dict(claim.where)
    a, b = claim.a, claim.b
    arch = where.get("architecture")
    if isinstance(arch, str) and arch in subs:
        where["architecture"] = subs[arch]
        caveats.append(f"tested on architecture {subs[arch]}, a stand-in for the paper's {arch}")
    if claim.factor == "architecture":
        swapped = {lv: subs[lv] for lv in (*a, *b) if lv in subs}
        if swapped:
            a = tuple(subs.get(lv, lv) for lv in a)
            b = tuple(subs.get(lv, lv) for lv in b)
            caveats += [f"tested on architecture {new}, a stand-in for the paper's {old}" for old, new in swapped.items()]
    if claim.paper_architectures:
        used = (*a, *b) if claim.factor == "architecture" else ((where["architecture"],) if isinstance(
            where.get("architecture"), str) else ())
        others = [x for x in used if x not in claim.paper_architectures]
        if others and not caveats:
            caveats.append(f"tested on architecture {', '.join(others)}, which the paper did not use for this claim "
                           f"(it used {', '.join(claim.paper_architectures)})")
    return dataclasses.replace(claim, where=where, a=a, b=b), caveats


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
    value_a: list[float]  # the statistic, per seed
    value_b: list[float]
    trials_a: int
    trials_b: int
    reason: str
    statistic: str = "top5"
    statistic_text: str = ""
    threshold: float | None = None
    quote: str = ""
    caveats: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _untested(claim: Claim, why: str, caveats: list[str]) -> Verdict:
    return Verdict(claim.id, claim.text, claim.source, claim.expect, "not tested", None, [], [], [], [], 0, 0, why,
                   claim.statistic, seedstats.DESCRIPTIONS[claim.statistic], claim.threshold, claim.quote, caveats)


def evaluate_claim(claim: Claim, trials: list[Mapping[str, Any]], *, min_effect: float | None = None,
                   stand_ins: Mapping[str, str] | None = None) -> Verdict:
    claim, caveats = stand_in(claim, stand_ins)
    why = untestable(claim, trials)
    if why:
        raise InputError(why)
    side_a, side_b = _side(trials, claim, claim.a), _side(trials, claim, claim.b)
    threshold, extra = claim.threshold, ""
    if claim.statistic == "settings_to_threshold" and threshold is None:
        threshold = seedstats.auto_threshold(list(per_seed(side_a, "min").values()),
                                             list(per_seed(side_b, "min").values()))
    obs_a = per_seed(side_a, claim.statistic, threshold=threshold)
    obs_b = per_seed(side_b, claim.statistic, threshold=threshold)
    if claim.statistic == "settings_to_threshold":
        censored = [sum(obs[s] > len(scores[s]) for s in obs)
                    for obs, scores in ((obs_a, _scores(side_a)), (obs_b, _scores(side_b)))]
        extra = (f"; threshold FID {threshold:.4g}"
                 + (f"; seeds that never reached it (counted as n + 1 settings): {censored[0]} A, {censored[1]} B"
                    if any(censored) else ""))
    effect = min_effect if claim.statistic in seedstats.FID_UNITS else None
    c = compare_seeds(list(obs_a.values()), list(obs_b.values()), variant=f"{claim.factor}={'|'.join(claim.a)}",
                      baseline_variant=f"{claim.factor}={'|'.join(claim.b)}", min_effect=effect)
    return Verdict(claim.id, claim.text, claim.source, claim.expect, outcome(claim.expect, c.verdict, c.effect),
                   c.to_dict(), list(obs_a), list(obs_b), list(obs_a.values()), list(obs_b.values()), len(side_a),
                   len(side_b), f"{c.verdict}: {c.reason}{extra}", claim.statistic,
                   seedstats.DESCRIPTIONS[claim.statistic], threshold, claim.quote, caveats)


def evaluate(claims: list[Claim], trials: list[Mapping[str, Any]], *, min_effect: float | None = None,
             skip_untestable: bool = False, stand_ins: Mapping[str, str] | None = None) -> list[Verdict]:
    """Every claim's verdict. Untestable claims raise, or with ``skip_untestable`` are ``not tested``."""
    out = []
    for claim in claims:
        effective, caveats = stand_in(claim, stand_ins)
        why = untestable(effective, trials)
        if why and skip_untestable:
            out.append(_untested(claim, why, caveats))
            continue
        out.append(evaluate_claim(claim, trials, min_effect=min_effect, stand_ins=stand_ins))
    return out


def parse_stand_ins(items: list[str]) -> dict[str, str]:
    """``["resnet19=resnet"]`` -> ``{"resnet19": "resnet"}``; each side must be an architecture."""
    out = {}
    for item in items:
        paper, _, used = item.partition("=")
        if not used or paper not in ARCHITECTURES or used not in ARCHITECTURES:
            raise InputError(f"invalid --stand-in {item!r}: expected PAPER_ARCH=USED_ARCH with architectures from "
                             f"{', '.join(ARCHITECTURES)}, e.g. resnet19=resnet")
        out[paper] = used
    return out


__all__ = ["FACTORS", "EXPECTS", "STATISTICS", "OUTCOMES", "Claim", "Verdict", "parse", "load", "treatment",
           "untestable", "per_seed", "outcome", "stand_in", "evaluate_claim", "evaluate", "parse_stand_ins"]
