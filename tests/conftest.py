"""Test-wide settings: no telemetry, caches in a temp dir, one torch thread per test process."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("REPRO_CACHE_DIR", tempfile.mkdtemp(prefix="repro-test-cache-"))
os.environ.setdefault("DVC_SITE_CACHE_DIR", tempfile.mkdtemp(prefix="repro-test-dvc-site-"))

import pytest  # noqa: E402
from tiny import TINY_CFG  # noqa: E402

from repro.config import TrainConfig  # noqa: E402

# --------------------------------------------------------------------------- tiers
# unit: seconds, no training run, no subprocess of repro, no Ray, MLflow store or DVC repository.
# integration: the modules below (tiny training runs and audits, fresh processes, Ray, MLflow, DVC,
# the benchmark and GPU scripts' dry runs). slow and gpu: marked per test. `make test` runs unit
# and integration; `make test-unit` and `make test-integration` run one tier (README, "Tests").
INTEGRATION_MODULES = frozenset({
    "test_audit", "test_benchmarks", "test_cli_errors", "test_crash_safety", "test_dvc_pipeline", "test_dvc_plots",
    "test_dvc_resume", "test_evaluate", "test_executor", "test_executor_ray", "test_gpu_scripts", "test_hunt",
    "test_isolation", "test_localize", "test_locks", "test_pipeline", "test_readme", "test_resume",
    "test_run_directory", "test_speed", "test_startup", "test_study_cli", "test_study_pipeline", "test_tracking",
    "test_train",
})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.stem in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def tiny_cfg() -> TrainConfig:
    """The smallest real training run: ResNet at 16x16 on digits, a few channels, tiny batches."""
    return TrainConfig(architecture="resnet", **TINY_CFG)


@pytest.fixture(autouse=True)
def repro_log_lines():
    """Each test sees repro's log lines on stderr as the command line shows them (``[train] ...``),
    and leaves the ``repro`` logger as it found it: a test that ran ``main(["--quiet", ...])``
    must not silence the next one."""
    import logging

    from repro import logs

    logger = logging.getLogger(logs.ROOT)
    level, handlers = logger.level, list(logger.handlers)
    logs.configure(logging.INFO)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


# --------------------------------------------------------------------------- a clean checkout

_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
_ALLOWED = (".venv/", "__pycache__/", ".pyc", ".pytest_cache/", ".hypothesis/", ".ruff_cache/", ".egg-info/")


def _tree_state() -> set[str] | None:
    """``git status --porcelain --ignored`` of the checkout, less what running Python leaves by
    design; None outside a git work tree."""
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=_ROOT, capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return {line for line in out.stdout.splitlines() if not any(a in line for a in _ALLOWED)}


def pytest_sessionstart(session):
    session.config._repro_tree = _tree_state()


def pytest_sessionfinish(session, exitstatus):
    """The suite must write only under its temporary folders: a file it leaves in the checkout
    (an MLflow artifact folder, a report) fails the run."""
    before = getattr(session.config, "_repro_tree", None)
    after = _tree_state()
    if before is None or after is None or getattr(session.config, "workerinput", None) is not None:
        return
    if after - before:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "the tests changed the working tree: " + ", ".join(sorted(after - before)), red=True)
        session.exitstatus = 1
