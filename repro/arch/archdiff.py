"""Architecture diff: structural differences between two built models, read from the modules.

Every module with a ``structure() -> dict`` method (the rows and blocks of ``repro.gan``, and the
reference transcriptions in ``repro.arch.references``) reports its own attributes, computed from its
submodules or variables (shortcut kind, upsampling, hidden channels, leading activation,
normalization, epsilon and decay, padding, output activation, pooling, logit bias).
:func:`describe` lists them per place (``G.block0``, ``D.head``, ...); :func:`diff` aligns two
descriptions by place and reports one row per kind of difference, with where and what (a -> b).

The optimized first block (OPT) changes its block's form, which implies its leading activation,
shortcut, hidden channels and input normalization: where the form differs, only the form is
reported for that block, so each of the paper's six flags is one row (Kurach et al. 2019,
Appendix, Figure 7). Parameter counts are a summary (:func:`param_counts`), not a difference row.

References (:data:`REFERENCES`): ``paper`` (the paper's ResNet CIFAR with the variant's flags),
``github`` (the SNGAN authors' code) and ``compare_gan`` (the study's code, every architecture).
Against ``github``, :func:`diff_reference` splits the rows into the differences the paper's six
flags account for and the differences the paper did not list.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from repro.arch.references import compare_gan, resnet_github, resnet_paper
from repro.arch.references.compare_gan_transplant import transplant
from repro.config import RESNET_FLAGS
from repro.errors import InputError
from repro.gan import architectures
from repro.gan.presets import config_for
from repro.gan.resnet import RESNET_CIFAR_D_CHANNELS, RESNET_CIFAR_G_CHANNELS, scale_channels
from repro.registry import check_choice

# attribute -> the kind of difference it belongs to (one row per kind)
KINDS = {
    "form": "block form",
    "leading_activation": "leading activation",
    "shortcut": "D shortcut",
    "hidden_rule": "hidden channels",
    "hidden_channels": "hidden channels",
    "pooling": "output pooling",
    "activation": "output activation / input range",
    "input_range": "output activation / input range",
    "bn_eps": "batch-norm epsilon",
    "bn_decay": "batch-norm decay",
    "norm": "D normalization",
    "input_norm": "D normalization",
    "upsampling": "G upsampling",
    "g_shortcut": "G shortcut",
    "bias": "D logit bias",
    "bn_over": "G stem batch norm",
    "map": "D input rescaling",
    "padding": "padding",
    "act": "activation",
    "layer": "layout",
    "kernel": "layout",
    "resample": "layout",
    "in_channels": "layout",
    "out_channels": "layout",
    "size": "layout",
}
IMPLIED_BY_FORM = ("leading_activation", "shortcut", "hidden_rule", "hidden_channels", "input_norm")
MISSING = "(absent)"
REFERENCES = ("paper", "github", "compare_gan")
CONFORMANCE_WIDTH = 0.0625  # outputs are compared on narrow copies (G 16 / D 8 channels for ResNet CIFAR)


def _nets(model) -> dict[str, nn.Module]:
    if isinstance(model, (tuple, list)):
        if len(model) != 2:
            raise InputError(f"expected a (generator, discriminator) pair, got {len(model)} models")
        return {"G": model[0], "D": model[1]}
    if isinstance(model, nn.Module):
        return {"D" if hasattr(model, "input_range") else "G": model}
    raise InputError(f"expected an nn.Module or a (generator, discriminator) pair, got {type(model).__name__}")


def describe(model) -> list[dict[str, Any]]:
    """Structural rows of a model, in module order: ``{"where": "D.block0", attr: value, ...}``.

    ``model``: a ``(generator, discriminator)`` pair or one net. Blocks are numbered per net in
    order; the other parts (stem, tail, final_conv, output, input, input_map, head, logit) are
    named once per net.
    """
    rows = []
    for net_name, net in _nets(model).items():
        counts: dict[str, int] = {}
        for module in net.modules():
            fn = getattr(module, "structure", None)
            if not callable(fn):
                continue
            attrs = dict(fn())
            part = attrs.pop("part")
            if part == "block":
                where = f"{net_name}.block{counts.get(part, 0)}"
                counts[part] = counts.get(part, 0) + 1
            else:
                where = f"{net_name}.{part}"
            rows.append({"where": where, **attrs})
    return rows


def param_counts(model) -> dict[str, int]:
    """Trainable parameters per net and in total: ``{"G": n, "D": n, "total": n}``."""
    out = {name: sum(p.numel() for p in net.parameters()) for name, net in _nets(model).items()}
    out["total"] = sum(out.values())
    return out


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def _value(row: dict | None, keys: list[str]) -> str:
    if row is None:
        return MISSING
    parts = [(k, row[k]) for k in keys if k in row]
    if not parts:
        return MISSING
    if len(parts) == 1:
        return _text(parts[0][1])
    if [k for k, _ in parts] == ["hidden_rule", "hidden_channels"]:  # e.g. "c_in (128)"
        return f"{parts[0][1]} ({parts[1][1]})"
    return ", ".join(f"{k}={_text(v)}" for k, v in parts)


def diff(model_a, model_b) -> list[dict[str, Any]]:
    """One row per kind of structural difference between two models.

    Row: ``{"kind", "where": [places], "changes": [{"where": [...], "a": str, "b": str}], "what": str}``.
    A place present in only one model is a ``layout`` difference (``(absent)`` on the other side).
    """
    rows_a = {r["where"]: r for r in describe(model_a)}
    rows_b = {r["where"]: r for r in describe(model_b)}
    places = list(rows_a) + [w for w in rows_b if w not in rows_a]
    by_kind: dict[str, dict[tuple[str, str], list[str]]] = {}
    for where in places:
        ra, rb = rows_a.get(where), rows_b.get(where)
        if ra is None or rb is None:
            side = ra or rb
            keys = [k for k in side if k != "where"]
            by_kind.setdefault(KINDS["resample"], {}).setdefault(
                (_value(ra, keys), _value(rb, keys)), []).append(where)
            continue
        keys = [k for k in dict.fromkeys([*ra, *rb]) if k != "where"]
        skip = set(IMPLIED_BY_FORM) if ra.get("form") != rb.get("form") else set()
        kinds: dict[str, list[str]] = {}
        for k in keys:
            if k not in skip:
                kinds.setdefault(KINDS.get(k, k), []).append(k)
        for kind, kind_keys in kinds.items():
            a, b = _value(ra, kind_keys), _value(rb, kind_keys)
            if a != b:
                by_kind.setdefault(kind, {}).setdefault((a, b), []).append(where)
    out = []
    for kind, changes in by_kind.items():
        change_rows = [{"where": wheres, "a": a, "b": b} for (a, b), wheres in changes.items()]
        out.append({"kind": kind, "where": [w for c in change_rows for w in c["where"]], "changes": change_rows,
                    "what": what_text(change_rows)})
    return out


def what_text(changes: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c['a']} -> {c['b']} ({', '.join(c['where'])})" for c in changes)


def swap_sides(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows read from the other side (b -> a)."""
    out = []
    for r in rows:
        changes = [{**c, "a": c["b"], "b": c["a"]} for c in r["changes"]]
        out.append({**r, "changes": changes, "what": what_text(changes)})
    return out


def _build(cfg):
    with torch.random.fork_rng(devices=[]):  # structure only: leave the caller's RNG alone
        torch.manual_seed(0)
        return architectures.build(cfg)


def diff_variants(a: str, b: str, resolution: int = 32, width: float = 1.0, channels: int = 3) -> dict[str, Any]:
    """Build variants ``a`` and ``b`` (presets) and diff them: ``{"a", "b", "resolution", "rows", "params"}``."""
    cfg_a = config_for(a, resolution=resolution, width=width, channels=channels)
    cfg_b = config_for(b, resolution=resolution, width=width, channels=channels)
    model_a, model_b = _build(cfg_a), _build(cfg_b)
    return {"a": a, "b": b, "resolution": resolution, "width": width, "channels": channels,
            "rows": diff(model_a, model_b), "params": {"a": param_counts(model_a), "b": param_counts(model_b)}}


# --------------------------------------------------------------------------- references
def _base_channels(width: float) -> int:
    if abs(64 * width - round(64 * width)) > 1e-9:  # the transcriptions scale one base; the package each layer
        raise InputError(f"width {width:g} does not give whole channel counts in compare_gan's layout "
                         f"(64 x width must be an integer, e.g. 1, 0.5, 0.25, 0.0625)")
    return scale_channels(64, width)


def reference_model(reference: str, cfg, *, seed: int = 0):
    """The transcription ``reference`` built for ``cfg`` (architecture, resolution, width, channels,
    z_dim, d_norm, flags), as ``(G, D)``. ``ValueError`` where the reference has no such model."""
    check_choice("reference", reference, REFERENCES)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if reference == "compare_gan":
            return compare_gan.build(cfg.architecture, resolution=cfg.resolution, colors=cfg.channels,
                                     z_dim=cfg.z_dim, width=_base_channels(cfg.width), d_norm=cfg.d_norm, seed=seed)
        if cfg.architecture != "resnet":
            raise InputError(f"the {reference} transcription is ResNet CIFAR (architecture resnet), not "
                             f"{cfg.architecture}; valid references for {cfg.architecture}: compare_gan")
        if cfg.resolution != 32:
            raise InputError(f"the {reference} transcription exists at 32x32 only, not --resolution {cfg.resolution}")
        if cfg.d_norm not in ("none", "sn"):
            raise InputError(f"the {reference} transcription's discriminator has no d_norm={cfg.d_norm!r}; "
                             "valid: none, sn")
        ch_g, ch_d = scale_channels(RESNET_CIFAR_G_CHANNELS, cfg.width), scale_channels(RESNET_CIFAR_D_CHANNELS,
                                                                                         cfg.width)
        if reference == "paper":
            return (resnet_paper.Generator(cfg.z_dim, ch_g, cfg.channels, flags=cfg.flags),
                    resnet_paper.Discriminator(ch_d, cfg.channels, spectral_norm=cfg.d_norm == "sn", flags=cfg.flags))

        return (resnet_github.Generator(cfg.z_dim, ch_g, cfg.channels),
                resnet_github.Discriminator(ch_d, cfg.channels, spectral_norm=cfg.d_norm == "sn"))


def reference_resolutions(reference: str, architecture: str) -> tuple[int, ...] | None:
    """The resolutions at which ``reference`` defines ``architecture`` (None: every supported one; ()
    where it does not define it at all)."""
    if reference == "compare_gan":
        return compare_gan.RESOLUTIONS.get(architecture, ())
    return (32,) if architecture == "resnet" else ()


@torch.no_grad()
def randomize_weights(net: nn.Module, gen: torch.Generator) -> None:
    """Overwrite ``net``'s weights with ones that keep activations of order 1 (the N(0, 0.02) init
    shrinks logits to ~1e-20, where an absolute tolerance would compare nothing): He-scaled
    weights, random norm scales and shifts, all drawn from ``gen``."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            fan_in = m.weight[0].numel() if not isinstance(m, nn.ConvTranspose2d) else m.weight[:, 0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen, dtype=m.weight.dtype) * (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen, dtype=m.bias.dtype) * 0.1)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) and m.weight is not None:
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen, dtype=m.weight.dtype) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen, dtype=m.bias.dtype) * 0.1)


def conformance(cfg, reference: str, *, batch: int = 4, seed: int = 0) -> dict[str, float]:
    """Max |package - reference| of G images and D logits, with the package's weights transplanted.

    Both in float64 (so that the comparison measures the architecture, not float32 rounding of
    different op orders), in train mode (batch-norm batch statistics), on the same z and images,
    with weights rescaled to keep activations of order 1 (the ``*_max_abs`` entries give the
    scale). ``compare_gan``: every normalization, spectral norm included (its ``u`` is transplanted
    too). ``paper`` / ``github``: ``d_norm="none"`` (their exact-SVD spectral norm is what the
    package's power iteration only converges to).
    """
    if reference != "compare_gan":
        cfg = cfg.replace(d_norm="none")
    g_pkg, d_pkg = (m.double().train() for m in _build(cfg))
    gen = torch.Generator().manual_seed(seed)
    for net in (g_pkg, d_pkg):
        randomize_weights(net, gen)
    g_ref, d_ref = (m.double().train() for m in reference_model(reference, cfg, seed=seed + 1))
    if reference == "compare_gan":
        transplant((g_pkg, d_pkg), (g_ref, d_ref), cfg.architecture)
    else:
        ref = {"paper": resnet_paper, "github": resnet_github}[reference]
        g_map, d_map = ref.package_name_map(g_ref, d_ref)
        ref.transplant(g_pkg, g_ref, g_map)
        ref.transplant(d_pkg, d_ref, d_map)
    z = torch.rand(batch, cfg.z_dim, generator=gen, dtype=torch.float64) * 2 - 1
    lo, hi = d_ref.input_range
    x = torch.rand(batch, cfg.channels, cfg.resolution, cfg.resolution, generator=gen, dtype=torch.float64)
    x = x * (hi - lo) + lo
    with torch.no_grad():
        g_out, d_out = g_pkg(z), d_pkg(x)
        return {"generator_max_abs_diff": (g_out - g_ref(z)).abs().max().item(),
                "discriminator_max_abs_diff": (d_out - d_ref(x)).abs().max().item(),
                "generator_max_abs": g_out.abs().max().item(), "discriminator_max_abs": d_out.abs().max().item()}


def diff_reference(variant: str, reference: str, *, resolution: int = 32, width: float = 1.0, channels: int = 3,
                   check_outputs: bool = True) -> dict[str, Any]:
    """Diff the package's ``variant`` against a transcription (``paper``, ``github`` or ``compare_gan``).

    Structural rows as :func:`diff`, the parameter counts, and, when the structures agree and
    ``check_outputs``, :func:`conformance` on a narrow copy (width :data:`CONFORMANCE_WIDTH`).
    Against ``github`` also ``listed`` (the paper's flags the variant lacks: its diff with the
    same variant carrying all six flags) and ``unlisted`` (what still differs with all six flags
    on: the differences the paper did not list).
    """
    cfg = config_for(variant, resolution=resolution, width=width, channels=channels)
    package = _build(cfg)
    ref_model = reference_model(reference, cfg)
    rows = diff(package, ref_model)
    out = {"variant": variant, "reference": reference, "resolution": resolution, "width": width,
           "channels": channels, "rows": rows,
           "params": {"package": param_counts(package), "reference": param_counts(ref_model)}}
    if reference == "github":
        all_flags = _build(cfg.replace(flags=RESNET_FLAGS))
        out["listed"] = diff(package, all_flags)
        out["unlisted"] = diff(all_flags, ref_model)
    if check_outputs and not rows:
        out["conformance"] = {"width": CONFORMANCE_WIDTH,
                              **conformance(cfg.replace(width=CONFORMANCE_WIDTH), reference)}
    return out


def format_rows(rows: list[dict[str, Any]], label_a: str, label_b: str) -> str:
    """Text table: KIND, WHERE, A -> B (one line per distinct change)."""
    if not rows:
        return f"no structural differences between {label_a} and {label_b}"
    cells = [("DIFFERENCE", "WHERE", f"{label_a} -> {label_b}")]
    for r in rows:
        for i, c in enumerate(r["changes"]):
            cells.append((r["kind"] if i == 0 else "", ", ".join(c["where"]), f"{c['a']} -> {c['b']}"))
    widths = [max(len(row[i]) for row in cells) for i in range(2)]
    lines = [f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}" for row in cells]
    lines.append(f"({len(rows)} difference{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


UNLISTED_TITLE = "differences the paper did not list"
LISTED_TITLE = "differences the paper lists (its six flags)"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _g(x: Any) -> str:
    return "-" if x is None else f"{x:.3g}"


def format_markdown(title: str, result: dict[str, Any]) -> list[str]:
    """Markdown lines for one result of :func:`diff_variants` or :func:`diff_reference` (or
    ``{"error": ...}``): where it was built (resolution, channels, width), the parameter counts,
    the conformance of outputs, and the differences; against the SNGAN code, the differences the
    paper lists and, in their own section, those it did not list."""
    out = [f"### {title}", ""]
    if "error" in result:
        return out + [f"Not comparable: {result['error']}.", ""]
    rows = result.get("rows", [])
    at = (f"{result['resolution']}x{result['resolution']}x{result.get('channels', '(channels not recorded)')}, "
          f"width {_g(result.get('width'))}")
    params = "; ".join(f"{side}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                       for side, counts in result.get("params", {}).items())
    out += [f"Built at {at}. {len(rows)} structural difference(s). Parameters at {at}: {params}.", ""]
    if "conformance" in result:
        c = result["conformance"]
        out += [f"Same structure; with weights transplanted (float64, width {_g(c.get('width'))}) the outputs "
                f"differ by at most {_g(c['generator_max_abs_diff'])} (generator, outputs up to "
                f"{_g(c.get('generator_max_abs'))}) and {_g(c['discriminator_max_abs_diff'])} (discriminator, "
                f"logits up to {_g(c.get('discriminator_max_abs'))}).", ""]
    label = f"{result.get('a', result.get('variant'))} -> {result.get('b', result.get('reference'))}"
    sections = ([(LISTED_TITLE, result["listed"]), (UNLISTED_TITLE, result["unlisted"])] if "unlisted" in result
                else [(None, rows)])
    for heading, section_rows in sections:
        if heading:
            out += [f"#### {heading}", ""]
        if section_rows:
            out += [_md_table(["difference", label], [[r["kind"], r["what"]] for r in section_rows]), ""]
        elif heading:
            out += ["None.", ""]
    return out

__all__ = ["describe", "diff", "param_counts", "diff_variants", "reference_model", "conformance", "diff_reference",
           "format_rows", "swap_sides", "randomize_weights", "what_text", "reference_resolutions", "REFERENCES",
           "KINDS", "UNLISTED_TITLE", "LISTED_TITLE", "format_markdown"]
