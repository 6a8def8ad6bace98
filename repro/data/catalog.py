"""The dataset registry and :func:`load`, the one entry point the trainer and metrics use.

Each dataset module registers a :class:`DatasetSpec`: how to open a split, which
preprocessing recipes it knows, and (for real datasets) the environment variable that
points at its local root. Nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from repro.registry import Registry, check_choice

if TYPE_CHECKING:  # pragma: no cover
    from repro.data.split import ImageSplit

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """What :func:`load` needs to know about one dataset.

    ``open(split, root, recipe)`` returns the split; ``recipes`` are the recipe names shown
    in error messages (``check_recipe`` may accept a parametrised family, e.g. ``center_crop_64``).
    """

    name: str
    open: Callable[[str, str, str], "ImageSplit"]
    recipes: tuple[str, ...]
    default_recipe: str
    env_var: str = ""  # "" = embedded, needs no root
    check_recipe: Callable[[str], str] | None = None  # returns the canonical name or raises ValueError

    def recipe_or_default(self, recipe: str) -> str:
        recipe = recipe or self.default_recipe
        if self.check_recipe is not None:
            return self.check_recipe(recipe)
        return check_choice(f"{self.name} recipe", recipe, self.recipes)


REGISTRY: Registry[DatasetSpec] = Registry("dataset")


def load(name: str, split: str, *, root: str = "", recipe: str = "") -> "ImageSplit":
    """Open split ``split`` ("train" or "test") of dataset ``name``.

    ``root`` is the dataset's local folder ("" = its environment variable, see
    ``REGISTRY.get(name).env_var``); ``recipe`` the preprocessing recipe ("" = the
    dataset's default). Unknown names, splits or recipes are a ``ValueError`` listing the
    valid choices.
    """
    spec = REGISTRY.get(name)
    check_choice("split", split, SPLITS)
    return spec.open(split, root, spec.recipe_or_default(recipe))
