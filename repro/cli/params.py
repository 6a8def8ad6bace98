"""repro params: check the pipeline's params.yaml in seconds.

``repro params check params.yaml`` is the first stage of ``pipelines/dvc.yaml``: a bad value
(``steps`` below ``checkpoint_every``, an unknown variant, a misspelt key) fails there, before
any run trains, with every problem in one line. The audit stage reads the same file itself
(``repro audit --params params.yaml``): the rules live in one place,
:mod:`repro.audit.spec` (:func:`repro.audit.spec.params_problems` and
:meth:`repro.audit.spec.AuditSpec.from_params`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro.errors import InputError

TOP_LEVEL = ("audit", "variants", "modes", "replicates")
OTHER_PIPELINES = ("study",)  # read by pipelines/study/dvc.yaml; `repro study` checks its own values


def add_parser(sub) -> None:
    p = sub.add_parser("params", help="check the pipeline's params.yaml before anything trains",
                       description="Check params.yaml of the DVC pipeline (pipelines/dvc.yaml) before anything "
                                   "trains: every rule, and every training config the audit's plan makes.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    actions.required = True
    c = actions.add_parser("check", help="check every field; exit 2 with one line naming each problem")
    c.add_argument("params", nargs="?", default="params.yaml", help="the parameters file (default params.yaml)")
    c.add_argument("--out", default=None, metavar="JSON",
                   help="also write the checked parameters and the planned run ids here")
    c.set_defaults(func=run_check)


def load(path: str | Path) -> dict[str, Any]:
    """The parsed YAML mapping of ``path``; a missing file or bad YAML is an input error."""
    import yaml  # lazy: PyYAML (a dependency of mlflow) loads only for params files

    from repro import io  # lazy: the command line loads what a command runs

    text = io.read_text(path, "parameters file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} must be a mapping with the keys {', '.join(TOP_LEVEL)}")
    return data


def problems(params: dict[str, Any]) -> list[str]:
    """Every violated rule of ``params`` (the structure of params.yaml), as short phrases; [] when valid.

    The ``audit:`` section follows :func:`repro.audit.spec.params_problems`; the run matrix must be
    the audit's plan: ``variants == [variant, baseline_variant]``, ``modes == [deterministic,
    nondeterministic]``, ``replicates == [0, 1]``; and every training config the plan makes must
    validate.
    """
    from repro.audit.spec import PARAMS_REPLICATES, AuditSpec, params_problems  # lazy: see load()
    from repro.config import MODES

    out = []
    unknown = sorted(set(params) - set(TOP_LEVEL) - set(OTHER_PIPELINES))
    if unknown:
        out.append(f"unknown top-level key(s) {', '.join(unknown)} (valid: {', '.join(TOP_LEVEL + OTHER_PIPELINES)})")
    audit = params.get("audit")
    out += params_problems(audit)
    if not isinstance(audit, dict):
        return out
    want = {"variants": [audit.get("variant"), audit.get("baseline_variant")], "modes": list(MODES),
            "replicates": list(range(PARAMS_REPLICATES))}
    for key, value in want.items():
        if key in params and params[key] != value:
            out.append(f"{key}={params[key]!r} must be {value!r} (the audit's plan: the pipeline trains exactly "
                       "the runs `repro audit` reads)")
        elif key not in params:
            out.append(f"missing {key} (must be {value!r})")
    if not out:
        try:
            AuditSpec.from_params(audit)  # builds every planned run's TrainConfig
        except InputError as exc:
            out.append(str(exc))
    return out


def checked(path: str | Path) -> dict[str, Any]:
    """Load and check ``path``; raise one input error naming every problem."""
    params = load(path)
    found = problems(params)
    if found:
        raise InputError(f"{path}: " + "; ".join(found))
    return params


def run_check(args) -> int:
    from repro import io  # lazy: see load()
    from repro.audit.spec import AuditSpec

    params = checked(args.params)
    runs = [s.id for s in AuditSpec.from_params(params["audit"]).runs()]
    if args.out:
        io.write_json(io.check_output_file(Path(args.out), "params check"), {"params": params, "runs": runs})
    print(f"repro params check {args.params}: ok, {len(runs)} runs")
    return 0
