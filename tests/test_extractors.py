"""Feature extractors: registry, digits-cnn (deterministic training, >= 95%, cache), inception-v3-fid."""

import hashlib
import json

import numpy as np
import pytest
import torch

from repro.metrics.extractors import REGISTRY, digits_cnn, get
from repro.metrics.extractors.inception_v3 import (
    WEIGHTS_FILE,
    FIDInceptionV3,
    expected_state_shapes,
    load_inception_fid,
    resize_bilinear_tf1,
)


def test_registry_names_and_unknown():
    assert set(REGISTRY.names()) == {"digits-cnn", "inception-v3-fid"}
    with pytest.raises(ValueError, match="digits-cnn, inception-v3-fid"):
        get("vgg")


# ------------------------------------------------------------------ digits-cnn
@pytest.fixture(scope="module")
def trained():
    """Train once into the test session's cache (tests/conftest.py), about 15 s on 2 shared cores."""
    from repro.paths import cache_dir

    return digits_cnn.train_and_save(), cache_dir()


def test_digits_cnn_accuracy_and_content_address(trained):
    (path, sha, acc), cache = trained
    assert acc >= digits_cnn.MIN_TEST_ACCURACY  # the floor: 95% on the digits test split
    assert path.parent == cache / "extractors" and path.name.startswith("digits-cnn-")
    assert path == digits_cnn.default_path()  # key = recipe + train fingerprint
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha


def test_digits_cnn_training_is_deterministic_via_cli(trained, tmp_path, capsys):
    (path, sha, acc), _ = trained
    from repro.cli import main

    out = tmp_path / "digits.pt"
    assert main(["extractor", "train", "digits-cnn", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    # retraining gives the same bytes: explicit generators, 1 thread, deterministic algorithms,
    # and a file whose bytes do not depend on its name
    assert printed["sha256"] == sha == hashlib.sha256(out.read_bytes()).hexdigest()
    assert printed["test_accuracy"] == acc
    assert main(["extractor", "info", "digits-cnn", "--weights", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["weights_sha256"] == sha and info["dim"] == 64


def test_digits_cnn_training_leaves_global_state_alone(trained):
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    state = torch.get_rng_state()
    net = digits_cnn._new_net(torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == (threads, det)
    assert net.fc1.out_features == digits_cnn.FEATURE_DIM


def test_digits_cnn_get_uses_cache_and_extracts(trained):
    (path, sha, _), _ = trained
    from repro.data import load

    ext = get("digits-cnn")  # found in the cache: no retraining
    assert ext.weights_sha256 == sha and (ext.dim, ext.num_classes) == (64, 10)
    explicit = get("digits-cnn", weights=path)
    test = load("digits", "test")
    images = test.batch(np.arange(40))
    feats, logits = ext.extract(images)
    assert feats.shape == (40, 64) and logits.shape == (40, 10)
    assert feats.dtype == np.float64 and (feats >= 0).all()  # post-ReLU features
    np.testing.assert_array_equal(explicit.extract(images)[0], feats)
    # batching inside extract does not change the result beyond float32 rounding
    small = get("digits-cnn", weights=path, batch_size=7)
    np.testing.assert_allclose(small.extract(images)[0], feats, rtol=1e-5, atol=1e-5)
    assert (logits.argmax(1) == test.labels[:40]).mean() >= 0.9
    with pytest.raises(ValueError, match=r"expects \(N, 1, S, S\) images with S a multiple of 16"):
        ext.extract(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"multiple of 16"):
        ext.extract(torch.rand(2, 1, 24, 24))
    # 32x32 digits are area-averaged to 16x16: identical to extracting the pooled images
    big = torch.nn.functional.interpolate(images, scale_factor=2, mode="nearest")
    np.testing.assert_array_equal(ext.extract(big)[0], feats)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ext.extract(torch.full((2, 1, 16, 16), 2.0))


def test_digits_cnn_bad_weights_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        get("digits-cnn", weights=tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        get("digits-cnn", weights=tmp_path / "bad.pt")


# ------------------------------------------------------------------ inception-v3-fid
@pytest.fixture(scope="module")
def random_state():
    gen = torch.Generator().manual_seed(0)
    net = FIDInceptionV3()
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif value.is_floating_point():
            state[key] = torch.randn(value.shape, generator=gen) * 0.05
        else:
            state[key] = value
    return state


def test_inception_state_dict_layout():
    shapes = expected_state_shapes()
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert shapes["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1)
    assert shapes["fc.weight"] == (1008, 2048) and shapes["fc.bias"] == (1008,)
    assert not any(k.startswith("AuxLogits") for k in shapes)
    # Inception-v3's main path has 94 conv + batch-norm units: stem 5, 3 A x 7, B 4, 4 C x 10, D 6, 2 E x 9
    assert sum(k.endswith(".conv.weight") for k in shapes) == 5 + 3 * 7 + 4 + 4 * 10 + 6 + 2 * 9
    assert sum(k.endswith(".bn.running_var") for k in shapes) == 94


def test_inception_loads_random_state_and_extracts(random_state):
    ext = load_inception_fid(state_dict=random_state, batch_size=2)
    feats, logits = ext.extract(torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(1)))
    assert feats.shape == (3, 2048) and logits.shape == (3, 1008)
    assert np.isfinite(feats).all() and (feats >= 0).all()  # pool of ReLU outputs
    gray = ext.extract(torch.rand(2, 1, 16, 16))[0]
    assert gray.shape == (2, 2048)
    bad = dict(random_state)
    bad.pop("fc.bias")
    with pytest.raises(ValueError, match="missing.*fc.bias"):
        load_inception_fid(state_dict=bad)
    bad = {**random_state, "fc.weight": torch.zeros(1000, 2048)}
    with pytest.raises(ValueError, match="wrong shapes.*fc.weight"):
        load_inception_fid(state_dict=bad)


def test_inception_missing_file_message(tmp_path, monkeypatch):
    monkeypatch.delenv("REPRO_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ValueError) as err:
        get("inception-v3-fid")
    msg = str(err.value)
    assert WEIGHTS_FILE in msg and "6726825d" in msg and "REPRO_INCEPTION_WEIGHTS" in msg
    assert str(tmp_path / "hub" / "checkpoints") in msg


def test_inception_weights_from_env_file(tmp_path, monkeypatch, random_state):
    path = tmp_path / WEIGHTS_FILE
    torch.save(random_state, path)
    monkeypatch.setenv("REPRO_INCEPTION_WEIGHTS", str(path))
    with pytest.warns(UserWarning, match="does not start with 6726825d"):  # random weights: not the real file
        ext = get("inception-v3-fid")
    assert ext.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_tf1_resize_matches_hand_computation():
    x = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4).contiguous()
    out = resize_bilinear_tf1(x, 8)[0, 0, 0]
    # source coordinate = i * 4/8 (corner aligned, no half-pixel offset); the last one clamps
    torch.testing.assert_close(out, torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.0]), rtol=0, atol=0)
    down = resize_bilinear_tf1(torch.arange(9.0).view(1, 1, 3, 3), 2)[0, 0]
    torch.testing.assert_close(down, torch.tensor([[0.0, 1.5], [4.5, 6.0]]), rtol=0, atol=1e-6)


def test_inception_agrees_with_torch_fidelity(random_state, tmp_path):
    fidelity = pytest.importorskip(
        "torch_fidelity.feature_extractor_inceptionv3",
        reason="torch-fidelity is not installed here (and must not be installed); run where it is")
    path = tmp_path / "random-inception.pth"
    torch.save(random_state, path)
    ref = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                               feature_extractor_weights_path=str(path))
    pixels = torch.randint(0, 256, (2, 3, 64, 64), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    ours_f, ours_l = load_inception_fid(state_dict=random_state).extract(pixels.float() / 255)
    ref_f, ref_l = ref(pixels)
    # float32 networks of ~100 layers, same weights and same TF1 resize: agreement to 1e-4
    np.testing.assert_allclose(ours_f, ref_f.double().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours_l, ref_l.double().numpy(), rtol=1e-4, atol=1e-4)
