"""Test-wide settings: no telemetry, caches in a temp dir, one torch thread per test process."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("REPRO_CACHE_DIR", tempfile.mkdtemp(prefix="repro-test-cache-"))
os.environ.setdefault("DVC_SITE_CACHE_DIR", tempfile.mkdtemp(prefix="repro-test-dvc-site-"))

import pytest  # noqa: E402

from repro.config import TrainConfig  # noqa: E402


@pytest.fixture
def tiny_cfg() -> TrainConfig:
    """The smallest real training run: ResNet at 16x16 on digits, a few channels, tiny batches."""
    return TrainConfig(architecture="resnet", width=0.0625, batch_size=8, steps=6, checkpoint_every=2,
                       trace_every=1, device="cpu")


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
