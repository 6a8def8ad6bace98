"""``folder``: any folder of images, streamed from disk.

Files: every image file below the root, recursively, sorted by relative path
(:func:`repro.data.files.list_images`); decoded to 8-bit RGB, so 3 channels.

Split: if the root holds both ``train/`` and ``test/`` subfolders, those are the splits;
otherwise every 10th file in sorted order (positions 9, 19, 29, ...) is test, the rest train.

Recipes: ``exact`` (default: every image must have the size of the first file, in sorted
order, of the whole folder), ``center_crop_<S>`` and ``center_crop_resize_<S>``
(see :mod:`repro.data.images`), e.g. ``center_crop_resize_64``.
"""

from __future__ import annotations

import re

from repro.data.catalog import REGISTRY, DatasetSpec
from repro.data.files import FileSplit, list_images
from repro.data.images import Recipe, image_size
from repro.data.roots import resolve_root
from repro.errors import InputError

NAME = "folder"
ENV_VAR = "REPRO_FOLDER_ROOT"
TEST_EVERY = 10
LAYOUT = ("ROOT/**/*.{png,jpg,jpeg,webp,bmp,tif,tiff,ppm,gif} (recursive, sorted by path); "
          "optional ROOT/train/ and ROOT/test/ subfolders give the split, else every 10th file is test")
_RECIPE_RE = re.compile(r"^(exact|center_crop|center_crop_resize)(?:_(\d+))?$")


def parse_recipe(recipe: str) -> str:
    """Check a folder recipe name: ``exact``, ``center_crop_<S>`` or ``center_crop_resize_<S>``."""
    m = _RECIPE_RE.match(recipe)
    valid = "valid: exact, center_crop_<S>, center_crop_resize_<S> (S = output side in pixels, e.g. center_crop_resize_64)"
    if m is None or (m.group(1) == "exact") == bool(m.group(2)) or (m.group(2) and int(m.group(2)) < 1):
        raise InputError(f"invalid folder recipe {recipe!r}; {valid}")
    return recipe


def open_folder(split: str, root: str = "", recipe: str = "exact") -> FileSplit:
    """Split ``split`` of an image folder: float32 (N, 3, S, S) in [0, 1], streamed from disk."""
    base = resolve_root(NAME, root, ENV_VAR, LAYOUT)
    if (base / "train").is_dir() and (base / "test").is_dir():
        splits = {s: [f"{s}/{f}" for f in list_images(base / s)] for s in ("train", "test")}
        rule = "train/ and test/ subfolders"
    else:
        everything = list_images(base)
        splits = {"train": [f for i, f in enumerate(everything) if i % TEST_EVERY != TEST_EVERY - 1],
                  "test": [f for i, f in enumerate(everything) if i % TEST_EVERY == TEST_EVERY - 1]}
        rule = f"every {TEST_EVERY}th file in sorted order is test"
    first = sorted(splits["train"] + splits["test"])
    if not first:
        raise InputError(f"{NAME}: no image files under {base}. Expected layout: {LAYOUT}")
    m = _RECIPE_RE.match(recipe)
    if m.group(1) == "exact":
        w, h = image_size(str(base / first[0]), str(base / first[0]))
        if w != h:
            raise InputError(f"{NAME}: recipe 'exact' needs square images, {base / first[0]} is {w}x{h}; "
                             "use center_crop_<S> or center_crop_resize_<S>")
        spec = Recipe("exact", w)
    else:
        spec = Recipe(m.group(1), int(m.group(2)))
    if not splits[split]:
        raise InputError(f"{NAME}: the {split} split of {base} is empty ({rule})")
    return FileSplit(NAME, split, recipe, spec, base, splits[split], extra={"split_rule": rule})


REGISTRY.register(NAME, DatasetSpec(name=NAME, open=open_folder, recipes=("exact", "center_crop_<S>", "center_crop_resize_<S>"),
                                    default_recipe="exact", env_var=ENV_VAR, check_recipe=parse_recipe))
