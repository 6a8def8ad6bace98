"""What a study must train for a claims file to be testable: the presets each claim's sides need.

For each side of each claim (:mod:`repro.study.claims`), the levels the claim fixes (its factor's
level and ``where``'s single values of architecture, loss, normalization, penalty, ``treatment``
and flags) select the first preset, in ``repro variants`` order, whose configuration has them
(a grid name such as ``sndcgan_ns_sn_none`` rather than its short name ``sndcgan``).
Stand-in architectures (``--stand-in resnet19=resnet``) are put in first. What a claim asks of the
hyperparameter space (n_dis, setting globs, at least 21 settings for a spread) is not a preset:
the settings or Table 2's search provide it (docs/study.md, "Claims").
"""

from __future__ import annotations

from typing import Mapping

from repro.errors import InputError
from repro.gan import presets
from repro.gan.presets import GRID_ARCHITECTURES
from repro.study import claims as claims_mod
from repro.study import space

_PRESET_FACTORS = (*space.FACTORS, "flags")


def _wanted(claim: claims_mod.Claim, level: str) -> dict[str, str]:
    fixed = {k: v for k, v in claim.where.items() if isinstance(v, str) and not any(c in v for c in "*?[")}
    fixed[claim.factor] = level
    if "treatment" in fixed:
        norm, _, pen = fixed.pop("treatment").partition("+")
        if pen:
            fixed.update(d_norm=norm, penalty=pen)
        elif norm in ("gp", "dragan", "l2"):
            fixed.update(d_norm="none", penalty=norm)
        else:
            fixed.update(d_norm=norm, penalty="none")
    return {k: v for k, v in fixed.items() if k in _PRESET_FACTORS}


def variants_needed(claims: list[claims_mod.Claim], stand_ins: Mapping[str, str] | None = None) -> list[str]:
    """The presets that make every side of ``claims`` trainable, in ``repro variants`` order."""
    # the bare architecture names (``sndcgan``, ``resnet19``) duplicate a grid row: the grid name says more
    rows = {name: {k: str(v) for k, v in space.factor_levels(name).items()} for name in presets.names()
            if not presets.beyond_study(name) and name not in GRID_ARCHITECTURES}
    chosen: set[str] = set()
    for claim in claims:
        claim, _ = claims_mod.stand_in(claim, stand_ins)
        for level in (*claim.a, *claim.b):
            want = _wanted(claim, level)
            match = next((n for n, row in rows.items() if all(row.get(k) == v for k, v in want.items())), None)
            if match is None:
                raise InputError(f"claim {claim.id!r}: no preset has {', '.join(f'{k}={v}' for k, v in want.items())}")
            chosen.add(match)
    return [n for n in presets.names() if n in chosen]


__all__ = ["variants_needed"]
