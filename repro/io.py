"""Atomic file writes: a crash never leaves half a checkpoint, report or baseline.

Everything is written to a temporary file in the destination directory, flushed and
fsynced, then moved into place with ``os.replace`` (atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

from repro.errors import InputError, MissingFileError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; a report should read like any file
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


# the names atomic_path gives its temporary files: "." + target name + "." + mkstemp's 8 characters + ".tmp"
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def clean_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed :func:`atomic_path` writes left in ``directory``.

    Only names of the form ``atomic_path`` creates are touched. Call it only while holding the
    directory's lock (:mod:`repro.lock`): a live writer's temp file has the same form.
    Returns the removed paths.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for path in sorted(directory.iterdir()):
        if _TEMP_NAME.match(path.name) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def check_output_dir(path: str | os.PathLike, what: str = "output directory") -> Path:
    """Check, before any work, that ``path`` can be a directory we write in.

    Refuses (``ValueError`` naming the path) a path that is a file, that lies under a file, or
    whose nearest existing folder is not writable. Creates nothing.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path} is a file, not a directory")
    _check_writable_ancestor(path, what)
    return path


def check_output_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """Check, before any work, that ``path`` can be written as a file (not a directory, not under
    a file, in a writable folder). Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory, expected a file path")
    _check_writable_ancestor(path.parent, what, target=path)
    return path


def _check_writable_ancestor(folder: Path, what: str, target: Path | None = None) -> None:
    target = target or folder
    probe = folder
    while not probe.exists():
        if probe.is_symlink():  # a dangling link: creating a folder through it fails with "File exists"
            where = "is" if probe == target else f"lies under {probe},"
            raise InputError(f"{what} {target} {where} a symbolic link to {os.readlink(probe)}, which does not "
                             "exist: create the folder it points to, or choose another path")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError(f"{what} {target} lies under {probe}, which is a file, not a directory")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{what} {target} cannot be written: {probe} is not writable by this user")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON (NaN/inf refused: they are not JSON)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """Read UTF-8 text; a missing, undecodable or directory path is an input error naming it."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory, expected a file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingFileError(f"{what} not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text: {exc}") from None


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read JSON; a missing or corrupt file (or one nested too deeply to parse) is an input error
    naming the file."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"corrupt {what} {path}: {exc}") from None
    except RecursionError:
        raise InputError(f"corrupt {what} {path}: nested too deeply to read") from None


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def torch_load(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """Load a torch file with ``weights_only=True``; a truncated or corrupt file is a ``ValueError``."""
    import torch

    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, pickle errors, zipfile errors
        raise InputError(f"corrupt or truncated {what} {path}: {type(exc).__name__}: {exc}") from None
