"""One writer per directory: an exclusive advisory lock on ``DIR/.repro.lock``.

``repro train`` holds the lock of its run directory and ``repro audit`` the lock of its audit
directory for as long as they write there. The lock is ``flock(2)`` on an open file, so the
kernel drops it when the process exits for any reason, SIGKILL included: a crashed writer never
leaves a directory locked (a stale ``.repro.lock`` file may stay behind; it holds no lock).
A second writer gets :class:`DirectoryInUse` (a ``ValueError``: the CLI prints one line and exits
2) naming the PID written in the lock file by the holder.

POSIX only (``fcntl``), like the atomic ``os.replace`` writes of :mod:`repro.io`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from repro.errors import InUseError

LOCK_NAME = ".repro.lock"


class DirectoryInUse(InUseError):
    """Another live process holds the directory's lock."""

    def __init__(self, directory: Path, what: str, pid: int | None):
        holder = f"PID {pid}" if pid is not None else "another process (PID not yet written)"
        super().__init__(f"{what} {directory} is in use by {holder} (lock {directory / LOCK_NAME}); "
                         "wait for it to finish, or choose another directory")
        self.directory, self.pid = directory, pid


@dataclass(frozen=True)
class Held:
    """A held lock. ``created``: the directory did not exist before the lock was taken."""

    directory: Path
    created: bool


def holder_pid(directory: str | os.PathLike) -> int | None:
    """The PID recorded by the lock's current or last holder (None when there is none)."""
    try:
        text = (Path(directory) / LOCK_NAME).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() else None


def is_locked(directory: str | os.PathLike) -> bool:
    """True when a live process holds the lock of ``directory`` (a probe: it takes and drops it)."""
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock taken by the probe
    return False


@contextlib.contextmanager
def hold(directory: str | os.PathLike, what: str = "directory") -> Iterator[Held]:
    """Hold the exclusive lock of ``directory`` (created when missing) for the ``with`` block.

    Raises :class:`DirectoryInUse` at once (no waiting) when another process holds it. The lock
    file is removed on release, while still locked, so the next writer starts from a fresh file.
    """
    directory = Path(directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DirectoryInUse(directory, what, holder_pid(directory)) from None
        # the previous holder unlinks the file before releasing it: a lock taken on an unlinked
        # file guards nothing, so try again on the file that is there now
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield Held(directory, created)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


@contextlib.contextmanager
def writing(directory: str | os.PathLike, what: str = "directory") -> Iterator[Held]:
    """:func:`hold`, and when the block fails in a directory this call created and left empty,
    remove the directory again: a writer refused before it wrote anything leaves nothing behind."""
    directory = Path(directory)
    created = not directory.exists()
    try:
        with hold(directory, what) as held:
            yield held
    except BaseException:
        if created:
            with contextlib.suppress(OSError):  # not empty: something was written, keep it
                directory.rmdir()
        raise
