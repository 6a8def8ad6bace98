"""The one tiny training config of the test suite: ResNet at 16x16 on digits, a few channels,
tiny batches, every step traced. Modules take it as config overrides (``TINY``, with a preset's
architecture and loss) or as a config (the ``tiny_cfg`` fixture of conftest.py); a test changes
what it needs with ``{**TINY, "steps": 2}`` or ``tiny_cfg.replace(...)``."""

from __future__ import annotations

TINY_CFG = {"width": 0.0625, "batch_size": 8, "steps": 6, "checkpoint_every": 2, "trace_every": 1, "device": "cpu"}
# as preset overrides: 4 steps, and n_dis 1 (the resnet presets carry compare_gan's n_dis 5; these
# tests exercise the machinery, not the recipe)
TINY = {**TINY_CFG, "steps": 4, "n_dis": 1}
