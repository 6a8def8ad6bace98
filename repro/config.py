"""The one configuration of a training run, with the one set of defaults.

The CLI (``--set key=value``), ``params.yaml`` and the Python API all build a
:class:`TrainConfig`; presets (``repro.gan.presets``) are rows of field overrides.
Unknown keys are errors, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from repro import choices, hparams
from repro.choices import ADAM_EPSILONS, ADAM_IMPLS, COMPILE_MODES, G_STEP_FAKES, MEMORY_FORMATS, MODES, RESNET_FLAGS
from repro.errors import ConfigError
from repro.registry import check_choice


def _execution(default: Any) -> Any:
    """A field that says how a run executes, never what it computes: changing it leaves every bit of
    a run (its trace hashes, checkpoints' tensors and final hash) as it was, which
    ``tests/test_config.py`` checks field by field. A run's identity (:func:`identity_diff`: what a
    resume, an extension and an audit's reuse compare) leaves these fields out."""
    return field(default=default, metadata={"execution": True})


# the largest run :func:`validate` accepts: a hundred million generator steps is weeks of training
# even at a millisecond a step, so a larger count is a typo (issue 24: 1e23 steps was accepted)
MAX_STEPS = 10**8
MAX_SEED = 2**63 - 1  # torch's generators take a signed 64-bit seed


@dataclass(frozen=True)
class TrainConfig:
    """Every field of a training run: the fields that determine its results (its *identity*) and
    the execution fields (:func:`_execution`, listed in :data:`EXECUTION_FIELDS`) that do not.
    Defaults are the embedded CPU demo."""

    # --- model (Kurach et al. 2019, Section 3; docs/design.md, "The GAN zoo") ---
    architecture: str = "resnet"  # sndcgan | dcgan | resnet (paper's ResNet CIFAR) | resnet19
    resolution: int = 16  # image side in pixels; the embedded digits default is 16x16
    channels: int = 1  # 1 (digits) or 3 (CIFAR-10, CelebA-HQ, LSUN)
    width: float = 0.25  # channel multiplier: 1.0 = the paper's widths; 0.25 keeps 2-core CPU runs short
    z_dim: int = 128  # z ~ U[-1, 1]^z_dim (compare_gan)
    loss: str = "ns"  # mm | ns | wgan | ls | hinge
    penalty: str = "none"  # none | gp | dragan | l2
    penalty_weight: float = 1.0  # lambda; Table 1 uses {1, 10}
    d_norm: str = "sn"  # none | bn | ln | sn (generator always uses batch norm)
    sn_impl: str = "compare_gan"  # compare_gan (u updated every call) | torch (torch.nn.utils.spectral_norm)
    flags: tuple[str, ...] = ()  # ResNet details moved to the GitHub (SNGAN) choice: skip cin opt sum tan eps
    # ResNet details the paper's flags do not cover (G upsampling and shortcut, D SKIP rule, D logit
    # bias): compare_gan (the study's code) | sngan (the SNGAN authors' code); repro.gan.resnet.RESNET_CODES
    resnet_code: str = "compare_gan"
    # how D sees a batch in the losses: concat (compare_gan HEAD, modular_gan.py:655-661: one D call on
    # cat(real, fake), so D's batch norm sees both and spectral norm's u advances once) | split (the
    # 2018 code: one call each). The gradient penalties call D on their own inputs either way.
    d_batch: str = "concat"

    # --- optimisation (Adam for both nets with the same lr; Table 1 grid) ---
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_dis: int = 1  # discriminator updates per generator update
    batch_size: int = 64
    # the Table 1 setting lr, penalty_weight, beta1, beta2 and n_dis were set from (repro.hparams;
    # `--hparams NAME`); "" = set one by one. A name is checked against those five fields.
    hparams: str = ""

    # --- the training step: where torch's defaults and compare_gan's differ (issue 21, section 3) ---
    # Each field names a rule of one training step; the default is compare_gan HEAD's (so every preset
    # gets it), the other choice stays selectable with --set. repro.train.loop and repro.gan apply them.
    # batch-norm moving variance: biased (compare_gan: arch_ops.py:294-297 feeds the biased moments of
    # tf.nn.normalize_moments to assign_moving_average, :110-114; the 2018 code's
    # tf.contrib.layers.batch_norm(fused=False) too, src/gans/resnet_architecture.py:48-57 at 81ba388) | unbiased
    # (torch.nn.BatchNorm: n / (n - 1) times the batch variance). Batch normalisation itself always
    # uses the biased batch variance; only the running average that eval mode uses differs.
    bn_variance: str = "biased"
    # where Adam adds epsilon: tf (tf.train.AdamOptimizer, compare_gan's optimizer: modular_gan.py:70,
    # example_configs/*.gin; the 2018 src/gans/gans_with_penalty.py:71-78 at 81ba388): var -= lr*sqrt(1-b2^t)/(1-b1^t) *
    # m / (sqrt(v) + eps), eps on the uncorrected sqrt(v)) | torch (torch.optim.Adam: eps on the
    # bias-corrected sqrt(v / (1-b2^t))). tf equals torch with eps / sqrt(1 - b2^t) (3.2e-7 at step 1
    # with b2 0.999, 1e-8 in the limit); repro.train.adam applies it through torch's kernels.
    adam_epsilon: str = "tf"
    # the fake images the generator update scores (see repro.train.loop.Trainer.train_step):
    # reuse (HEAD on GPU: modular_gan.py:464-467, 560-571: the last D update's z and real batch, and
    # the fakes of that same G forward, so G runs once per D update) | rerun (the 2018 code, the
    # paper's: abstract_gan.py:262-267 at 81ba388 feeds the same z again, so G runs again and its
    # batch-norm moving averages take a second step) | fresh (a new z: HEAD's unrolled TPU graph,
    # modular_gan.py:81-84, 560-566, which also takes a new real batch; the 2018 WGAN_GP class,
    # WGAN_GP.py:107-108; and repro before this field existed)
    g_step_fakes: str = "reuse"
    # weight init: normal (HEAD: every kernel N(0, 0.02), arch_ops.py:46-58, 538-592) | truncated_normal
    # (the 2018 code, at 81ba388: ops.conv2d's default tf.truncated_normal_initializer(stddev=0.02), values
    # beyond 2 std redrawn, src/gans/ops.py:174-175, for every conv kernel of ResNet and DCGAN; linear and
    # deconv kernels stay N(0, 0.02), ops.py:117-130, 190-195; SNDCGAN passes random_normal to its convs
    # explicitly, dcgan_architecture.py:157-177, so it builds the same weights either way)
    init: str = "normal"

    # --- data ---
    dataset: str = "digits"
    data_root: str = ""  # local root of a real dataset; "" = the dataset's environment variable
    recipe: str = ""  # preprocessing recipe; "" = the dataset's default

    # --- run ---
    mode: str = "deterministic"  # deterministic | nondeterministic (see repro.determinism)
    seed: int = 0
    steps: int = 200  # generator steps; each is n_dis discriminator updates then one generator update
    # --- execution: when to checkpoint and trace (none of these changes a bit of the run) ---
    checkpoint_every: int = _execution(50)  # generator steps between checkpoints (and per-tensor hashes)
    trace_every: int = _execution(10)  # generator steps between whole-model hashes in the step trace
    # minutes of wall time after which a checkpoint is also written between scheduled ones, so that an
    # interrupt loses at most that much (0 = never); it is a resume point, removed once a newer checkpoint exists
    checkpoint_minutes: float = _execution(10.0)
    # scheduled checkpoints kept: the last keep_checkpoints, plus those at checkpoint_every x 1, 2, 4, 8, ...
    # and the last step (repro.train.checkpoints.kept_steps); 0 keeps every one
    keep_checkpoints: int = _execution(5)
    threads: int = 0  # intra-op CPU threads; 0 = torch's default for this machine
    device: str = "auto"  # auto (cuda when available, else cpu) | cpu | cuda | cuda:N

    # --- speed (repro.train.loop; benchmarks/gpu_step.py measures each). The first three change the
    # bits of a run, so a run records them (config.json, and fingerprint.json's "speed" when not the default);
    # the last two change only when the host looks at the numbers. ---
    adam_impl: str = "auto"  # auto (torch's pick: loop on CPU, foreach on CUDA) | loop | foreach | fused
    memory_format: str = "contiguous"  # contiguous | channels_last (models and image batches)
    compile: str = "none"  # none | default | reduce-overhead (torch.compile of G and D; the last adds CUDA graphs)
    sync_every: int = _execution(1)  # steps between host reads of the losses; 1 checks every loss before its update
    # hash trace states in a background thread (same hashes, off the step's path)
    trace_async: bool = _execution(False)
    # deterministic mode: torch fills every new tensor with NaN, a guard against reading uninitialised
    # memory; false skips those fills (a correct run keeps its bits; repro.determinism)
    fill_uninitialized_memory: bool = _execution(True)

    def __post_init__(self) -> None:
        validate(self)

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes: Any) -> "TrainConfig":
        return from_dict({**to_dict(self), **changes})

    def has_flag(self, flag: str) -> bool:
        return flag in self.flags


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))
# how a run executes (checkpoint and trace cadence, host reads, background hashing, torch's NaN fill):
# may differ between two sessions of one run and between a run and an audit that reuses it
EXECUTION_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.metadata.get("execution"))
# what determines a run's results: every other field
IDENTITY_FIELDS = tuple(name for name in FIELD_NAMES if name not in EXECUTION_FIELDS)

_POSITIVE_INT = ("resolution", "channels", "z_dim", "n_dis", "batch_size", "steps", "checkpoint_every", "trace_every",
                 "sync_every")


def _fail(field_name: str, value: Any, rule: str) -> None:
    raise ConfigError(f"invalid {field_name}={value!r}: {rule}")


def validate(cfg: TrainConfig) -> None:
    """Check every field; the error names the field and the valid choices or range."""
    check_choice("architecture", cfg.architecture, choices.ARCHITECTURES)
    check_choice("loss", cfg.loss, choices.LOSSES)
    check_choice("penalty", cfg.penalty, choices.PENALTIES)
    check_choice("d_norm", cfg.d_norm, choices.D_NORMS)
    check_choice("sn_impl", cfg.sn_impl, choices.SN_IMPLS)
    check_choice("mode", cfg.mode, MODES)
    check_choice("adam_impl", cfg.adam_impl, ADAM_IMPLS)
    check_choice("memory_format", cfg.memory_format, MEMORY_FORMATS)
    check_choice("compile", cfg.compile, COMPILE_MODES)
    for name in ("trace_async", "fill_uninitialized_memory"):
        if not isinstance(getattr(cfg, name), bool):
            _fail(name, getattr(cfg, name), "must be true or false")
    if cfg.compile != "none" and cfg.penalty in ("gp", "dragan"):
        # AOTAutograd (torch.compile's training path) has no double backward; gp/dragan need one
        _fail("compile", cfg.compile, f"torch.compile cannot differentiate the {cfg.penalty} penalty's gradient "
                                      "(no double backward); use compile=none")
    for flag in cfg.flags:
        check_choice("flag", flag, RESNET_FLAGS)
    if len(set(cfg.flags)) != len(cfg.flags):
        _fail("flags", cfg.flags, "each flag at most once")
    if cfg.flags and cfg.architecture not in ("resnet", "resnet19"):
        _fail("flags", cfg.flags, f"the ResNet flags apply to resnet and resnet19, not {cfg.architecture}")
    check_choice("resnet_code", cfg.resnet_code, choices.RESNET_CODES)
    if cfg.resnet_code != "compare_gan" and cfg.architecture not in ("resnet", "resnet19"):
        _fail("resnet_code", cfg.resnet_code, f"applies to resnet and resnet19, not {cfg.architecture}")
    check_choice("d_batch", cfg.d_batch, choices.D_BATCH)
    check_choice("bn_variance", cfg.bn_variance, choices.BN_VARIANCES)
    check_choice("adam_epsilon", cfg.adam_epsilon, choices.ADAM_EPSILONS)
    check_choice("g_step_fakes", cfg.g_step_fakes, choices.G_STEP_FAKES)
    check_choice("init", cfg.init, choices.INITS)
    for name in _POSITIVE_INT:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _fail(name, value, "must be an integer >= 1")
    for name in ("width", "lr"):
        value = getattr(cfg, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            _fail(name, value, "must be a finite number > 0")
    for name in ("beta1", "beta2"):
        value = getattr(cfg, name)
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            _fail(name, value, "must lie in [0, 1]")
    if not isinstance(cfg.penalty_weight, (int, float)) or not math.isfinite(cfg.penalty_weight) or cfg.penalty_weight < 0:
        _fail("penalty_weight", cfg.penalty_weight, "must be a finite number >= 0")
    if cfg.steps > MAX_STEPS:
        _fail("steps", cfg.steps, f"at most {MAX_STEPS:,} generator steps (weeks of training even at 1 ms a step)")
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool) or not 0 <= cfg.seed <= MAX_SEED:
        _fail("seed", cfg.seed, "must be an integer in [0, 2**63 - 1]")
    if (not isinstance(cfg.checkpoint_minutes, (int, float)) or isinstance(cfg.checkpoint_minutes, bool)
            or not math.isfinite(cfg.checkpoint_minutes) or cfg.checkpoint_minutes < 0):
        _fail("checkpoint_minutes", cfg.checkpoint_minutes, "must be a finite number >= 0 (0 = no time-based checkpoints)")
    if not isinstance(cfg.keep_checkpoints, int) or isinstance(cfg.keep_checkpoints, bool) or cfg.keep_checkpoints < 0:
        _fail("keep_checkpoints", cfg.keep_checkpoints, "must be an integer >= 0 (0 = keep every checkpoint)")
    if not isinstance(cfg.threads, int) or cfg.threads < 0:
        _fail("threads", cfg.threads, "must be an integer >= 0 (0 = torch's default)")
    if not (cfg.device in ("auto", "cpu", "cuda") or (cfg.device.startswith("cuda:") and cfg.device[5:].isdigit())):
        _fail("device", cfg.device, "valid choices: auto, cpu, cuda, cuda:N")
    choices.check_resolution(cfg.architecture, cfg.resolution)
    if cfg.hparams:
        hparams.check(cfg)


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    d["flags"] = list(cfg.flags)
    return d


def from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Build a config from a mapping; unknown keys are a ``ValueError`` listing the valid ones."""
    unknown = sorted(set(data) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; valid keys: {', '.join(FIELD_NAMES)}")
    kwargs = dict(data)
    if "flags" in kwargs:
        kwargs["flags"] = _parse_flags(kwargs["flags"])
    return TrainConfig(**kwargs)


# What a field was in effect for a config recorded (a run's config.json) before the field existed: such
# a run trained with torch's rules. :func:`from_record` fills them in, so that an old run never passes
# for one of today's defaults (a resume or an audit's reuse then names the fields that differ).
RECORDED_BEFORE = {"bn_variance": "unbiased", "adam_epsilon": "torch", "g_step_fakes": "fresh", "init": "normal"}


def from_record(data: Mapping[str, Any]) -> TrainConfig:
    """The config a run recorded (``config.json``): :func:`from_dict`, with the fields it predates
    set to what it trained with (:data:`RECORDED_BEFORE`), not to today's defaults."""
    return from_dict({**RECORDED_BEFORE, **data})


def _parse_flags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def parse_value(key: str, text: str) -> Any:
    """Parse the text of ``--set key=text`` into the type of field ``key``."""
    if key not in FIELD_NAMES:
        raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(FIELD_NAMES)}")
    default = getattr(TrainConfig(), key)
    if key == "flags":
        return _parse_flags(text)
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"invalid {key}={text!r}: expected true or false")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"invalid {key}={text!r}: expected an integer") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"invalid {key}={text!r}: expected a number") from None
    return text


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["lr=0.001", "n_dis=5"]`` -> ``{"lr": 0.001, "n_dis": 5}`` (typed by the field)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"invalid override {item!r}: expected key=value")
        out[key.strip()] = parse_value(key.strip(), text.strip())
    return out


def diff(a: TrainConfig, b: TrainConfig, ignore: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ, execution fields included: ``{name: (a_value, b_value)}``."""
    da, db = to_dict(a), to_dict(b)
    return {k: (da[k], db[k]) for k in FIELD_NAMES if k not in ignore and da[k] != db[k]}


def identity(cfg: TrainConfig) -> dict[str, Any]:
    """The fields that determine a run's results (:data:`IDENTITY_FIELDS`), as in ``config.json``."""
    d = to_dict(cfg)
    return {k: d[k] for k in IDENTITY_FIELDS}


def execution(cfg: TrainConfig) -> dict[str, Any]:
    """The execution fields (:data:`EXECUTION_FIELDS`): how the run checkpoints, traces and reads."""
    d = to_dict(cfg)
    return {k: d[k] for k in EXECUTION_FIELDS}


def identity_diff(a: TrainConfig, b: TrainConfig, ignore: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    """Fields of the run's identity whose values differ: what makes ``b`` another run than ``a``
    (a resume, an extension and an audit's reuse compare this; execution fields may differ)."""
    return diff(a, b, ignore=tuple(ignore) + EXECUTION_FIELDS)


def dumps(cfg: TrainConfig) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)


__all__ = ["TrainConfig", "MODES", "RESNET_FLAGS", "ADAM_IMPLS", "ADAM_EPSILONS", "G_STEP_FAKES", "MEMORY_FORMATS", "COMPILE_MODES", "FIELD_NAMES",
           "EXECUTION_FIELDS", "IDENTITY_FIELDS", "MAX_STEPS", "MAX_SEED", "validate", "to_dict", "from_dict", "from_record",
           "RECORDED_BEFORE", "parse_value", "parse_overrides", "diff", "identity", "execution", "identity_diff", "dumps"]
