"""Architecture diff: structural differences between two built models, read from the modules.

Every module with a ``structure() -> dict`` method (the ResNet blocks, heads, stems and output
layers of ``repro.gan.blocks``, and the reference transcriptions in ``reference_impls``) reports
its own attributes, computed from its submodules where they are observable (shortcut kind,
hidden channels, leading activation, normalization, epsilon, output activation, pooling).
:func:`describe` lists them per place (``G.block0``, ``D.head``, ...); :func:`diff` aligns two
descriptions by place and reports one row per kind of difference, with where and what (a -> b).

The optimized first block (OPT) changes its block's form, which implies its leading activation,
shortcut and hidden channels: where the form differs, only the form is reported for that block,
so each of the paper's six flags is one row (Kurach et al. 2019, Appendix, Figure 7).
Parameter counts are a summary (:func:`param_counts`), not a difference row.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# attribute -> the kind of difference it belongs to (one row per kind)
KINDS = {
    "form": "block form",
    "leading_activation": "leading activation",
    "shortcut": "shortcut",
    "hidden_rule": "hidden channels",
    "hidden_channels": "hidden channels",
    "pooling": "output pooling",
    "activation": "output activation / input range",
    "input_range": "output activation / input range",
    "bn_eps": "batch-norm epsilon",
    "norm": "D normalization",
    "resample": "layout",
    "in_channels": "layout",
    "out_channels": "layout",
    "size": "layout",
}
IMPLIED_BY_FORM = ("leading_activation", "shortcut", "hidden_rule", "hidden_channels")
MISSING = "(absent)"


def _nets(model) -> dict[str, nn.Module]:
    if isinstance(model, (tuple, list)):
        if len(model) != 2:
            raise ValueError(f"expected a (generator, discriminator) pair, got {len(model)} models")
        return {"G": model[0], "D": model[1]}
    if isinstance(model, nn.Module):
        return {"D" if hasattr(model, "input_range") else "G": model}
    raise ValueError(f"expected an nn.Module or a (generator, discriminator) pair, got {type(model).__name__}")


def describe(model) -> list[dict[str, Any]]:
    """Structural rows of a model, in module order: ``{"where": "D.block0", attr: value, ...}``.

    ``model``: a ``(generator, discriminator)`` pair or one net. Blocks are numbered per net in
    order; the other parts (stem, tail, output, input, head) are named once per net.
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
        what = "; ".join(f"{c['a']} -> {c['b']} ({', '.join(c['where'])})" for c in change_rows)
        out.append({"kind": kind, "where": [w for c in change_rows for w in c["where"]], "changes": change_rows,
                    "what": what})
    return out


def _build(cfg):
    from repro.gan import architectures

    with torch.random.fork_rng(devices=[]):  # structure only: leave the caller's RNG alone
        torch.manual_seed(0)
        return architectures.build(cfg)


def diff_variants(a: str, b: str, resolution: int = 32, width: float = 1.0, channels: int = 3) -> dict[str, Any]:
    """Build variants ``a`` and ``b`` (presets) and diff them: ``{"a", "b", "resolution", "rows", "params"}``."""
    from repro.gan.presets import config_for

    cfg_a = config_for(a, resolution=resolution, width=width, channels=channels)
    cfg_b = config_for(b, resolution=resolution, width=width, channels=channels)
    model_a, model_b = _build(cfg_a), _build(cfg_b)
    return {"a": a, "b": b, "resolution": resolution, "width": width, "channels": channels,
            "rows": diff(model_a, model_b), "params": {"a": param_counts(model_a), "b": param_counts(model_b)}}


REFERENCES = ("paper", "github")


def reference_model(reference: str, *, width: float = 1.0, channels: int = 3, z_dim: int = 128,
                    spectral_norm: bool = False):
    """The transcription ``paper`` (flags off) or ``github`` (all six flags) at 32x32, as (G, D)."""
    from repro.gan.resnet import RESNET_CIFAR_D_CHANNELS, RESNET_CIFAR_G_CHANNELS, scale_channels
    from repro.registry import check_choice

    check_choice("reference", reference, REFERENCES)
    if reference == "paper":
        from reference_impls import resnet_paper as ref
    else:
        from reference_impls import resnet_github as ref
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g = ref.Generator(z_dim=z_dim, ch=scale_channels(RESNET_CIFAR_G_CHANNELS, width), channels=channels)
        d = ref.Discriminator(ch=scale_channels(RESNET_CIFAR_D_CHANNELS, width), channels=channels,
                              spectral_norm=spectral_norm)
    return g, d, ref


def conformance(variant: str, reference: str, *, width: float = 0.0625, channels: int = 3, batch: int = 4,
                seed: int = 0) -> dict[str, float]:
    """Max |package - reference| of G images and D logits with the package's weights transplanted.

    The package model is ``variant`` at 32x32 with ``d_norm="none"`` (the references' exact-SVD
    spectral norm is what the package's power iteration only converges to), in float64 so that
    the comparison measures the architecture, not float32 rounding of different op orders.
    Both nets run in train mode (batch-norm batch statistics), on the same z and images.
    """
    from repro.gan.presets import config_for

    cfg = config_for(variant, resolution=32, width=width, channels=channels, d_norm="none")
    g_pkg, d_pkg = (m.double().train() for m in _build(cfg))
    g_ref, d_ref, ref = reference_model(reference, width=width, channels=channels, z_dim=cfg.z_dim)
    g_ref, d_ref = g_ref.double().train(), d_ref.double().train()
    g_map, d_map = ref.package_name_map(len(g_ref.blocks), len(d_ref.blocks))
    ref.transplant(g_pkg, g_ref, g_map)
    ref.transplant(d_pkg, d_ref, d_map)
    gen = torch.Generator().manual_seed(seed)
    z = torch.rand(batch, cfg.z_dim, generator=gen, dtype=torch.float64) * 2 - 1
    lo, hi = d_ref.input_range
    x = torch.rand(batch, channels, 32, 32, generator=gen, dtype=torch.float64) * (hi - lo) + lo
    with torch.no_grad():
        g_err = (g_pkg(z) - g_ref(z)).abs().max().item()
        d_err = (d_pkg(x) - d_ref(x)).abs().max().item()
    return {"generator_max_abs_diff": g_err, "discriminator_max_abs_diff": d_err}


def diff_reference(variant: str, reference: str, *, width: float = 1.0, channels: int = 3,
                   check_outputs: bool = True) -> dict[str, Any]:
    """Diff the package's ``variant`` at 32x32 against a transcription (``paper`` or ``github``).

    Structural rows as :func:`diff` (the reference uses spectral norm iff the variant does), the
    parameter counts, and, when the structures agree and ``check_outputs``, :func:`conformance`.
    """
    from repro.gan.presets import config_for

    cfg = config_for(variant, resolution=32, width=width, channels=channels)
    package = _build(cfg)
    g_ref, d_ref, _ = reference_model(reference, width=width, channels=channels, z_dim=cfg.z_dim,
                                      spectral_norm=cfg.d_norm == "sn")
    rows = diff(package, (g_ref, d_ref))
    out = {"variant": variant, "reference": reference, "resolution": 32, "width": width, "rows": rows,
           "params": {"package": param_counts(package), "reference": param_counts((g_ref, d_ref))}}
    if check_outputs and not rows and cfg.architecture == "resnet":
        out["conformance"] = conformance(variant, reference, channels=channels)
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


__all__ = ["describe", "diff", "param_counts", "diff_variants", "reference_model", "conformance", "diff_reference",
           "format_rows", "REFERENCES", "KINDS"]
