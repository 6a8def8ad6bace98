"""``celeba_hq_128``: CelebA-HQ at 128x128 from a local folder; 27,000 train / 3,000 test.

Layout (``root`` or ``$REPRO_CELEBA_HQ_128_ROOT``): image files below the root (recursive,
sorted by relative path, as :func:`repro.data.files.list_images`), e.g. ``00000.png`` ...
``29999.png``. Split: if ``ROOT/test_files.txt`` exists, it lists the test images (one
relative path per line); otherwise the **last 3,000** files in sorted order are test
(``27000.png`` ... ``29999.png`` for the usual naming) and the rest train. A smaller local
copy can set ``$REPRO_CELEBA_HQ_128_TEST_SIZE``; the size used is recorded in ``describe()``.

Recipes: ``exact`` (default): every image must be 128x128, others are refused, never
cropped; ``center_crop_resize``: central square, then Pillow bilinear to 128x128 (for a
1024x1024 CelebA-HQ export).
"""

from __future__ import annotations

from repro.data.catalog import REGISTRY, DatasetSpec
from repro.data.files import FileSplit, list_images
from repro.data.images import Recipe
from repro.data.roots import env_int, resolve_root
from repro.errors import InputError

NAME = "celeba_hq_128"
ENV_VAR = "REPRO_CELEBA_HQ_128_ROOT"
TEST_SIZE_ENV = "REPRO_CELEBA_HQ_128_TEST_SIZE"
RESOLUTION = 128
TEST_SIZE = 3000
EXPECTED_N = {"train": 27000, "test": 3000}
SPLIT_FILE = "test_files.txt"
RECIPES = {"exact": Recipe("exact", RESOLUTION), "center_crop_resize": Recipe("center_crop_resize", RESOLUTION)}
LAYOUT = (f"ROOT/**/*.png|jpg|webp (30,000 images of {RESOLUTION}x{RESOLUTION}, sorted by path; the last 3,000 are "
          f"test) and optionally ROOT/{SPLIT_FILE} listing the test images, one relative path per line")


def split_files(root, files: list[str]) -> tuple[dict[str, list[str]], str, int]:
    """({"train": [...], "test": [...]}, rule, test size) for the sorted ``files`` of ``root``."""
    split_file = root / SPLIT_FILE
    if split_file.is_file():
        wanted = [line.strip() for line in split_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        known = set(files)
        missing = [w for w in wanted if w not in known]
        if missing:
            raise InputError(f"{NAME}: {split_file} lists {len(missing)} file(s) not found under {root}, e.g. {missing[0]!r}")
        if len(set(wanted)) != len(wanted):
            raise InputError(f"{NAME}: {split_file} lists a file more than once")
        test = set(wanted)
        return ({"train": [f for f in files if f not in test], "test": [f for f in files if f in test]},
                f"test = the files listed in {SPLIT_FILE}", len(test))
    test_size = env_int(TEST_SIZE_ENV, TEST_SIZE)
    if len(files) <= test_size:
        raise InputError(f"{NAME}: {root} holds {len(files)} images, not more than the test split of {test_size} "
                         f"(the full dataset has 30,000). For a smaller copy set ${TEST_SIZE_ENV} or write "
                         f"ROOT/{SPLIT_FILE}. Expected layout: {LAYOUT}")
    cut = len(files) - test_size
    return {"train": files[:cut], "test": files[cut:]}, f"the last {test_size} files in sorted order are test", test_size


def open_celeba_hq_128(split: str, root: str = "", recipe: str = "exact") -> FileSplit:
    """CelebA-HQ-128 split ``split``: float32 (N, 3, 128, 128) in [0, 1], streamed from disk."""
    base = resolve_root(NAME, root, ENV_VAR, LAYOUT)
    files = list_images(base)
    if not files:
        raise InputError(f"{NAME}: no image files under {base}. Expected layout: {LAYOUT}")
    splits, rule, test_size = split_files(base, files)
    return FileSplit(NAME, split, recipe, RECIPES[recipe], base, splits[split],
                     extra={"split_rule": rule, "test_size": test_size, "expected_n": EXPECTED_N[split]})


REGISTRY.register(NAME, DatasetSpec(name=NAME, open=open_celeba_hq_128, recipes=tuple(RECIPES), default_recipe="exact",
                                    env_var=ENV_VAR))
