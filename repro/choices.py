"""The names a training config may choose from, without torch.

:mod:`repro.config` validates against these tables, so building or checking a config never
imports the model code (torch takes seconds to import; ``repro train --help`` and ``repro params
check`` need none of it). The model modules take their names from here too, and a test checks
that every registry of :mod:`repro.gan` holds exactly the names listed (``tests/test_layout.py``).
"""

from __future__ import annotations

from repro.errors import InputError
from repro.registry import check_choice

MODES = ("deterministic", "nondeterministic")
ARCHITECTURES = ("sndcgan", "dcgan", "resnet", "resnet19")
LOSSES = ("mm", "ns", "wgan", "ls", "hinge")
PENALTIES = ("none", "gp", "dragan", "l2")
D_NORMS = ("none", "bn", "ln", "sn")  # the generator always uses batch norm
SN_IMPLS = ("compare_gan", "torch")  # repro.gan.normalization
RESNET_CODES = ("compare_gan", "sngan")  # repro.gan.resnet.RESNET_CODES
D_BATCH = ("concat", "split")  # repro.gan.batching
RESNET_FLAGS = ("skip", "cin", "opt", "sum", "tan", "eps")
ADAM_IMPLS = ("auto", "loop", "foreach", "fused")
# the training step's rules where compare_gan HEAD and torch (or the 2018 code) differ; the first
# of each is compare_gan HEAD's (repro/config.py cites the source lines)
BN_VARIANCES = ("biased", "unbiased")  # what batch norm's running variance averages
ADAM_EPSILONS = ("tf", "torch")  # where Adam adds epsilon
G_STEP_FAKES = ("reuse", "rerun", "fresh")  # what the G update feeds D
INITS = ("normal", "truncated_normal")  # conv kernel initialisation
MEMORY_FORMATS = ("contiguous", "channels_last")
COMPILE_MODES = ("none", "default", "reduce-overhead")

# image sides each architecture builds: SNDCGAN's linear layer outputs R/8 x R/8 and DCGAN starts
# four stride-2 layers from R/16; the ResNets double from 4x4 (G) and halve to 8x8 or 2x2 (D)
RESOLUTIONS: dict[str, tuple[int, ...]] = {
    "sndcgan": (16, 32, 64, 128),
    "dcgan": (16, 32, 64, 128),
    "resnet": (16, 32, 64, 128),
    "resnet19": (16, 32, 64, 128),
}


def check_resolution(arch: str, resolution: int) -> None:
    """Raise :class:`repro.errors.InputError` unless ``arch`` builds images of side ``resolution``."""
    check_choice("architecture", arch, ARCHITECTURES)
    supported = RESOLUTIONS[arch]
    if resolution not in supported:
        raise InputError(f"unsupported resolution {resolution} for architecture {arch!r}; "
                         f"supported: {', '.join(map(str, supported))}")
