"""The package's shape, measured: no import circles, modules of a readable size, imports at the
top, registries that hold exactly the names the config validates against, lint clean."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "repro"
MAX_LINES = 400
# optional dependencies, and packages that a command imports only when it runs, for start-up
# time (`repro --help` must not import torch or mlflow): importing these inside a function is
# expected wherever the module is one a light command reaches
DEFERRED_OK = {"ray", "optuna", "mlflow", "torch", "matplotlib", "sklearn", "yaml", "lmdb", "pynvml", "scipy",
               "dvc", "PIL", "numpy", "tqdm", "torch_fidelity", "triton"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _resolve(node: ast.ImportFrom | ast.Import, module: str, is_pkg: bool) -> list[str]:
    """The repro modules an import statement loads (a ``from x import y`` may load ``x.y``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in MODULES]
    if node.level:
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    # ``from pkg import mod`` loads the module mod; ``from pkg import name`` needs pkg's __init__
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    names = [a.name for a in node.names if f"{target}.{a.name}" not in MODULES]
    return subs + ([target] if names and target in MODULES else [])


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (not under ``if TYPE_CHECKING``, not in a function)."""
    out = []

    def visit(body):
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out.append(node)
            elif isinstance(node, (ast.If, ast.Try, ast.With)) and not _type_checking(node):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, []) or []:
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child])
    visit(tree.body)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps: set[str] = set()
        for node in _top_level_imports(tree):
            deps.update(d for d in _resolve(node, name, path.name == "__init__.py") if d != name)
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_cycle_finder_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    found = cycles(import_graph())
    assert not found, f"import circles (module-level imports): {found}"


def test_modules_stay_readable_or_say_why():
    long = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        if n > MAX_LINES and "Why this module is long:" not in text[:3000]:
            long.append(f"{name} ({n} lines)")
    assert not long, f"modules over {MAX_LINES} lines without a 'Why this module is long:' note at the top: {long}"


def test_repro_imports_are_at_the_top_outside_the_command_line():
    """A repro module imported inside a function (outside repro/cli, whose commands load what
    they run for start-up time) hides a dependency; each one left says why on its line."""
    hidden = []
    for name, path in MODULES.items():
        if name.startswith("repro.cli"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    mod = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    internal = (mod or "").startswith("repro") or (isinstance(node, ast.ImportFrom) and node.level)
                    if not internal:
                        continue
                    if "# lazy:" not in lines[node.lineno - 1]:
                        hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not hidden, ("repro imports inside functions without a '# lazy: <reason>' comment: "
                        + ", ".join(hidden))


def test_config_needs_neither_torch_nor_the_models():
    code = ("import sys, repro.config, repro.config as c; c.TrainConfig(); "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('repro.gan')]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, f"building a TrainConfig imported {done.stdout.strip()} {done.stderr[-500:]}"


def test_registries_hold_exactly_the_names_the_config_checks():
    from repro import choices
    from repro.gan import architectures, batching, losses, normalization, penalties, resnet

    assert architectures.REGISTRY.names() == choices.ARCHITECTURES
    assert losses.REGISTRY.names() == choices.LOSSES
    assert penalties.REGISTRY.names() == choices.PENALTIES
    assert tuple(resnet.RESNET_CODES) == choices.RESNET_CODES
    assert normalization.NORMS == choices.D_NORMS and normalization.SN_IMPLS == choices.SN_IMPLS
    assert batching.D_BATCH == choices.D_BATCH
    assert set(architectures.SUPPORTED_RESOLUTIONS) == set(choices.ARCHITECTURES)


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.fail("ruff is not installed in this environment: `pip install -e '.[test]'` installs it")
    done = subprocess.run([ruff, "check", "--no-cache", "."], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


# --------------------------------------------------------------------------- report fields


def _report_field_names() -> set[str]:
    """Field names of the report's records that no other file format of a run uses (run.json,
    trace rows, metrics.json and config keys share names such as ``status`` or ``fid``)."""
    import dataclasses

    from repro.audit import schema
    from repro.config import FIELD_NAMES

    records = (schema.RunRow, schema.PairRow, schema.Noise, schema.NoiseComponent, schema.Selection,
               schema.Comparison, schema.Interleaved, schema.Cost, schema.Settings, schema.Report,
               schema.BaselineVariant, schema.Baseline, schema.CheckpointScore)
    names = {f.name for r in records for f in dataclasses.fields(r)}
    shared = set(FIELD_NAMES) | {
        # run.json, trace.jsonl and metrics.json keys (repro.rundir, repro.metrics.evaluate)
        "id", "status", "mode", "seed", "steps", "steps_completed", "diverged_step", "final_param_hash",
        "median_step_time_s", "wall_time_s", "device", "step", "d_loss", "g_loss", "param_hash", "fid",
        "fid_eval_values", "fid_eval_std", "fid_ci_low", "fid_ci_high", "fid_boot_std", "fid_boot_bias", "fid_min",
        "fid_min_step", "is_mean", "is_std", "kid_mean", "kid_std", "n_fake", "eval_seeds", "schema", "created",
        "commit", "fingerprint", "variant", "replicate", "perturb", "worker", "key", "note", "method", "ratio",
        "checkpoint_step", "extractor"}
    return names - shared


# modules still reading report dicts, until the gate's rewrite on the typed records lands (issue 22)
PENDING_TYPED = {"repro/audit/gate.py", "repro/audit/baseline.py", "repro/cli/gate.py"}


def test_no_string_key_access_to_report_fields_outside_the_serialisers():
    """Code reads a report through its records' attributes; only the (de)serialisers (and the
    upgrade of older files) index the JSON by name."""
    # the serialisers, the reader of older report files, and the reader of params.yaml's audit: section
    allowed = {"repro/audit/schema.py", "repro/records.py", "repro/audit/upgrade.py", "repro/audit/spec.py",
               "repro/audit/plan.py"}
    allowed |= PENDING_TYPED
    names = _report_field_names()
    found = []
    for name, path in MODULES.items():
        rel = str(path.relative_to(ROOT))
        if rel in allowed or not (name.startswith("repro.audit") or name in ("repro.cli.audit", "repro.cli.report",
                                                                              "repro.cli.gate")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            key = None
            if (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                    and isinstance(node.ctx, ast.Load)):
                key = node.slice.value
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                key = node.args[0].value
            if isinstance(key, str) and key in names:
                found.append(f"{rel}:{node.lineno} [{key!r}]")
    assert not found, "report fields read by string key: " + ", ".join(found)
