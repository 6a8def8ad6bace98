"""Training runs: ``train(cfg, out_dir)`` writes a run directory (see ``repro.rundir``)."""

from repro.train.run import EXIT_COMPLETED, EXIT_DIVERGED, train

__all__ = ["train", "EXIT_COMPLETED", "EXIT_DIVERGED"]
