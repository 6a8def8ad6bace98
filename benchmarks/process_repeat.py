"""Is a deterministic CPU run the same bits in every fresh process? Now ``repro hunt``.

This script became ``repro hunt`` (``repro/localize/hunt.py``, docs/localize.md): the same
deterministic run in ``--processes`` fresh interpreters per intra-op thread count, interleaved,
with the distinct final hashes and an exact 95% upper bound on the per-process divergence rate.
It stays as a thin wrapper so that the commands quoted in older commits and reports still run;
``--variant`` defaults to ``resnet_all`` here, as it did.

    python benchmarks/process_repeat.py [--processes 10] [--threads 1 2] [--steps 10]
        [--variant resnet_all] [--set KEY=VALUE ...] [--out FILE] [--strict] [--keep DIR]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from repro.cli import main  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a == "--variant" or a.startswith("--variant=") for a in argv):
        argv = ["--variant", "resnet_all", *argv]
    sys.exit(main(["hunt", *argv]))
