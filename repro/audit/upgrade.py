"""Read an older audit report as a current one (``repro report --upgrade``).

``repro.audit/2`` -> ``/3``: the same measurements; the new fields take their defaults (no
per-checkpoint scores, no worker PIDs, settings without channels or isolation). Nothing is
re-analysed.

``repro.audit/1`` held every run's measurements (final FID, hashes, pairs, timings) but judged
them with an old rule (a noise band and a per-run t-test that disagreed, and counted bit-identical
copies as evidence). Its noise, selection effect and verdict are recomputed from the same run
rows with :mod:`repro.audit.variance`. What v1 did not store stays unknown: per-evaluation-seed
FIDs (so each run has one value and the nondeterminism component contains the evaluation noise,
as the decomposition's notes say) and the bootstrap standard deviation. Either way the upgraded
report records ``upgraded_from``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from repro.audit import schema, variance
from repro.audit.plan import AuditPlan
from repro.audit.schema import Report, RunRow
from repro.config import to_dict
from repro.errors import InputError
from repro.gan.presets import config_for

UPGRADABLE = ("repro.audit/1", "repro.audit/2")


def upgrade(old: Any, source: str = "report") -> Report:
    """A current report from an older one (the input is not modified)."""
    version = old.get("schema") if isinstance(old, dict) else None
    if version not in UPGRADABLE:
        raise InputError(f"{source} has schema {version!r}; --upgrade reads {', '.join(UPGRADABLE)}")
    return _from_v2(old, source) if version == "repro.audit/2" else _from_v1(old, source)


def _settings(s: dict[str, Any], plan: AuditPlan) -> dict[str, Any]:
    """v1/v2 settings with what v3 added: the run fields older reports kept only in their
    overrides, read from the config the variant's runs were built with (preset + overrides)."""
    overrides = s.get("overrides") or {}
    cfg = to_dict(config_for(plan.variant, **{k: v for k, v in overrides.items() if k not in ("seed", "mode")}))
    out = {**s, "seeds": plan.seeds}
    for key in ("resolution", "width", "batch_size", "channels", "trace_every", "checkpoint_every", "steps",
                "dataset"):
        out.setdefault(key, cfg[key])
    for key, default in (("cost_pairs", 0), ("min_effect", None), ("per_seed", "deterministic"), ("runs_dir", ""),
                         ("eval_seeds", 1)):
        out.setdefault(key, default)
    return out


def _from_v2(old: dict[str, Any], source: str) -> Report:
    plan = AuditPlan.from_dict({k: v for k, v in old["plan"].items() if k != "id"})
    new = {**old, "schema": schema.REPORT_SCHEMA, "settings": _settings(old["settings"], plan),
           # a v2 report upgraded from v1 has pairs without the evidence sentence
           "pairs": [{"evidence": "not recorded (report upgraded from repro.audit/1)", **p} for p in old["pairs"]],
           "upgraded_from": old.get("upgraded_from") or {"schema": old["schema"], "created": old.get("created")}}
    return schema.report_from_dict(new, f"{source} upgraded")


def _from_v1(old: dict[str, Any], source: str) -> Report:
    s = old["settings"]
    plan = AuditPlan(s["variant"], s["baseline_variant"], int(s["replicates"]), int(s["seed"]),
                     tuple(int(x) for x in s.get("extra_seeds", [])), tuple(s.get("perturb", [])))
    row_fields = {f.name for f in dataclasses.fields(RunRow)}
    unknown = ("steps_completed", "diverged_step", "median_step_time_s", "wall_time_s", "fid_eval_values",
               "fid_eval_std", "fid_ci_low", "fid_ci_high", "fid_boot_std", "threads", "device")
    runs = [schema.from_dict(RunRow, {**dict.fromkeys(unknown), **{k: v for k, v in r.items() if k in row_fields}},
                             f"{source} runs")
            for r in old["runs"]]
    per_seed = "deterministic"
    new = {k: v for k, v in old.items() if k not in ("schema", "comparison", "variance", "runs", "cost")}
    new.update({
        "schema": schema.REPORT_SCHEMA,
        "plan": {**plan.to_dict(), "id": plan.id},
        "settings": {**_settings(s, plan), "per_seed": per_seed, "min_effect": None},
        "runs": schema.to_dict(runs),
        "variance": {v: schema.to_dict(variance.decompose(runs, v, per_seed=per_seed, main_seed=plan.seed))
                     for v in plan.variants},
        "comparison": schema.to_dict(variance.compare(runs, plan.variant, plan.baseline_variant, per_seed=per_seed)),
        # v1 had no interleaved timing, and may lack the per-mode medians
        "cost": {v: {"det_median_step_s": None, "nondet_median_step_s": None, **c, "interleaved": None}
                 for v, c in old["cost"].items()},
        "upgraded_from": {"schema": "repro.audit/1", "created": old.get("created"),
                          "comparison": old.get("comparison"),
                          "missing": "per-evaluation-seed FIDs and bootstrap standard deviations were not stored"},
    })
    new.setdefault("fingerprint_summary", {})
    new.setdefault("command", "unknown")
    new.setdefault("commit", None)
    return schema.report_from_dict(new, f"{source} upgraded")
