"""digits: the embedded default (scikit-learn's 8x8 digits at 16x16), and the load()/registry contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import repro.data as data


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path / "cache"))


def test_registry_names_and_unknown_name():
    assert data.REGISTRY.names() == ("digits", "cifar10", "celeba_hq_128", "lsun_bedroom", "folder")
    with pytest.raises(ValueError, match="valid dataset names: digits, cifar10"):
        data.load("mnist", "train")
    with pytest.raises(ValueError, match="valid choices: train, test"):
        data.load("digits", "val")
    with pytest.raises(ValueError, match="valid choices: bilinear16, nearest16"):
        data.load("digits", "train", recipe="bicubic")
    with pytest.raises(ValueError, match="takes no root"):
        data.load("digits", "train", root="/tmp")


def test_counts_shape_range_labels():
    raw = load_digits()
    train, test = data.load("digits", "train"), data.load("digits", "test")
    assert len(train) + len(test) == raw.images.shape[0]
    assert (len(train), len(test)) == (1442, 355)  # the documented sizes
    assert train.shape == test.shape == (1, 16, 16)
    assert train.recipe == "bilinear16"
    x = train.batch(np.arange(len(train)))
    assert x.dtype == torch.float32 and tuple(x.shape) == (len(train), 1, 16, 16)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert train.labels.dtype == np.int64 and train.labels.shape == (len(train),)


def test_split_is_stratified_disjoint_and_deterministic():
    labels = load_digits().target
    parts = data.digits.split_indices(labels)
    assert np.intersect1d(parts["train"], parts["test"]).size == 0
    assert np.union1d(parts["train"], parts["test"]).size == labels.size
    for c in range(10):
        n_c = int((labels == c).sum())
        assert int((labels[parts["test"]] == c).sum()) == n_c // 5  # 20% of every class
    again = data.digits.split_indices(labels.copy())
    np.testing.assert_array_equal(parts["test"], again["test"])
    test = data.load("digits", "test")
    np.testing.assert_array_equal(test.labels, labels[parts["test"]])


def _bilinear_x2_reference(img: np.ndarray) -> np.ndarray:
    """Literal half-pixel-centre bilinear 2x upsampling (align_corners=False), edge-clamped."""
    h, w = img.shape
    out = np.empty((2 * h, 2 * w), dtype=np.float64)
    for i in range(2 * h):
        for j in range(2 * w):
            y = max((i + 0.5) / 2 - 0.5, 0.0)
            x = max((j + 0.5) / 2 - 0.5, 0.0)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = ((1 - dy) * (1 - dx) * img[y0, x0] + (1 - dy) * dx * img[y0, x1]
                         + dy * (1 - dx) * img[y1, x0] + dy * dx * img[y1, x1])
    return out


def test_recipes_match_their_documented_filters():
    raw = load_digits()
    idx = data.digits.split_indices(raw.target)["train"][:3]
    bil = data.load("digits", "train").batch([0, 1, 2])
    near = data.load("digits", "train", recipe="nearest16").batch([0, 1, 2])
    for k, i in enumerate(idx):
        src = raw.images[i] / 16.0
        # float32 (library) vs float64 (reference) arithmetic: a few ulps at values <= 1.
        torch.testing.assert_close(bil[k, 0], torch.from_numpy(_bilinear_x2_reference(src)).float(), rtol=0, atol=1e-6)
        torch.testing.assert_close(near[k, 0], torch.from_numpy(np.kron(src, np.ones((2, 2)))).float(), rtol=0, atol=0)
    assert not torch.equal(bil, near)


def test_batch_iteration_and_index_errors():
    train = data.load("digits", "train")
    chunks = list(train.iter_batches(500))
    assert [c.shape[0] for c in chunks] == [500, 500, 442]
    torch.testing.assert_close(torch.cat(chunks), train.batch(np.arange(len(train))), rtol=0, atol=0)
    torch.testing.assert_close(train.batch(torch.tensor([3, 1])), train.batch([3, 1]), rtol=0, atol=0)
    assert train.batch([]).shape == (0, 1, 16, 16)
    with pytest.raises(ValueError, match="out of range"):
        train.batch([len(train)])
    with pytest.raises(ValueError, match="out of range"):
        train.batch([-1])
    with pytest.raises(ValueError, match="integers"):
        train.batch([0.5])
    with pytest.raises(ValueError, match="batch_size"):
        next(train.iter_batches(0))
    x = train.batch([0])
    x += 1  # batches are copies: the dataset is unchanged
    assert float(train.batch([0]).max()) <= 1.0


def test_fingerprint_is_content_hash_and_describe():
    train = data.load("digits", "train")
    fp = train.fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert fp == data.load("digits", "train").fingerprint()
    assert fp != data.load("digits", "test").fingerprint()
    assert fp != data.load("digits", "train", recipe="nearest16").fingerprint()
    # Independent recomputation of the documented formula.
    import hashlib

    x = train.batch(np.arange(len(train))).numpy().astype("<f4")
    h = hashlib.sha256(f"repro-data-v1\n{len(train)},1,16,16\n".encode())
    h.update(x.tobytes())
    assert fp == h.hexdigest()
    d = train.describe()
    assert d["name"] == "digits" and d["split"] == "train" and d["n"] == len(train)
    assert d["shape"] == [1, 16, 16] and d["recipe"] == "bilinear16" and d["fingerprint"] == fp
    assert d["min"] == float(x.min()) and d["max"] == float(x.max())
    assert all(not isinstance(v, dict) for v in d.values())  # flat


def test_getitem_works_as_torch_dataset():
    train = data.load("digits", "train")
    loader = torch.utils.data.DataLoader(train, batch_size=8, shuffle=False)
    first = next(iter(loader))
    torch.testing.assert_close(first, train.batch(np.arange(8)), rtol=0, atol=0)
