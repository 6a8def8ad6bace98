"""The state of the user's git work tree: the commit, and whether code changed since it.

A fingerprint records it (``fingerprint.json``'s ``git``), so a report says which code ran and a
gate can tell a clean checkout from an edited one. What counts as code is the user's choice,
not this repository's layout: every changed path counts, except lock files a pipeline rewrites
and the patterns a project adds.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from typing import Any, Iterable


def _matches(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


# What a DVC pipeline rewrites in a clean checkout by running: its lock files. Any other changed
# file, tracked or untracked-but-not-ignored, may change what ran. A project whose pipeline writes
# tracked results adds their patterns (``not_code``, or REPRO_NOT_CODE, colon-separated).
NOT_CODE = ("dvc.lock", "*/dvc.lock")
NOT_CODE_ENV = "REPRO_NOT_CODE"


def not_code_patterns(extra: Iterable[str] | None = None) -> tuple[str, ...]:
    """:data:`NOT_CODE`, the patterns in ``$REPRO_NOT_CODE`` and ``extra``."""
    from_env = [p for p in os.environ.get(NOT_CODE_ENV, "").split(":") if p]
    return (*NOT_CODE, *from_env, *(extra or ()))


def git_info(cwd: str | os.PathLike | None = None, not_code: Iterable[str] | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool, "dirty_code": bool}`` for the git work tree holding ``cwd``
    (default: the current directory); ``None`` when there is none, git is missing, or git fails.

    ``dirty`` counts modified, staged and untracked-but-not-ignored files: a new untracked module
    changes what runs as surely as an edit does. ``dirty_code`` counts the same files except
    those matching :func:`not_code_patterns` (``not_code`` added), so that an audit run by
    ``dvc repro`` in a clean checkout is not labelled dirty by its own ``dvc.lock``.
    """
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")  # never take the index lock

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout if result.returncode == 0 else None

    commit = git("rev-parse", "--verify", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "-z")
    if status is None:
        return {"commit": commit.strip(), "dirty": None, "dirty_code": None}
    changed = changed_paths(status)
    patterns = not_code_patterns(not_code)
    return {"commit": commit.strip(), "dirty": bool(changed),
            "dirty_code": any(not _matches(p, patterns) for p in changed)}


def changed_paths(porcelain_z: str) -> list[str]:
    """Paths of ``git status --porcelain -z`` output (both sides of a rename), relative to the root."""
    entries = porcelain_z.split("\0")
    paths, i = [], 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":  # a rename or copy: the original path follows as its own entry
            paths.append(entries[i])
            i += 1
    return paths


__all__ = ["NOT_CODE", "NOT_CODE_ENV", "not_code_patterns", "git_info", "changed_paths"]
