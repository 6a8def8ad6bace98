"""A restricted unpickler for data pickles (the CIFAR-10 "python version" batches).

``pickle.load`` runs whatever the file says (a ``__reduce__`` payload can call ``os.system``).
:func:`load_data_pickle` admits plain containers, bytes/str and numbers, which need no global,
plus exactly the globals NumPy needs to rebuild an array:

* ``numpy._core.multiarray._reconstruct`` (``numpy.core...`` in pickles written by NumPy 1.x
  and in the official CIFAR-10 files), ``numpy.ndarray``, ``numpy.dtype``: protocols 0-4;
* ``numpy._core.numeric._frombuffer`` (``numpy.core...``): NumPy's protocol-5 array form;
* ``_codecs.encode`` restricted to latin-1: how Python 3 writes ``bytes`` at protocol <= 2;
* ``builtins.set`` / ``frozenset``: plain containers that protocol <= 3 writes as a call.

Any other global is refused before anything is called: the error names the file and the global.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from repro.errors import InputError

try:  # NumPy >= 2 keeps the implementation in numpy._core; resolve without the deprecated numpy.core alias
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as pickle uses it for bytes (latin-1 only; no other codec is reachable)."""
    if codecs.lookup(encoding).name != "iso8859-1" or errors != "strict" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode is admitted only as encode(str, 'latin1'), got encoding {encoding!r}")
    return text.encode("latin1")


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,  # Python 2 pickles
    ("__builtin__", "frozenset"): frozenset,
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle references a global outside :data:`ALLOWED_GLOBALS`."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` returns only :data:`ALLOWED_GLOBALS` objects."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise RefusedGlobal(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not admitted in data pickles")


def loads_data(data: bytes, what: str = "pickle") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (latin-1 for Python 2 strings, as NumPy advises).

    A refused global or a corrupt/truncated stream is a ``ValueError`` naming ``what``.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except RefusedGlobal as exc:
        allowed = ", ".join(sorted({f"{m}.{n}" for m, n in ALLOWED_GLOBALS}))
        raise InputError(f"refused to unpickle {what}: it references the global {exc.module}.{exc.name}, which could "
                         f"run code; a data pickle may hold only plain containers, bytes/str, numbers and numpy arrays "
                         f"(admitted globals: {allowed})") from None
    except Exception as exc:  # EOFError, UnpicklingError, ValueError, TypeError... from a damaged stream
        raise InputError(f"corrupt or truncated {what}: {type(exc).__name__}: {exc}") from None


def load_data_pickle(path: str | Path) -> Any:
    """Read and restrictedly unpickle the file ``path`` (errors name the file)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    return loads_data(data, what=str(path))
