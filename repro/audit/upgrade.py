"""Re-analyse a ``repro.audit/1`` report under the current rules (``repro report --upgrade``).

A v1 report holds every run's measurements (final FID, hashes, pairs, timings) but judged them
with the old rule (a noise band and a per-run t-test that disagreed, and counted bit-identical
copies as evidence). This rebuilds the plan from its settings and recomputes the noise, the
selection effect and the verdict from the same run rows with :mod:`repro.audit.variance`. What v1
did not store stays unknown: per-evaluation-seed FIDs (so each run has one value and the
nondeterminism component contains the evaluation noise, as the decomposition's notes say) and
the bootstrap standard deviation; the upgraded report records ``upgraded_from``.
"""

from __future__ import annotations

from typing import Any

from repro.audit import schema, variance
from repro.audit.plan import AuditPlan
from repro.errors import InputError


def upgrade_v1(old: dict[str, Any], source: str = "report") -> dict[str, Any]:
    """A ``repro.audit/2`` report from a ``repro.audit/1`` one (the input is not modified)."""
    if not isinstance(old, dict) or old.get("schema") != "repro.audit/1":
        raise InputError(f"{source} is not a repro.audit/1 report (schema {old.get('schema') if isinstance(old, dict) else None!r})")
    s = old["settings"]
    plan = AuditPlan(s["variant"], s["baseline_variant"], int(s["replicates"]), int(s["seed"]),
                     tuple(int(x) for x in s.get("extra_seeds", [])), tuple(s.get("perturb", [])))
    row_keys = [f.name for f in schema.dataclasses.fields(schema.RunRow)]
    runs = [{**{k: None for k in row_keys}, **r} for r in old["runs"]]
    per_seed = "deterministic"
    new = {k: v for k, v in old.items() if k not in ("schema", "comparison", "variance", "runs")}
    new.update({
        "schema": schema.REPORT_SCHEMA,
        "plan": {**plan.to_dict(), "id": plan.id},
        "settings": {**s, "seeds": plan.seeds, "per_seed": per_seed, "min_effect": None,
                     **{k: s.get("overrides", {}).get(k) for k in ("resolution", "width", "batch_size")
                        if k not in s and k in s.get("overrides", {})}},
        "runs": runs,
        "variance": {v: variance.decompose(runs, v, per_seed=per_seed, main_seed=plan.seed) for v in plan.variants},
        "comparison": variance.compare(runs, plan.variant, plan.baseline_variant, per_seed=per_seed),
        "upgraded_from": {"schema": "repro.audit/1", "created": old.get("created"),
                          "comparison": old.get("comparison"),
                          "missing": "per-evaluation-seed FIDs and bootstrap standard deviations were not stored"},
    })
    new["cost"] = {v: {"interleaved": None, **c} for v, c in old["cost"].items()}  # v1 had no interleaved timing
    new.setdefault("fingerprint_summary", {})
    new.setdefault("command", "unknown")
    new.setdefault("commit", None)
    return schema.validate_report(new, f"{source} upgraded")
