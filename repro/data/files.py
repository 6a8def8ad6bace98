"""Image files on disk: listing (recursive, sorted) and ``FileSplit``, a split decoded per batch.

Used by ``folder``, ``celeba_hq_128`` and the folder form of ``lsun_bedroom``. Files are every
file below the root whose extension is one of :data:`repro.data.images.EXTENSIONS`
(case-insensitive), sorted by relative POSIX path; hidden files and folders are skipped.
Images are decoded to 8-bit RGB, so every image has 3 channels.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.data import fingerprint as _fp
from repro.data.images import DECODER, EXTENSIONS, Recipe, decode, to_tensor
from repro.data.split import ImageSplit
from repro.errors import InputError


def list_images(root: Path) -> list[str]:
    """Relative POSIX paths of the image files below ``root``, sorted.

    An image name that is not a regular file (a FIFO, a socket, a device, a broken link) is an
    :class:`InputError` naming it: opening a FIFO to decode it would wait forever for a writer."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if not f.startswith(".") and f.lower().endswith(EXTENSIONS):
                _check_regular(Path(dirpath, f))
                found.append(Path(dirpath, f).relative_to(root).as_posix())
    return sorted(found)


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))


def _check_regular(path: Path) -> None:
    try:
        mode = os.stat(path).st_mode  # follows a link to the file it names
    except OSError as exc:
        what = "a broken symbolic link" if path.is_symlink() else f"unreadable ({exc.strerror})"
        raise InputError(f"image {path} is {what}; remove it or fix it") from None
    if not stat.S_ISREG(mode):
        kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
        raise InputError(f"image {path} is {kind}, not an image file; remove it from the dataset folder")


class FileSplit(ImageSplit):
    """A split of image files below ``root`` (``files``: relative paths), decoded per batch: memory O(batch)."""

    def __init__(self, name: str, split: str, recipe_name: str, recipe: Recipe, root: Path, files: list[str],
                 extra: dict[str, Any] | None = None):
        super().__init__(name, split, recipe_name, (3, recipe.size, recipe.size), len(files),
                         extra={"root": str(root), "decoder": DECODER, **(extra or {})})
        self._root, self._files, self._recipe = root, files, recipe

    def path(self, index: int) -> Path:
        return self._root / self._files[index]

    def _read(self, indices: np.ndarray) -> torch.Tensor:
        if not len(indices):
            return torch.empty((0, *self.shape), dtype=torch.float32)
        images = []
        for i in indices:
            path = str(self.path(int(i)))
            images.append(self._recipe.apply(decode(path, path), path))
        return to_tensor(images)

    def _source_key(self) -> dict[str, Any]:
        return {"root": str(self._root), "recipe_spec": [self._recipe.kind, self._recipe.size],
                "files": _fp.file_stats(self._root / f for f in self._files), "decoder": DECODER}
