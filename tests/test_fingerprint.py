"""Environment fingerprint (repro.fingerprint) and ``repro env`` (issue 3, item 7)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro import fingerprint, gitstate
from repro.cli import main


@pytest.fixture(scope="module")
def fp_outside_git(tmp_path_factory):
    """One fingerprint taken outside any git work tree, so ``git`` is null and stable."""
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp_path_factory.mktemp("nogit"))
    mp.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path_factory.getbasetemp()))
    try:
        yield fingerprint.collect()
    finally:
        mp.undo()


@pytest.fixture
def no_git_tree(tmp_path, monkeypatch):
    """Run in an empty directory that git cannot resolve to a work tree."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    return tmp_path


# ---------------------------------------------------------------- collect()


def test_collect_sections_and_no_gpu_path(fp_outside_git):
    fp = fp_outside_git
    assert set(fp) == {"cpu", "cuda", "env", "git", "numerics", "numpy", "nvml", "python", "schema", "scipy",
                       "threads", "torch"}
    import numpy
    import scipy
    import torch

    assert fp["torch"]["version"] == torch.__version__
    assert fp["numpy"]["version"] == numpy.__version__
    assert fp["scipy"]["version"] == scipy.__version__
    assert fp["threads"]["torch_intra_op"] == torch.get_num_threads()
    assert fp["torch"]["build"]["raw"] == torch.__config__.show()
    assert fp["cpu"]["flags"] == sorted(fp["cpu"]["flags"])
    assert fp["git"] is None  # outside a work tree
    if not torch.cuda.is_available():
        assert fp["torch"]["cudnn"] is None or torch.backends.cudnn.is_available()
        assert fp["cuda"]["available"] is False and fp["cuda"]["devices"] == []


def test_nvml_unavailable_has_reason(fp_outside_git):
    nvml = fp_outside_git["nvml"]
    if nvml.get("available"):
        pytest.skip("this machine has a working NVML")
    assert nvml["available"] is False
    assert isinstance(nvml["reason"], str) and nvml["reason"]


def test_collect_is_json_and_key_sorted(fp_outside_git):
    text = json.dumps(fp_outside_git, allow_nan=False)  # raises on non-JSON types or NaN
    assert json.loads(text) == fp_outside_git

    def check_sorted(node):
        if isinstance(node, dict):
            assert list(node) == sorted(node)
            for value in node.values():
                check_sorted(value)
        elif isinstance(node, list):
            for value in node:
                check_sorted(value)

    check_sorted(fp_outside_git)


def test_collect_is_deterministic(no_git_tree):
    # Only VOLATILE_KEYS (current GPU clocks) may move between calls; on a CPU machine nothing does.
    a, b = fingerprint.collect(), fingerprint.collect()
    assert fingerprint.diff(a, b, ignore=fingerprint.VOLATILE_KEYS) == []


def test_env_vars_show_up(no_git_tree, monkeypatch):
    for name in fingerprint.NUMERICS_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    before = fingerprint.collect()
    assert set(before["env"]) == set(fingerprint.NUMERICS_ENV_VARS)
    assert all(value is None for value in before["env"].values())
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    after = fingerprint.collect()
    assert after["env"]["MKL_CBWR"] == "COMPATIBLE"
    assert after["env"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert fingerprint.diff(before, after) == [
        ("env.CUBLAS_WORKSPACE_CONFIG", None, ":4096:8"),
        ("env.MKL_CBWR", None, "COMPATIBLE"),
    ]
    ok, keys = fingerprint.matches_for_strict(before, after)
    assert not ok and keys == ["env.CUBLAS_WORKSPACE_CONFIG", "env.MKL_CBWR"]


def test_numerics_switches_follow_torch(no_git_tree):
    # (cudnn.benchmark and the matmul precision rather than use_deterministic_algorithms, whose
    # first call costs seconds of imports; all are read the same way.)
    import torch

    benchmark, precision = torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision()
    fp32 = {b: getattr(b, "fp32_precision", None) for b in (torch.backends, torch.backends.cuda.matmul)}
    try:
        torch.backends.cudnn.benchmark = not benchmark
        torch.set_float32_matmul_precision("medium" if precision != "medium" else "high")
        changed = fingerprint.collect()["numerics"]
    finally:
        torch.backends.cudnn.benchmark = benchmark
        torch.set_float32_matmul_precision(precision)
        for backend, value in fp32.items():  # set_float32_matmul_precision moves these too ('none' -> 'ieee')
            if value is not None:
                backend.fp32_precision = value
    assert changed["cudnn_benchmark"] is (not benchmark)
    assert changed["float32_matmul_precision"] == ("medium" if precision != "medium" else "high")
    restored = fingerprint.collect()["numerics"]
    assert restored["cudnn_benchmark"] is benchmark and restored["float32_matmul_precision"] == precision
    assert restored["deterministic_algorithms"] is torch.are_deterministic_algorithms_enabled()


def test_thread_count_shows_up(no_git_tree):
    import torch

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if threads != 1 else 2)
        changed = fingerprint.collect()
    finally:
        torch.set_num_threads(threads)
    assert changed["threads"]["torch_intra_op"] == (1 if threads != 1 else 2)


# ---------------------------------------------------------------- torch config, cpuinfo


# The shape of torch.__config__.show() on an aarch64 OpenBLAS build (no MKL line, no oneDNN line).
ARM_CONFIG = """PyTorch built with:
  - GCC 11.2
  - C++ Version: 201703
  - OpenMP 201511 (a.k.a. OpenMP 4.5)
  - LAPACK is enabled (usually provided by MKL)
  - NNPACK is enabled
  - CPU capability usage: SVE256
  - Build settings: BLAS_INFO=open, BUILD_TYPE=Release, CXX_FLAGS= -O2 -Wno-error=old-style-cast, LAPACK_INFO=open, TORCH_VERSION=2.5.0, USE_MKL=OFF,
"""


def test_parse_torch_config_arm_openblas():
    build = fingerprint.parse_torch_config(ARM_CONFIG)
    assert build["blas_info"] == "open" and build["lapack_info"] == "open"
    assert build["mkl"] is None and build["onednn"] is None
    assert build["openmp"] == "201511"
    assert build["compiler"] == "GCC 11.2"
    assert build["cpu_capability_build"] == "SVE256"
    assert build["settings"]["CXX_FLAGS"] == "-O2 -Wno-error=old-style-cast"  # '=' inside a value
    assert build["settings"]["USE_MKL"] == "OFF"
    assert build["raw"] == ARM_CONFIG


def test_parse_torch_config_this_build():
    import torch

    build = fingerprint.parse_torch_config(torch.__config__.show())
    settings_ = build["settings"]
    assert settings_.get("TORCH_VERSION") == torch.__version__.split("+")[0]
    assert build["blas_info"] == settings_.get("BLAS_INFO")
    if torch.backends.mkl.is_available():
        assert build["mkl"] is not None
    if torch.backends.mkldnn.is_available():
        assert build["onednn"] is not None and build["onednn"].startswith("v")


def test_parse_torch_config_empty():
    build = fingerprint.parse_torch_config("")
    assert build["settings"] == {} and build["blas_info"] is None and build["items"] == []


def test_read_cpuinfo_first_block(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(
        "processor\t: 0\nmodel name\t: CPU A\nflags\t\t: sse2 avx fma\n\n"
        "processor\t: 1\nmodel name\t: CPU B\nflags\t\t: sse2\n"
    )
    fields = fingerprint.read_cpuinfo(str(path))
    assert fields["model name"] == "CPU A" and fields["flags"] == "sse2 avx fma"
    assert fingerprint.read_cpuinfo(str(tmp_path / "absent")) == {}


# ---------------------------------------------------------------- NVML (faked module)


class FakeNVMLError(Exception):
    pass


def fake_pynvml(*, init_error=None, count_error=None):
    """A stand-in for nvidia-ml-py with two GPUs; the second supports neither ECC nor serial."""
    nv = types.SimpleNamespace(NVML_CLOCK_GRAPHICS=0, NVML_CLOCK_SM=1, NVML_CLOCK_MEM=2, shutdowns=0)

    def unsupported(*_):
        raise FakeNVMLError("Not Supported")

    def init():
        if init_error:
            raise init_error

    def count():
        if count_error:
            raise count_error
        return 2

    def shutdown():
        nv.shutdowns += 1

    nv.nvmlInit = init
    nv.nvmlShutdown = shutdown
    nv.nvmlDeviceGetCount = count
    nv.nvmlSystemGetDriverVersion = lambda: b"550.54.15"  # old releases return bytes
    nv.nvmlSystemGetCudaDriverVersion = lambda: 12040
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetName = lambda h: ["NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090"][h]
    nv.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"
    nv.nvmlDeviceGetSerial = lambda h: "1650" if h == 0 else unsupported()
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=(80 + h) * 2**30, used=h, free=0)
    nv.nvmlDeviceGetCudaComputeCapability = lambda h: [(9, 0), (8, 9)][h]
    nv.nvmlDeviceGetClockInfo = lambda h, kind: 1000 + 10 * kind + h
    nv.nvmlDeviceGetMaxClockInfo = lambda h, kind: 2000 + 10 * kind + h
    nv.nvmlDeviceGetEccMode = lambda h: (1, 1) if h == 0 else unsupported()
    nv.nvmlDeviceGetMigMode = unsupported
    return nv


def test_nvml_devices_from_fake_module(monkeypatch):
    nv = fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", nv)
    info = fingerprint.nvml_info()
    assert info["available"] is True and info["driver_version"] == "550.54.15"
    assert info["cuda_driver_version"] == 12040 and info["device_count"] == 2
    h100, rtx = info["devices"]
    assert h100["name"] == "NVIDIA H100 80GB HBM3" and h100["compute_capability"] == "9.0"
    assert h100["memory_total_bytes"] == 80 * 2**30 and h100["serial"] == "1650"
    assert h100["clocks_mhz"] == {"graphics": 1000, "sm": 1010, "memory": 1020}
    assert h100["max_clocks_mhz"] == {"graphics": 2000, "sm": 2010, "memory": 2020}
    assert h100["ecc"] == {"current": True, "pending": True}
    assert rtx["compute_capability"] == "8.9" and rtx["ecc"] is None and rtx["serial"] is None
    assert rtx["mig_mode"] is None
    assert nv.shutdowns == 1
    json.dumps(info, allow_nan=False)


@pytest.mark.parametrize(
    "kwargs, stage",
    [
        ({"init_error": FakeNVMLError("NVML Shared Library Not Found")}, "init"),
        ({"init_error": OSError("libnvidia-ml.so.1: cannot open shared object file")}, "init"),
        ({"count_error": FakeNVMLError("Driver Not Loaded")}, "query"),
    ],
)
def test_nvml_errors_never_escape(monkeypatch, kwargs, stage):
    nv = fake_pynvml(**kwargs)
    monkeypatch.setitem(sys.modules, "pynvml", nv)
    info = fingerprint.nvml_info()
    assert info["available"] is False
    error = kwargs.get("init_error") or kwargs.get("count_error")
    assert str(error) in info["reason"] and stage in info["reason"]
    assert nv.shutdowns == (1 if stage == "query" else 0)  # shut down only what was initialised


def test_nvml_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    info = fingerprint.nvml_info()
    assert info["available"] is False and "nvidia-ml-py" in info["reason"]


def test_summary_with_fake_gpu(no_git_tree, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())
    fp = fingerprint.collect()
    s = fingerprint.summary(fp)
    assert s["device"] == "NVIDIA H100 80GB HBM3, NVIDIA GeForce RTX 4090"
    assert s["driver"] == "550.54.15"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in s.items())
    # Current clocks are volatile: ignored by VOLATILE_KEYS, never strict.
    other = copy.deepcopy(fp)
    other["nvml"]["devices"][0]["clocks_mhz"]["sm"] += 100
    assert [k for k, _, _ in fingerprint.diff(fp, other)] == ["nvml.devices.0.clocks_mhz.sm"]
    assert fingerprint.diff(fp, other, ignore=fingerprint.VOLATILE_KEYS) == []
    assert fingerprint.matches_for_strict(fp, other) == (True, [])
    other["nvml"]["devices"][1]["name"] = "NVIDIA A100-SXM4-80GB"
    assert fingerprint.matches_for_strict(fp, other) == (False, ["nvml.devices.1.name"])


def test_summary_cpu_only(fp_outside_git):
    import torch

    s = fingerprint.summary(fp_outside_git)
    assert s["torch"] == torch.__version__ and s["commit"] == "none"
    if not fp_outside_git["nvml"].get("available") and not torch.cuda.is_available():
        assert s["device"] == "cpu"
    assert s["threads"] == f"{torch.get_num_threads()}/{torch.get_num_interop_threads()}"
    assert fingerprint.summary({}) == {k: ("cpu" if k == "device" else "none") if k != "threads" else "none/none"
                                       for k in s}


# ---------------------------------------------------------------- git


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_and_dirty(no_git_tree):
    repo = no_git_tree
    assert gitstate.git_info() is None  # not a work tree yet
    _git(repo, "init", "-q")
    assert gitstate.git_info() is None  # a repository without a commit: no HEAD
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert gitstate.git_info() == {"commit": head, "dirty": False, "dirty_code": False}
    (repo / "a.py").write_text("x = 2\n")
    assert gitstate.git_info() == {"commit": head, "dirty": True, "dirty_code": True}
    assert fingerprint.collect()["git"] == {"commit": head, "dirty": True, "dirty_code": True}
    assert fingerprint.summary(fingerprint.collect())["commit"] == head[:12] + "-dirty"


def test_git_missing_is_null(no_git_tree, monkeypatch):
    monkeypatch.setenv("PATH", str(no_git_tree))  # no git executable reachable
    assert gitstate.git_info() is None


# ---------------------------------------------------------------- diff


def test_diff_changed_added_removed():
    a = {"torch": {"version": "2.13.0", "cuda": None}, "cpu": {"flags": ["avx", "sse2"]}, "gone": 1}
    b = {"torch": {"version": "2.12.1", "cuda": None}, "cpu": {"flags": ["sse2"]}, "new": {"x": True}}
    assert fingerprint.diff(a, b) == [
        ("cpu.flags", ["avx", "sse2"], ["sse2"]),
        ("gone", 1, fingerprint.MISSING),
        ("new.x", fingerprint.MISSING, True),
        ("torch.version", "2.13.0", "2.12.1"),
    ]
    assert fingerprint.diff(a, b, ignore=["cpu", "new.*", "g*"]) == [("torch.version", "2.13.0", "2.12.1")]


def test_diff_distinguishes_null_from_missing_and_types():
    assert fingerprint.diff({"k": None}, {}) == [("k", None, fingerprint.MISSING)]
    assert fingerprint.diff({"k": 1}, {"k": True}) == [("k", 1, True)]  # 1 == True in Python, not here
    assert fingerprint.diff({"k": {}}, {"k": {"a": 1}}) == [("k", {}, fingerprint.MISSING),
                                                            ("k.a", fingerprint.MISSING, 1)]


def test_diff_rejects_non_dicts():
    with pytest.raises(ValueError, match="two fingerprint dicts"):
        fingerprint.diff([], {})


json_leaf = st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab", max_size=2)
json_tree = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text("xyz", min_size=1, max_size=2), children, max_size=3),
    max_leaves=12,
)
fingerprints = st.dictionaries(st.text("xyz", min_size=1, max_size=2), json_tree, max_size=4)


@settings(max_examples=150, deadline=None)
@given(fingerprints, fingerprints)
def test_diff_laws(a, b):
    d = fingerprint.diff(a, b)
    keys = [k for k, _, _ in d]
    assert keys == sorted(set(keys))  # sorted, one row per key
    assert fingerprint.diff(a, a) == []
    assert (d == []) == (json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True))
    assert fingerprint.diff(b, a) == [(k, vb, va) for k, va, vb in d]  # antisymmetric
    flat_a = fingerprint.flatten(a)
    for key, va, vb in d:
        assert va == flat_a.get(key, fingerprint.MISSING)


# ---------------------------------------------------------------- strict matching


@pytest.mark.parametrize(
    "path, value, strict",
    [
        (("torch", "version"), "0.0.0", True),
        (("torch", "build", "blas_info"), "open", True),
        (("numpy", "blas", "version"), "0.0", True),
        (("cpu", "model"), "Some Other CPU", True),
        (("threads", "torch_intra_op"), 999, True),
        (("env", "OMP_NUM_THREADS"), "3", True),
        (("numerics", "cudnn_benchmark"), "changed", True),
        (("cpu", "flags"), ["only_this_flag"], False),
        (("cpu", "platform"), "Linux-other-kernel", False),
        (("git",), {"commit": "0" * 40, "dirty": False}, False),
    ],
)
def test_matches_for_strict(fp_outside_git, path, value, strict):
    assert fingerprint.matches_for_strict(fp_outside_git, fp_outside_git) == (True, [])
    other = copy.deepcopy(fp_outside_git)
    node = other
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    ok, keys = fingerprint.matches_for_strict(fp_outside_git, other)
    assert ok is not strict
    assert bool(keys) is strict and all(k.startswith(".".join(path)) for k in keys)


def test_strict_keys_name_real_fields(fp_outside_git):
    # Every strict pattern that is not GPU-only must name a field this machine's fingerprint has,
    # so a typo in STRICT_KEYS cannot silently weaken the gate.
    flat = fingerprint.flatten(fp_outside_git)
    for pattern in fingerprint.STRICT_KEYS:
        if pattern.startswith(("nvml.", "cuda.devices")) or pattern == "speed":  # speed: non-default runs only
            continue
        assert any(fingerprint.is_strict_key(k) and (k == pattern or k.startswith(pattern + ".")) for k in flat), \
            pattern


# ---------------------------------------------------------------- CLI


@pytest.fixture
def env_cli_only(monkeypatch):
    """Build the CLI with only the ``env`` subcommand: these tests are about ``repro env``, and a
    half-written sibling subcommand must not fail them (repro.cli.main itself still runs)."""
    import repro.cli

    monkeypatch.setattr(repro.cli, "SUBCOMMANDS", ("env",))


def test_cli_env_summarises_and_prints_json_on_request(env_cli_only, no_git_tree, capsys):
    assert main(["env"]) == 0
    text = capsys.readouterr().out
    assert len(text.splitlines()) < 20 and "torch" in text and "repro env --json" in text


def test_cli_env_prints_and_writes(env_cli_only, no_git_tree, capsys):
    out = no_git_tree / "sub" / "fp.json"
    assert main(["env", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert printed == written
    assert fingerprint.diff(written, fingerprint.collect(), ignore=fingerprint.VOLATILE_KEYS) == []
    assert [p.name for p in out.parent.iterdir()] == ["fp.json"]  # no temp file left behind


def test_cli_env_diff(env_cli_only, tmp_path, capsys):
    a = {"torch": {"version": "2.13.0"}, "env": {"MKL_CBWR": None}, "only_a": 1}
    b = {"torch": {"version": "2.12.0"}, "env": {"MKL_CBWR": "AVX2"}}
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a))
    pb.write_text(json.dumps(b))
    assert main(["env", "--diff", str(pa), str(pb)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ['env.MKL_CBWR\tnull\t"AVX2"', "only_a\t1\t<missing>", 'torch.version\t"2.13.0"\t"2.12.0"']
    assert main(["env", "--diff", str(pa), str(pb), "--ignore", "env", "--ignore", "only_*"]) == 0
    assert capsys.readouterr().out.splitlines() == ['torch.version\t"2.13.0"\t"2.12.0"']
    assert main(["env", "--diff", str(pa), str(pa)]) == 0
    assert capsys.readouterr().out.strip() == "no differences"


@pytest.mark.parametrize("content", ['{"torch": {"version": ', "[1, 2]", None])
def test_cli_env_diff_bad_file(env_cli_only, tmp_path, capsys, content):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text("{}")
    if content is not None:
        bad.write_text(content)
    assert main(["env", "--diff", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("repro: error:") and str(bad) in err and len(err.strip().splitlines()) == 1


def test_cli_env_bad_option_combinations(env_cli_only, tmp_path, capsys):
    assert main(["env", "--ignore", "env"]) == 2
    assert "--ignore" in capsys.readouterr().err
    (tmp_path / "a.json").write_text("{}")
    assert main(["env", "--diff", str(tmp_path / "a.json"), str(tmp_path / "a.json"), "--out", "x.json"]) == 2
    assert "--out" in capsys.readouterr().err


def test_speed_settings_are_strict_and_absent_by_default(fp_outside_git):
    # a default run's fingerprint has no "speed" (fingerprints of earlier baselines still match);
    # one with fused Adam never strictly matches it, so a gate falls back to the noise band
    assert "speed" not in fp_outside_git
    fast = {**fp_outside_git, "speed": {"adam_impl": "fused"}}
    ok, keys = fingerprint.matches_for_strict(fp_outside_git, fast)
    assert not ok and keys == ["speed.adam_impl"]
