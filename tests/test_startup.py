"""Start-up: what a command imports (checked in fresh interpreters), the digits cache, and the
determinism switch without Inductor. Times are measured by benchmarks/startup.py, not here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

# Never at start-up: each costs 0.1-1.5 s of CPU and no command needs it before doing its work.
HEAVY = ("sklearn", "scipy", "mlflow", "matplotlib", "dvc", "torch._dynamo", "torch._inductor")


def _imported_after(code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; return which HEAVY modules (and torch) it imported."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps({{m: m in sys.modules for m in {HEAVY + ('torch',)!r}}}))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cli_import_and_parser_import_nothing_heavy():
    loaded = _imported_after("import repro.cli\nrepro.cli.build_parser()")
    assert not any(loaded.values()), loaded  # `repro --help` does not even import torch


def test_help_and_version_exit_0_without_torch():
    loaded = _imported_after("import repro.cli\n"
                             "for argv in (['--version'], ['train', '--help']):\n"
                             "    try:\n        repro.cli.main(argv)\n"
                             "    except SystemExit as e:\n        assert e.code == 0, e.code")
    assert not any(loaded.values()), loaded


def test_execution_mode_does_not_load_inductor():
    loaded = _imported_after("import torch\nfrom repro.determinism import execution_mode\n"
                             "with execution_mode('deterministic'):\n"
                             "    assert torch.are_deterministic_algorithms_enabled()\n"
                             "assert not torch.are_deterministic_algorithms_enabled()")
    assert loaded["torch"] and not loaded["torch._inductor"]


def test_inductor_flag_follows_the_mode_once_loaded():
    import torch._inductor.config as inductor_config

    from repro.determinism import execution_mode, sync_inductor

    before = inductor_config.deterministic
    with execution_mode("deterministic"):
        assert inductor_config.deterministic is True
        with execution_mode("nondeterministic"):
            assert inductor_config.deterministic is False
        assert inductor_config.deterministic is True  # restored by the inner context
        inductor_config.deterministic = False
        sync_inductor()  # what a compiled run calls before compiling
        assert inductor_config.deterministic is True
    assert inductor_config.deterministic is before


def test_short_train_run_imports_nothing_heavy(tmp_path):
    env = {"REPRO_CACHE_DIR": str(tmp_path / "cache")}
    run = ("from repro.cli import main\n"
           f"code = main(['train', '--out', {str(tmp_path / 'r')!r}, '--quiet', '--steps', '1', '--set', "
           "'width=0.0625', '--set', 'batch_size=8', '--set', 'device=cpu'])\n"
           "assert code == 0, code")
    first = _imported_after(run, env)  # cold digits cache: scikit-learn reads the data once
    assert first["sklearn"]
    run = run.replace("'--steps', '1'", "'--steps', '1', '--force'")
    loaded = _imported_after(run, env)
    assert loaded["torch"] and not any(loaded[m] for m in HEAVY), loaded


# ---------------------------------------------------------------- digits cache


def test_digits_cache_is_exact_and_skips_sklearn_when_warm(tmp_path):
    from sklearn.datasets import load_digits

    env = {"REPRO_CACHE_DIR": str(tmp_path)}
    dump = ("from repro.data import digits\nimages, labels = digits._raw()\n"
            f"import numpy as np\nnp.savez({str(tmp_path / 'out.npz')!r}, images=images, labels=labels)")
    assert _imported_after(dump, env)["sklearn"]  # cold: built from scikit-learn, then cached
    cached = list((tmp_path / "digits").glob("digits-*.npz"))
    assert len(cached) == 1 and cached[0].stat().st_size < 100_000
    assert not _imported_after(dump, env)["sklearn"]  # warm
    got = np.load(tmp_path / "out.npz")
    raw = load_digits()
    assert got["images"].dtype == np.float32 and np.array_equal(got["images"], raw.images.astype(np.float32))
    assert np.array_equal(got["labels"], raw.target)


def test_digits_cache_key_is_the_source_content_and_a_corrupt_entry_is_rebuilt(tmp_path, monkeypatch):
    import hashlib

    from repro.data import digits

    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path))
    path = digits.cache_path()
    assert path.name == f"digits-{hashlib.sha256(digits.source_file().read_bytes()).hexdigest()[:16]}.npz"
    digits._raw.cache_clear()
    try:
        expected = digits._raw()
        path.write_bytes(path.read_bytes()[:50])  # truncated entry
        digits._raw.cache_clear()
        again = digits._raw()
        assert all(np.array_equal(a, b) for a, b in zip(expected, again))
        assert np.load(path)["images"].shape == (1797, 8, 8)  # rewritten whole
    finally:
        digits._raw.cache_clear()


# ---------------------------------------------------------------- command line


def test_help_prints_each_default_once_and_none_for_required(capsys):
    from repro.cli import main

    for command in (["train"], ["audit"], ["scan"], ["evaluate"], ["gate"]):
        with pytest.raises(SystemExit) as exc:
            main([*command, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert "(default: None)" not in text and "(default: [])" not in text and "(default: False)" not in text
        # never "(default 200) (default: 200)"
        assert not re.search(r"\(default[^()]*\) \(default", " ".join(text.split())), command


def test_version(capsys):
    from repro import __version__
    from repro.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"repro {__version__} (torch {torch.__version__}")


def test_misspelled_names_get_close_suggestions(capsys):
    from repro.cli import main
    from repro.gan.presets import PRESETS

    with pytest.raises(ValueError, match=r"did you mean resnet_all\b") as exc:
        PRESETS.get("resnet_al")
    assert len(str(exc.value)) < 300 and f"{len(PRESETS.names())} valid variant names" in str(exc.value)
    with pytest.raises(SystemExit):
        main(["trian"])
    assert "did you mean train" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--mode", "determinstic", "--out", "x"])
    assert "did you mean deterministic" in capsys.readouterr().err


def test_missing_root_error_names_an_option_of_the_command(tmp_path, capsys, monkeypatch):
    from repro.cli import main

    monkeypatch.delenv("REPRO_CIFAR10_ROOT", raising=False)
    assert main(["train", "--dataset", "cifar10", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--data-root PATH" in err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--data-root PATH" in capsys.readouterr().out
    # and the option does what the error says: the root reaches the dataset
    assert main(["train", "--dataset", "cifar10", "--data-root", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "is not a folder" in err
