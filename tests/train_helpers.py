"""Training in a child process (for SIGKILL and concurrency tests) and small run-directory edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# the tiny_cfg fixture as command-line overrides of resnet_default (n_dis 1: tiny_cfg keeps
# TrainConfig's default, resnet_default carries compare_gan's recipe, n_dis 5)
SUBPROCESS_CFG = {"width": 0.0625, "batch_size": 8, "steps": 6, "checkpoint_every": 2, "trace_every": 1,
                  "device": "cpu", "n_dis": 1}


def train_args(out, cfg=None, *extra: str) -> list[str]:
    cfg = {**SUBPROCESS_CFG, **(cfg or {})}
    return [sys.executable, "-m", "repro", "train", "--variant", "resnet_default", "--out", str(out), "--quiet",
            *[a for k, v in cfg.items() for a in ("--set", f"{k}={v}")], *extra]


def train_subprocess(out, fault: str = "", cfg=None, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``repro train`` in a child process with ``REPRO_FAULT=fault``, at this process's intra-op thread
    count: a test resumes the child's run here, and a resume at another count is refused."""
    import torch

    env = {**os.environ, "REPRO_FAULT": fault, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    return subprocess.run(train_args(out, cfg, *extra), env=env, capture_output=True, text=True, timeout=timeout)


def set_status(run_dir: Path, status: str) -> None:
    """Rewrite run.json's status, as a run killed (``running``) or failed at that point would leave it."""
    path = Path(run_dir) / "run.json"
    record = json.loads(path.read_text())
    record["status"] = status
    path.write_text(json.dumps(record))
