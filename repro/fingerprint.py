"""The environment fingerprint: everything outside the code that can change a run's numbers.

``collect()`` returns a JSON-ready, key-sorted dict (written to ``fingerprint.json`` in every run
directory and printed by ``repro env``). ``diff()`` compares two fingerprints key by key;
``matches_for_strict()`` decides whether two runs can be expected bit-identical, i.e. whether a
CI gate may compare parameter hashes exactly or must fall back to a noise band.

Layout (top-level keys): ``cpu``, ``cuda`` (torch's view of its devices), ``env`` (numerics env
vars, ``null`` when unset), ``git``, ``numerics`` (torch switches), ``numpy``, ``nvml`` (GPUs
through NVML), ``python``, ``schema``, ``scipy``, ``threads``, ``torch``, and ``speed`` only for a
run with non-default speed settings (see ``collect``).

Only ``nvml.devices.*.clocks_mhz`` (current clocks) changes between two calls on one machine: see
``VOLATILE_KEYS``. Nothing here touches any RNG. On a machine with a GPU, ``collect()`` initialises
CUDA in the calling process (through ``torch.cuda.get_device_properties``).

Why this module is long: it is one probe per source of numerical variation (torch build, BLAS,
CPU, threads, numerics switches, CUDA, NVML) beside the comparison that reads them; the probes
share the layout above, so they stay together. The state of the user's git work tree is its own
module, :mod:`repro.gitstate`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import platform
import re
from typing import Any, Callable, Iterable

from repro import gitstate
from repro.errors import InputError

SCHEMA_VERSION = 1

# Env vars that change numerics or which device/thread layout a run sees. Unset -> null.
NUMERICS_ENV_VARS = (
    "CUBLAS_WORKSPACE_CONFIG",  # cuBLAS workspace: required for deterministic cuBLAS before torch 2.10
    "OMP_NUM_THREADS",  # OpenMP threads: CPU reduction order
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",  # numpy/scipy BLAS threads
    "MKL_CBWR",  # MKL conditional numerical reproducibility (code-path pinning)
    "PYTHONHASHSEED",  # set/dict-of-str iteration order
    "CUDA_VISIBLE_DEVICES",
    "OPENBLAS_CORETYPE",  # forces an OpenBLAS kernel family
    "NVIDIA_TF32_OVERRIDE",  # driver-level TF32 switch, overrides torch's allow_tf32
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
)
# Test seams that change a run's numbers (repro.train.plant): recorded under env only when set, so
# that `repro localize` replays a planted run with its plant and no other fingerprint changes
SEAM_ENV_VARS = ("REPRO_PLANT",)

# Fields that change between two calls on the same machine; pass as ``diff(..., ignore=VOLATILE_KEYS)``.
VOLATILE_KEYS = ("nvml.devices.*.clocks_mhz",)

# Flattened-key patterns (fnmatch; a pattern also covers every key below it) that must be equal
# for two runs to be expected bit-identical. Deliberately conservative: a false "match" would make
# a CI gate fail on legitimate cross-machine drift, a false "mismatch" only falls back to the band.
# Not strict, on purpose: cpu.flags (VMs and microcode toggle irrelevant flags such as md_clear;
# the flags that pick kernels are covered by torch.build.cpu_capability and numpy.simd_found),
# platform/kernel strings, GPU uuid/serial/clocks/ECC, the git commit (hashes are compared for the
# same code by construction) and the raw torch.__config__ text (its facts are parsed into strict keys).
STRICT_KEYS = (
    "python.implementation",
    "python.version",
    "torch.version",
    "torch.git_version",
    "torch.debug",
    "torch.cuda",
    "torch.cudnn",
    "torch.hip",
    "torch.backends",
    "torch.build.blas_info",
    "torch.build.lapack_info",
    "torch.build.mkl",
    "torch.build.onednn",
    "torch.build.openmp",
    "torch.build.cpu_capability",
    "torch.build.compiler",
    "numpy.version",
    "numpy.blas",
    "numpy.lapack",
    "numpy.simd_found",
    "scipy.version",
    "cpu.machine",
    "cpu.model",
    "cpu.vendor",
    "threads",
    "env",
    "numerics",
    "speed",
    "cuda.available",
    "cuda.device_count",
    "cuda.devices.*.name",
    "cuda.devices.*.capability",
    "nvml.available",
    "nvml.driver_version",
    "nvml.cuda_driver_version",
    "nvml.devices.*.name",
    "nvml.devices.*.compute_capability",
    "nvml.devices.*.mig_mode",
)


class _Missing:
    """Marks a key present in only one fingerprint (``diff`` values)."""

    _instance: "_Missing | None" = None

    def __new__(cls) -> "_Missing":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


# --------------------------------------------------------------------------- collection


def collect(speed: dict[str, Any] | None = None, not_code: Iterable[str] | None = None) -> dict[str, Any]:
    """Fingerprint this process's environment.

    ``speed``: a run's bit-changing speed settings that differ from the defaults
    (``repro.train.loop.speed_settings``: Adam kernel, memory format, torch.compile with Inductor's
    deterministic flag and the triton version), stored under ``speed`` when not empty, so that a
    default run's fingerprint is unchanged and a run with other kernels never matches it strictly.
    ``not_code``: path patterns of the work tree whose changes do not change what runs
    (:func:`repro.gitstate.git_info`; default :data:`repro.gitstate.NOT_CODE`).

    Returns a dict of plain JSON types (str, int, bool, None, list, dict) with keys sorted at every
    level, identical between calls on one machine except ``VOLATILE_KEYS``. Never raises for a
    missing GPU, driver, NVML library or git: those sections say why they are empty.
    Takes well under a second (no GPU) and imports only torch and numpy (plus pynvml); scipy's
    version is read from its package metadata, without importing it.
    """
    import torch

    fp = {
        "schema": SCHEMA_VERSION,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "compiler": platform.python_compiler(),
        },
        "torch": _torch_info(torch),
        "numpy": _numpy_info(),
        "scipy": {"version": _module_version("scipy")},
        "cpu": _cpu_info(),
        "threads": _thread_info(torch),
        "env": {**{name: os.environ.get(name) for name in NUMERICS_ENV_VARS},
                **{name: os.environ[name] for name in SEAM_ENV_VARS if name in os.environ}},
        "numerics": _numerics(torch),
        "nvml": nvml_info(),
        "cuda": _cuda_info(torch),
        "git": gitstate.git_info(not_code=not_code),
    }
    if speed:
        fp["speed"] = dict(speed)
    # Round-trip through JSON: guarantees plain JSON types (tuples -> lists) and sorted keys, so
    # collect() == json.load(json.dump(collect())) and diff() never sees a tuple/list mismatch.
    return json.loads(json.dumps(fp, sort_keys=True, allow_nan=False))


def _module_version(name: str) -> str | None:
    """The installed version of distribution ``name`` from its metadata (no import: scipy alone
    would add tens of milliseconds to every run's start)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _safe(fn: Callable[[], Any], default: Any = None) -> Any:
    """Call ``fn``; any exception (unsupported query, missing backend) gives ``default``."""
    try:
        return fn()
    except Exception:
        return default


def _torch_info(torch) -> dict[str, Any]:
    raw = _safe(torch.__config__.show, "")
    build = parse_torch_config(raw)
    build["cpu_capability"] = _safe(torch.backends.cpu.get_cpu_capability)
    return {
        "version": torch.__version__,
        "git_version": torch.version.git_version,
        "debug": bool(torch.version.debug),
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "cudnn": _safe(torch.backends.cudnn.version),  # None without cuDNN
        "backends": {
            "mkl": _safe(torch.backends.mkl.is_available),
            "mkldnn": _safe(torch.backends.mkldnn.is_available),
            "openmp": _safe(torch.backends.openmp.is_available),
        },
        "build": build,
    }


_BUILD_SETTING = re.compile(r"([A-Z][A-Z0-9_]*)=(.*?)(?=, [A-Z][A-Z0-9_]*=|,?\s*$)", re.S)


def parse_torch_config(raw: str) -> dict[str, Any]:
    """Parse ``torch.__config__.show()`` into the facts that pick CPU kernels.

    Returns ``blas_info``, ``lapack_info`` (e.g. ``"mkl"``, ``"open"``), ``mkl`` (MKL version text),
    ``onednn`` (oneDNN/MKL-DNN version and git hash text), ``openmp`` (e.g. ``"201511"``),
    ``compiler`` (e.g. ``"GCC 13.3"``), ``cpu_capability_build`` (the "CPU capability usage" line),
    ``settings`` (every ``KEY=value`` of the "Build settings" line), ``items`` (the other bullet
    lines) and ``raw`` (the text itself). Fields absent from ``raw`` are ``None``.
    """
    items: list[str] = []
    settings: dict[str, str] = {}
    for line in raw.splitlines():
        line = line.strip()
        if not line.startswith("- "):
            continue
        line = line[2:].strip()
        if line.startswith("Build settings:"):
            text = line[len("Build settings:") :].strip()
            settings = {key: value.strip() for key, value in _BUILD_SETTING.findall(text)}
        else:
            items.append(line)

    def find(pattern: str) -> str | None:
        for item in items:
            match = re.search(pattern, item)
            if match:
                return match.group(1).strip()
        return None

    return {
        "raw": raw,
        "items": items,
        "settings": settings,
        "blas_info": settings.get("BLAS_INFO"),
        "lapack_info": settings.get("LAPACK_INFO"),
        "mkl": find(r"Math Kernel Library Version (.+?)(?: for |$)"),
        "onednn": find(r"(?:MKL-DNN|oneDNN) (v\S+(?: \(Git Hash \w+\))?)"),
        "openmp": find(r"^OpenMP (\d+)"),
        "compiler": find(r"^((?:GCC|clang|Clang|MSVC|Apple clang)\b.*)$"),
        "cpu_capability_build": find(r"^CPU capability usage: (\S+)"),
    }


def _numpy_info() -> dict[str, Any]:
    import numpy

    info: dict[str, Any] = {"version": numpy.__version__, "blas": None, "lapack": None, "simd_found": None}
    try:
        config = numpy.show_config(mode="dicts")  # numpy >= 1.26; older versions only print
    except TypeError:
        return info
    if not isinstance(config, dict):
        return info
    deps = config.get("Build Dependencies", {})
    for name in ("blas", "lapack"):
        dep = deps.get(name)
        if isinstance(dep, dict):
            # Library identity only: the include/lib/pc directories are paths on the wheel builder.
            info[name] = {k: dep.get(k) for k in ("name", "version", "found", "openblas configuration") if k in dep}
    simd = config.get("SIMD Extensions", {})
    if isinstance(simd, dict):
        info["simd_found"] = sorted(simd.get("found") or [])  # kernels numpy dispatches to on this CPU
        info["simd_baseline"] = sorted(simd.get("baseline") or [])
    return info


def _cpu_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "system": platform.system(),
        "platform": platform.platform(),
        "model": None,
        "vendor": None,
        "flags": [],
    }
    fields = read_cpuinfo() if platform.system() == "Linux" else {}
    if fields:
        # x86 says "model name"/"flags"; arm64 says "Features" and often has no model name.
        info["model"] = fields.get("model name") or fields.get("Processor") or fields.get("CPU part")
        info["vendor"] = fields.get("vendor_id") or fields.get("CPU implementer")
        info["family"] = fields.get("cpu family") or fields.get("CPU architecture")
        info["model_number"] = fields.get("model") or fields.get("CPU variant")
        info["stepping"] = fields.get("stepping") or fields.get("CPU revision")
        info["flags"] = sorted(set((fields.get("flags") or fields.get("Features") or "").split()))
    if not info["model"]:
        info["model"] = platform.processor() or None
    return info


def read_cpuinfo(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The ``key: value`` fields of the first processor block of ``path`` ({} when unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # end of the first processor block: every core reports the same model/flags
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _thread_info(torch) -> dict[str, Any]:
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "torch_intra_op": torch.get_num_threads(),
        "torch_inter_op": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "affinity": len(affinity(0)) if affinity else None,
    }


def _numerics(torch) -> dict[str, Any]:
    cuda, cudnn = torch.backends.cuda, torch.backends.cudnn
    out = {
        "cuda_matmul_allow_tf32": _safe(lambda: bool(cuda.matmul.allow_tf32)),
        "cuda_matmul_allow_fp16_reduced_precision_reduction": _safe(
            lambda: bool(cuda.matmul.allow_fp16_reduced_precision_reduction)
        ),
        "cuda_matmul_allow_bf16_reduced_precision_reduction": _safe(
            lambda: bool(cuda.matmul.allow_bf16_reduced_precision_reduction)
        ),
        "cudnn_allow_tf32": _safe(lambda: bool(cudnn.allow_tf32)),
        "cudnn_enabled": _safe(lambda: bool(cudnn.enabled)),
        "cudnn_deterministic": _safe(lambda: bool(cudnn.deterministic)),
        "cudnn_benchmark": _safe(lambda: bool(cudnn.benchmark)),
        "float32_matmul_precision": _safe(torch.get_float32_matmul_precision),
        "deterministic_algorithms": _safe(torch.are_deterministic_algorithms_enabled),
        "deterministic_algorithms_warn_only": _safe(torch.is_deterministic_algorithms_warn_only_enabled),
    }
    # The fp32_precision API (torch >= 2.9) sits beside allow_tf32; record it where it exists.
    for name, backend in (("backends", torch.backends), ("cuda_matmul", cuda.matmul), ("cudnn", cudnn),
                          ("mkldnn", torch.backends.mkldnn)):
        value = _safe(lambda backend=backend: getattr(backend, "fp32_precision"))
        if value is not None:
            out[f"fp32_precision_{name}"] = str(value)
    return out


def _cuda_info(torch) -> dict[str, Any]:
    available = bool(_safe(torch.cuda.is_available, False))
    info: dict[str, Any] = {
        "available": available,
        "arch_list": _safe(torch.cuda.get_arch_list, []),  # SASS/PTX targets compiled into torch
        "device_count": 0,
        "devices": [],
    }
    if not available:
        return info
    info["device_count"] = _safe(torch.cuda.device_count, 0)
    for index in range(info["device_count"]):
        props = _safe(lambda: torch.cuda.get_device_properties(index))
        if props is None:
            info["devices"].append({"index": index, "name": None})
            continue
        info["devices"].append(
            {
                "index": index,
                "name": props.name,
                "capability": f"{props.major}.{props.minor}",
                "total_memory_bytes": int(props.total_memory),
                "multi_processor_count": int(props.multi_processor_count),
            }
        )
    return info


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def nvml_info() -> dict[str, Any]:
    """GPUs as NVML (nvidia-ml-py, import name ``pynvml``) reports them.

    ``{"available": False, "reason": ...}`` when the package, the library or the driver is missing;
    otherwise ``available``, ``driver_version``, ``cuda_driver_version`` (e.g. 12040) and
    ``devices``: per GPU ``name``, ``uuid``, ``serial``, ``memory_total_bytes``,
    ``compute_capability`` ("9.0"), ``clocks_mhz`` (current graphics/memory/sm, volatile),
    ``max_clocks_mhz``, ``ecc`` ({current, pending} or None where unsupported), ``mig_mode``.
    No pynvml exception escapes.
    """
    try:
        import pynvml
    except ImportError as exc:
        return {"available": False, "reason": f"nvidia-ml-py (pynvml) is not installed: {exc}"}
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, _NoPermission, OSError ...
        return {"available": False, "reason": f"NVML init failed: {type(exc).__name__}: {exc}"}
    try:
        count = int(pynvml.nvmlDeviceGetCount())
        return {
            "available": True,
            "driver_version": _safe(lambda: _text(pynvml.nvmlSystemGetDriverVersion())),
            "cuda_driver_version": _safe(lambda: int(pynvml.nvmlSystemGetCudaDriverVersion())),
            "device_count": count,
            "devices": [_nvml_device(pynvml, index) for index in range(count)],
        }
    except Exception as exc:
        return {"available": False, "reason": f"NVML query failed: {type(exc).__name__}: {exc}"}
    finally:
        _safe(pynvml.nvmlShutdown)


def _nvml_device(nv, index: int) -> dict[str, Any]:
    handle = nv.nvmlDeviceGetHandleByIndex(index)

    def clocks(getter: Callable) -> dict[str, Any]:
        return {
            name: _safe(lambda kind=kind: int(getter(handle, kind)))
            for name, kind in (
                ("graphics", getattr(nv, "NVML_CLOCK_GRAPHICS", 0)),
                ("sm", getattr(nv, "NVML_CLOCK_SM", 1)),
                ("memory", getattr(nv, "NVML_CLOCK_MEM", 2)),
            )
        }

    def capability() -> str:
        major, minor = nv.nvmlDeviceGetCudaComputeCapability(handle)
        return f"{int(major)}.{int(minor)}"

    def ecc() -> dict[str, bool]:
        current, pending = nv.nvmlDeviceGetEccMode(handle)
        return {"current": bool(current), "pending": bool(pending)}

    def mig() -> dict[str, int]:
        current, pending = nv.nvmlDeviceGetMigMode(handle)
        return {"current": int(current), "pending": int(pending)}

    return {
        "index": index,
        "name": _safe(lambda: _text(nv.nvmlDeviceGetName(handle))),
        "uuid": _safe(lambda: _text(nv.nvmlDeviceGetUUID(handle))),
        "serial": _safe(lambda: _text(nv.nvmlDeviceGetSerial(handle))),  # unsupported on GeForce -> None
        "memory_total_bytes": _safe(lambda: int(nv.nvmlDeviceGetMemoryInfo(handle).total)),
        "compute_capability": _safe(capability),
        "clocks_mhz": clocks(nv.nvmlDeviceGetClockInfo),
        "max_clocks_mhz": clocks(nv.nvmlDeviceGetMaxClockInfo),
        "ecc": _safe(ecc),
        "mig_mode": _safe(mig),
    }


# --------------------------------------------------------------------------- use


def summary(fp: dict[str, Any]) -> dict[str, str]:
    """A short flat ``dict[str, str]`` for MLflow tags and report headers.

    Keys: python, torch, cuda, cudnn, numpy, blas, device, driver, cpu, threads, commit.
    ``"none"`` stands for an absent value (no CUDA, no git).
    """

    def get(path: str) -> Any:
        node: Any = fp
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def text(value: Any) -> str:
        return "none" if value is None else str(value)

    nvml_devices = get("nvml.devices") or []
    cuda_devices = get("cuda.devices") or []
    names = [d.get("name") for d in (nvml_devices or cuda_devices) if isinstance(d, dict) and d.get("name")]
    git = get("git")
    commit = None
    if isinstance(git, dict) and git.get("commit"):
        dirty = git.get("dirty_code", git.get("dirty"))  # a fingerprint older than dirty_code: any change
        commit = str(git["commit"])[:12] + ("-dirty" if dirty else "")
    threads = get("threads") or {}
    return {
        "python": text(get("python.version")),
        "torch": text(get("torch.version")),
        "cuda": text(get("torch.cuda")),
        "cudnn": text(get("torch.cudnn")),
        "numpy": text(get("numpy.version")),
        "blas": text(get("torch.build.blas_info")),
        "device": ", ".join(names) if names else "cpu",
        "driver": text(get("nvml.driver_version")),
        "cpu": text(get("cpu.model")),
        "threads": f"{text(threads.get('torch_intra_op'))}/{text(threads.get('torch_inter_op'))}",
        "commit": text(commit),
    }


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys. A list of dicts is indexed (``devices.0.name``);
    any other list, and an empty dict, is one leaf value."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict) and (obj or not prefix):  # an empty top level has no keys at all
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        for index, value in enumerate(obj):
            out.update(flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        out[prefix] = obj
    return out


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) or fnmatch.fnmatchcase(key, p + ".*") for p in patterns)


def key_matches(key: str, patterns: Iterable[str]) -> bool:
    """Whether the dotted ``key`` is one of the fnmatch ``patterns`` or lies below one."""
    return _matches(key, patterns)


def diff(a: dict[str, Any], b: dict[str, Any], ignore: Iterable[str] = ()) -> list[tuple[str, Any, Any]]:
    """Flattened keys whose values differ, sorted by key: ``[(key, a_value, b_value), ...]``.

    A key present on one side only has ``MISSING`` on the other. ``ignore`` holds fnmatch
    patterns over dotted keys; a pattern also covers every key below it (``"nvml"`` ignores
    ``nvml.devices.0.name``), e.g. ``ignore=VOLATILE_KEYS``.
    """
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise InputError(f"diff compares two fingerprint dicts, got {type(a).__name__} and {type(b).__name__}")
    ignore = tuple(ignore)
    fa, fb = flatten(a), flatten(b)
    out = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, MISSING), fb.get(key, MISSING)
        if (key in fa) != (key in fb) or va != vb or type(va) is not type(vb):  # 1 vs True vs 1.0 differ
            if not _matches(key, ignore):
                out.append((key, va, vb))
    return out


def is_strict_key(key: str) -> bool:
    """Whether the dotted fingerprint ``key`` is one that must match for bit-identical runs."""
    return _matches(key, STRICT_KEYS)


def matches_for_strict(a: dict[str, Any], b: dict[str, Any]) -> tuple[bool, list[str]]:
    """``(True, [])`` when every ``STRICT_KEYS`` field of ``a`` and ``b`` is equal (runs on them
    may be expected bit-identical), else ``(False, sorted differing dotted keys)``."""
    keys = [key for key, _, _ in diff(a, b) if is_strict_key(key)]
    return (not keys, keys)
