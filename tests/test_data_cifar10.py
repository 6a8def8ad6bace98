"""cifar10: binary and python formats, the restricted unpickler, and bad-input errors."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from data_fixtures import fake_cifar, write_cifar_binary, write_cifar_python

import repro.data as data
from repro.data.safe_pickle import load_data_pickle, loads_data


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REPRO_CIFAR10_ROOT", raising=False)


def _expected(batches, split):
    stems = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images = np.concatenate([batches[s][0] for s in stems]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([batches[s][1] for s in stems])
    return torch.from_numpy(images).float() / 255.0, labels


@pytest.mark.parametrize("fmt", ["binary", "python2", "python4", "python5"])
def test_both_formats_counts_values_labels(tmp_path, fmt):
    batches = fake_cifar(n_per_batch=3)
    if fmt == "binary":
        write_cifar_binary(tmp_path, batches)
    else:
        write_cifar_python(tmp_path, batches, protocol=int(fmt[-1]))
    for split, n in (("train", 15), ("test", 3)):
        ds = data.load("cifar10", split, root=str(tmp_path))
        assert len(ds) == n and ds.shape == (3, 32, 32) and ds.recipe == "div255"
        want_x, want_y = _expected(batches, split)
        # Exact: both sides are float32(x) / 255 of the same bytes (channel-planar R, G, B rows).
        torch.testing.assert_close(ds.batch(np.arange(n)), want_x, rtol=0, atol=0)
        np.testing.assert_array_equal(ds.labels, want_y)
        d = ds.describe()
        assert d["format"] == fmt.rstrip("245") and d["expected_n"] == {"train": 50000, "test": 10000}[split]
        assert d["complete"] is False and 0.0 <= d["min"] <= d["max"] <= 1.0


def test_binary_and_python_give_the_same_fingerprint(tmp_path):
    batches = fake_cifar(n_per_batch=2, seed=3)
    write_cifar_binary(tmp_path / "a", batches)
    write_cifar_python(tmp_path / "b", batches)
    fa = data.load("cifar10", "test", root=str(tmp_path / "a")).fingerprint()
    fb = data.load("cifar10", "test", root=str(tmp_path / "b" / "cifar-10-batches-py")).fingerprint()
    assert fa == fb


def test_env_var_root_and_missing_root_message(tmp_path, monkeypatch):
    with pytest.raises(ValueError) as err:
        data.load("cifar10", "train")
    msg = str(err.value)
    assert "root=" in msg and "REPRO_CIFAR10_ROOT" in msg and "cifar-10-batches-bin" in msg and "data_batch_1" in msg
    write_cifar_binary(tmp_path, fake_cifar(n_per_batch=1))
    monkeypatch.setenv("REPRO_CIFAR10_ROOT", str(tmp_path))
    assert len(data.load("cifar10", "train")) == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no CIFAR-10 batches found"):
        data.load("cifar10", "train", root=str(empty))


def test_truncated_and_missing_files_are_named(tmp_path):
    folder = write_cifar_binary(tmp_path, fake_cifar(n_per_batch=2))
    bad = folder / "data_batch_3.bin"
    bad.write_bytes(bad.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"truncated CIFAR-10 file .*data_batch_3\.bin"):
        data.load("cifar10", "train", root=str(tmp_path))
    (folder / "test_batch.bin").unlink()
    with pytest.raises(ValueError, match=r"missing file .*test_batch\.bin"):
        data.load("cifar10", "test", root=str(tmp_path))
    labels = folder / "data_batch_3.bin"
    rec = np.zeros(3073, np.uint8)
    rec[0] = 11
    labels.write_bytes(rec.tobytes())
    with pytest.raises(ValueError, match=r"data_batch_3\.bin: labels outside 0..9"):
        data.load("cifar10", "train", root=str(tmp_path))


def test_corrupt_python_batch_is_named(tmp_path):
    folder = write_cifar_python(tmp_path, fake_cifar(n_per_batch=2))
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"corrupt or truncated .*data_batch_2"):
        data.load("cifar10", "train", root=str(tmp_path))
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"data_batch_2: 'data' must be a uint8 array"):
        data.load("cifar10", "train", root=str(tmp_path))


class _Payload:
    """Unpickling this calls os.system: the classic pickle exploit."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, protocol):
    sentinel = tmp_path / "SENTINEL"
    folder = write_cifar_python(tmp_path, fake_cifar(n_per_batch=1))
    evil = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _Payload(f"touch {sentinel}")}
    (folder / "test_batch").write_bytes(pickle.dumps(evil, protocol=protocol))
    # The payload is live: plain pickle would run it (checked on a copy, then the sentinel is removed).
    with pytest.raises(ValueError, match=r"refused to unpickle .*test_batch: it references the global (posix|nt)\.system"):
        data.load("cifar10", "test", root=str(tmp_path))
    assert not sentinel.exists()
    pickle.loads(pickle.dumps(_Payload(f"touch {sentinel}")))  # noqa: S301 - proves the payload works
    assert sentinel.exists()


def test_restricted_unpickler_admits_only_data():
    arr = np.arange(24, dtype=np.uint8).reshape(4, 6)
    for protocol in range(6):
        out = loads_data(pickle.dumps({"a": arr, "b": [1, 2.5, "s", b"x", (None, True)], "c": {3}}, protocol=protocol))
        np.testing.assert_array_equal(out["a"], arr)
        assert out["b"] == [1, 2.5, "s", b"x", (None, True)] and out["c"] == {3}
    for obj in (os.getcwd, print, np.load, torch.zeros):
        with pytest.raises(ValueError, match="refused"):
            loads_data(pickle.dumps(obj))
    # _codecs.encode is admitted only as the latin-1 bytes constructor.
    forged = b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcq\x01X\x06\x00\x00\x00rot_13q\x02\x86q\x03Rq\x04."
    with pytest.raises(ValueError, match="latin1"):
        loads_data(forged)


def test_load_data_pickle_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read .*nope"):
        load_data_pickle(tmp_path / "nope")
