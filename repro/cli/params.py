"""repro params: check the pipeline's params.yaml in seconds, and give ``repro audit`` its options.

``repro params check params.yaml`` is the first stage of ``pipelines/dvc.yaml``: a bad value
(``steps`` below ``checkpoint_every``, an unknown variant, a misspelt key) fails there, before
any run trains, with every problem in one line. ``repro params args params.yaml`` prints the
options of ``repro audit`` that the parameters set (DVC cannot put a list such as
``audit.extra_seeds`` into a command), so the audit stage and the training matrix read the same
values from one file.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from repro.errors import InputError

# the fields of the `audit:` section, each with the rule `check` applies (also written in params.yaml)
AUDIT_FIELDS = {
    "variant": "a preset name (repro variants)",
    "baseline_variant": "a preset name other than variant",
    "dataset": "a dataset name (repro data list)",
    "seed": "an integer >= 0",
    "extra_seeds": "a list of distinct integers >= 0 without seed",
    "steps": "an integer >= checkpoint_every",
    "checkpoint_every": "an integer >= 1",
    "batch_size": "an integer >= 1",
    "eval_seeds": "an integer >= 1",
}
TOP_LEVEL = ("audit", "variants", "modes", "replicates")
OTHER_PIPELINES = ("study",)  # read by pipelines/study/dvc.yaml; `repro study` checks its own values
REPLICATES = 2  # the pipeline trains replicates 0 and 1 per mode; the audit compares them
PERTURB = ("threads",)


def add_parser(sub) -> None:
    p = sub.add_parser("params", help="check the pipeline's params.yaml; print the audit options it sets",
                       description="Check params.yaml of the DVC pipeline (pipelines/dvc.yaml) before anything "
                                   "trains, or print the `repro audit` options it sets.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    actions.required = True
    c = actions.add_parser("check", help="check every field; exit 2 with one line naming each problem")
    c.add_argument("params", nargs="?", default="params.yaml", help="the parameters file (default params.yaml)")
    c.add_argument("--out", default=None, metavar="JSON",
                   help="also write the checked parameters, the planned run ids and the audit options here")
    c.set_defaults(func=run_check)
    a = actions.add_parser("args", help="print the `repro audit` options the parameters set, shell-quoted")
    a.add_argument("params", nargs="?", default="params.yaml", help="the parameters file (default params.yaml)")
    a.set_defaults(func=run_args)


def load(path: str | Path) -> dict[str, Any]:
    """The parsed YAML mapping of ``path``; a missing file or bad YAML is a ``ValueError``/``OSError``."""
    import yaml  # PyYAML, a dependency of mlflow

    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} must be a mapping with the keys {', '.join(TOP_LEVEL)}")
    return data


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def problems(params: dict[str, Any]) -> list[str]:
    """Every violated rule of ``params`` (the structure of params.yaml), as short phrases; [] when valid.

    Beyond the rules in :data:`AUDIT_FIELDS`, the run matrix must be the audit's plan:
    ``variants == [variant, baseline_variant]``, ``modes == [deterministic, nondeterministic]``,
    ``replicates == [0, 1]``; and every training config the plan makes must validate.
    """
    from repro.config import MODES

    out = []
    unknown = sorted(set(params) - set(TOP_LEVEL) - set(OTHER_PIPELINES))
    if unknown:
        out.append(f"unknown top-level key(s) {', '.join(unknown)} (valid: {', '.join(TOP_LEVEL + OTHER_PIPELINES)})")
    audit = params.get("audit")
    if not isinstance(audit, dict):
        return out + [f"audit must be a mapping with the keys {', '.join(AUDIT_FIELDS)}"]
    unknown = sorted(set(audit) - set(AUDIT_FIELDS))
    if unknown:
        out.append(f"unknown key(s) audit.{', audit.'.join(unknown)} (valid: {', '.join(AUDIT_FIELDS)})")
    missing = [k for k in AUDIT_FIELDS if k not in audit]
    if missing:
        out.append(f"missing audit.{', audit.'.join(missing)}")
    for key in ("seed",):
        if key in audit and not (_is_int(audit[key]) and audit[key] >= 0):
            out.append(f"audit.{key}={audit[key]!r} must be {AUDIT_FIELDS[key]}")
    for key in ("steps", "checkpoint_every", "batch_size", "eval_seeds"):
        if key in audit and not (_is_int(audit[key]) and audit[key] >= 1):
            out.append(f"audit.{key}={audit[key]!r} must be an integer >= 1")
    steps, every = audit.get("steps"), audit.get("checkpoint_every")
    if _is_int(steps) and _is_int(every) and 1 <= steps < every:
        out.append(f"audit.steps={steps} is below audit.checkpoint_every={every}: the audit compares and "
                   "evaluates checkpoints, so steps must be at least checkpoint_every")
    extra = audit.get("extra_seeds")
    if "extra_seeds" in audit:
        if not (isinstance(extra, list) and all(_is_int(s) and s >= 0 for s in extra)):
            out.append(f"audit.extra_seeds={extra!r} must be {AUDIT_FIELDS['extra_seeds']}")
        elif len(set(extra)) != len(extra) or audit.get("seed") in extra:
            out.append(f"audit.extra_seeds={extra!r} must be distinct and must not repeat audit.seed="
                       f"{audit.get('seed')!r} (each seed is one independent observation)")
    variant, baseline = audit.get("variant"), audit.get("baseline_variant")
    if variant is not None and variant == baseline:
        out.append(f"audit.baseline_variant={baseline!r} must differ from audit.variant")
    want = {"variants": [variant, baseline], "modes": list(MODES), "replicates": list(range(REPLICATES))}
    for key, value in want.items():
        if key in params and params[key] != value:
            out.append(f"{key}={params[key]!r} must be {value!r} (the audit's plan: the pipeline trains exactly "
                       "the runs `repro audit` reads)")
        elif key not in params:
            out.append(f"missing {key} (must be {value!r})")
    if not out:
        out += _config_problems(audit)
    return out


def _config_problems(audit: dict[str, Any]) -> list[str]:
    """Build every planned run's TrainConfig (what `repro train` and `repro audit` will build)."""
    try:
        for spec in plan_of(audit):
            spec.config(_overrides(audit))
    except ValueError as exc:
        return [str(exc)]
    return []


def _overrides(audit: dict[str, Any]) -> dict[str, Any]:
    return {"dataset": audit["dataset"], "steps": audit["steps"], "checkpoint_every": audit["checkpoint_every"],
            "batch_size": audit["batch_size"]}


def plan_of(audit: dict[str, Any]):
    """The audit's runs (``repro.audit.plan.plan``) for the ``audit:`` section of params.yaml."""
    from repro.audit.plan import plan

    return plan(audit["variant"], audit["baseline_variant"], replicates=REPLICATES, seed=audit["seed"],
                extra_seeds=tuple(audit["extra_seeds"]), perturb=PERTURB)


def audit_args(audit: dict[str, Any]) -> list[str]:
    """The options of ``repro audit`` that the ``audit:`` section sets (the audit stage adds the rest)."""
    return ["--variant", audit["variant"], "--baseline-variant", audit["baseline_variant"],
            "--dataset", audit["dataset"], "--seed", str(audit["seed"]),
            "--seeds", *map(str, audit["extra_seeds"]), "--replicates", str(REPLICATES),
            *(x for p in PERTURB for x in ("--perturb", p)),
            "--steps", str(audit["steps"]), "--set", f"checkpoint_every={audit['checkpoint_every']}",
            "--set", f"batch_size={audit['batch_size']}", "--eval-seeds", str(audit["eval_seeds"])]


def checked(path: str | Path) -> dict[str, Any]:
    """Load and check ``path``; raise one ``ValueError`` naming every problem."""
    params = load(path)
    found = problems(params)
    if found:
        raise InputError(f"{path}: " + "; ".join(found))
    return params


def run_check(args) -> int:
    from repro import io

    params = checked(args.params)
    runs = [s.id for s in plan_of(params["audit"])]
    if args.out:
        io.write_json(io.check_output_file(Path(args.out), "params check"),
                      {"params": params, "runs": runs, "audit_args": audit_args(params["audit"])})
    print(f"repro params check {args.params}: ok, {len(runs)} runs")
    return 0


def run_args(args) -> int:
    print(shlex.join(audit_args(checked(args.params)["audit"])))
    return 0
