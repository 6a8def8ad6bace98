"""folder, celeba_hq_128 and lsun_bedroom: listing, splits, recipes, LMDB, errors, fingerprint cache."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from data_fixtures import encode, random_rgb, write_image_folder, write_lmdb
from PIL import Image

import repro.data as data
from repro.data import fingerprint as fp_module
from repro.data.images import Recipe


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path / "cache"))
    for var in ("REPRO_FOLDER_ROOT", "REPRO_CELEBA_HQ_128_ROOT", "REPRO_LSUN_BEDROOM_ROOT",
                "REPRO_CELEBA_HQ_128_TEST_SIZE", "REPRO_LSUN_BEDROOM_TEST_SIZE"):
        monkeypatch.delenv(var, raising=False)


def _as_tensor(arrs):
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float() / 255.0


# ---------------------------------------------------------------- recipes
def test_center_crop_is_the_compare_gan_offset_rule():
    arr = random_rgb(np.random.default_rng(1), 9, 12)
    out = Recipe("center_crop", 4).apply(Image.fromarray(arr), "x")
    np.testing.assert_array_equal(out, arr[(9 - 4) // 2:(9 - 4) // 2 + 4, (12 - 4) // 2:(12 - 4) // 2 + 4])
    with pytest.raises(ValueError, match="smaller than the 16x16 central crop"):
        Recipe("center_crop", 16).apply(Image.fromarray(arr), "x.png")


def test_center_crop_resize_is_square_crop_then_pillow_bilinear():
    arr = random_rgb(np.random.default_rng(2), 10, 16)
    out = Recipe("center_crop_resize", 5).apply(Image.fromarray(arr), "x")
    square = arr[:, 3:13]
    want = np.asarray(Image.fromarray(square).resize((5, 5), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(out, want)
    nearest = np.asarray(Image.fromarray(square).resize((5, 5), Image.Resampling.NEAREST))
    assert not np.array_equal(out, nearest)  # the filter is really bilinear


def test_exact_refuses_other_sizes():
    img = Image.fromarray(random_rgb(np.random.default_rng(0), 8, 6))
    with pytest.raises(ValueError, match=r"a\.png is 6x8, recipe 'exact' needs 8x8; it is refused"):
        Recipe("exact", 8).apply(img, "a.png")


# ---------------------------------------------------------------- folder
def test_folder_recursive_sorted_every_tenth_is_test(tmp_path):
    names = [f"sub{i % 3}/img_{i:02d}.png" for i in range(25)]
    pixels = write_image_folder(tmp_path / "f", names, 6, 6)
    (tmp_path / "f" / "notes.txt").write_text("not an image")
    order = sorted(names)
    train, test = data.load("folder", "train", root=str(tmp_path / "f")), data.load("folder", "test", root=str(tmp_path / "f"))
    assert (len(train), len(test)) == (23, 2) and train.shape == (3, 6, 6) and train.labels is None
    torch.testing.assert_close(test.batch([0, 1]), _as_tensor([pixels[order[9]], pixels[order[19]]]), rtol=0, atol=0)
    got = torch.cat(list(train.iter_batches(4)))
    want = _as_tensor([pixels[n] for i, n in enumerate(order) if i % 10 != 9])
    torch.testing.assert_close(got, want, rtol=0, atol=0)  # PNG is lossless: exact


def test_folder_train_test_subfolders_and_recipes(tmp_path, monkeypatch):
    write_image_folder(tmp_path / "f", [f"train/{i}.png" for i in range(3)] + ["test/a.png"], 10, 12)
    monkeypatch.setenv("REPRO_FOLDER_ROOT", str(tmp_path / "f"))
    assert (len(data.load("folder", "train", recipe="center_crop_8")), len(data.load("folder", "test", recipe="center_crop_8"))) == (3, 1)
    with pytest.raises(ValueError, match="needs square images"):
        data.load("folder", "train")
    ds = data.load("folder", "test", recipe="center_crop_resize_4")
    assert ds.shape == (3, 4, 4) and ds.recipe == "center_crop_resize_4"
    for bad in ("center_crop", "exact_4", "resize_4", "center_crop_0"):
        with pytest.raises(ValueError, match="valid: exact, center_crop_<S>, center_crop_resize_<S>"):
            data.load("folder", "train", recipe=bad)


def test_folder_mixed_sizes_refused_with_exact(tmp_path):
    write_image_folder(tmp_path / "f", [f"{i}.png" for i in range(3)], 8, 8)
    write_image_folder(tmp_path / "f", ["9.png"], 9, 9)
    train = data.load("folder", "train", root=str(tmp_path / "f"))
    with pytest.raises(ValueError, match=r"9\.png is 9x9, recipe 'exact' needs 8x8"):
        train.batch([3])


def test_corrupt_image_names_the_file(tmp_path):
    write_image_folder(tmp_path / "f", [f"{i}.png" for i in range(3)], 8, 8)
    path = tmp_path / "f" / "1.png"
    path.write_bytes(path.read_bytes()[:40])
    train = data.load("folder", "train", root=str(tmp_path / "f"))
    with pytest.raises(ValueError, match=r"corrupt or truncated image .*1\.png"):
        train.batch([1])


def test_missing_root_names_option_variable_and_layout():
    for name, var in (("folder", "REPRO_FOLDER_ROOT"), ("celeba_hq_128", "REPRO_CELEBA_HQ_128_ROOT"),
                      ("lsun_bedroom", "REPRO_LSUN_BEDROOM_ROOT")):
        with pytest.raises(ValueError, match=rf"{var} or pass root=PATH .*--data-root PATH on repro train.*Expected layout"):
            data.load(name, "train")


# ---------------------------------------------------------------- celeba_hq_128
def test_celeba_last_files_are_test_and_wrong_size_refused(tmp_path, monkeypatch):
    root = tmp_path / "celeba"
    write_image_folder(root, [f"{i:05d}.png" for i in range(6)], 128, 128)
    with pytest.raises(ValueError, match="holds 6 images, not more than the test split of 3000"):
        data.load("celeba_hq_128", "train", root=str(root))
    monkeypatch.setenv("REPRO_CELEBA_HQ_128_TEST_SIZE", "2")
    train, test = (data.load("celeba_hq_128", s, root=str(root)) for s in ("train", "test"))
    assert (len(train), len(test)) == (4, 2) and test.shape == (3, 128, 128) and test.recipe == "exact"
    assert test.describe()["test_size"] == 2 and test.describe()["expected_n"] == 3000
    assert [p.name for p in (test.path(0), test.path(1))] == ["00004.png", "00005.png"]
    write_image_folder(root, ["00001.png"], 256, 256)  # a full-size image among the 128s
    with pytest.raises(ValueError, match=r"00001\.png is 256x256, recipe 'exact' needs 128x128"):
        train.batch([1])
    resized = data.load("celeba_hq_128", "train", root=str(root), recipe="center_crop_resize")
    assert resized.batch([1]).shape == (1, 3, 128, 128)


def test_celeba_split_file(tmp_path):
    root = tmp_path / "celeba"
    write_image_folder(root, [f"{i}.png" for i in range(5)], 128, 128)
    (root / "test_files.txt").write_text("3.png\n0.png\n")
    test = data.load("celeba_hq_128", "test", root=str(root))
    assert [test.path(i).name for i in range(len(test))] == ["0.png", "3.png"]
    assert len(data.load("celeba_hq_128", "train", root=str(root))) == 3
    (root / "test_files.txt").write_text("7.png\n")
    with pytest.raises(ValueError, match="lists 1 file.* not found.*7.png"):
        data.load("celeba_hq_128", "test", root=str(root))


# ---------------------------------------------------------------- lsun_bedroom
def _lsun_lmdb(tmp_path, n=7, h=140, w=180, fmt="PNG"):
    rng = np.random.default_rng(5)
    arrays = {f"{k:040x}".encode(): random_rgb(rng, h, w) for k in rng.permutation(1000)[:n]}
    write_lmdb(tmp_path / "bedroom_train_lmdb", {k: encode(v, fmt) for k, v in arrays.items()})
    return tmp_path, arrays


def test_lsun_lmdb_split_and_recipes(tmp_path, monkeypatch):
    root, arrays = _lsun_lmdb(tmp_path)
    with pytest.raises(ValueError, match=r"holds only 7 images.*30588.*REPRO_LSUN_BEDROOM_TEST_SIZE"):
        data.load("lsun_bedroom", "train", root=str(root))
    monkeypatch.setenv("REPRO_LSUN_BEDROOM_TEST_SIZE", "3")
    train, test = (data.load("lsun_bedroom", s, root=str(root)) for s in ("train", "test"))
    assert (len(train), len(test)) == (4, 3) and train.shape == (3, 128, 128) and train.recipe == "compare_gan"
    d = test.describe()
    assert d["format"] == "lmdb" and d["test_size"] == 3 and d["total_n"] == 7 and d["split_rule"].startswith("the last 3")
    keys = sorted(arrays)  # LMDB key order = sorted bytes; the last 3 are test
    crop = [arrays[k][6:134, 26:154] for k in keys[4:]]  # (140-128)//2 = 6, (180-128)//2 = 26
    torch.testing.assert_close(test.batch([0, 1, 2]), _as_tensor(crop), rtol=0, atol=0)
    resized = data.load("lsun_bedroom", "train", root=str(root), recipe="center_crop_resize")
    want = np.asarray(Image.fromarray(arrays[keys[0]][:, 20:160]).resize((128, 128), Image.Resampling.BILINEAR))
    torch.testing.assert_close(resized.batch([0]), _as_tensor([want]), rtol=0, atol=0)
    assert resized.fingerprint() != train.fingerprint()


def test_lsun_lmdb_webp_decodes_and_index_is_memory_mapped(tmp_path, monkeypatch):
    root, arrays = _lsun_lmdb(tmp_path, n=3, fmt="WEBP")
    monkeypatch.setenv("REPRO_LSUN_BEDROOM_TEST_SIZE", "1")
    train = data.load("lsun_bedroom", "train", root=str(root / "bedroom_train_lmdb"))
    assert isinstance(train._keys, np.memmap)  # the key index is not held in RAM
    first = sorted(arrays)[0]
    # lossless webp round-trips RGB exactly
    torch.testing.assert_close(train.batch([0]), _as_tensor([arrays[first][6:134, 26:154]]), rtol=0, atol=0)


def test_lsun_folder_form_and_corrupt_value(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_LSUN_BEDROOM_TEST_SIZE", "1")
    write_image_folder(tmp_path / "imgs", ["a/1.png", "b/2.png"], 128, 130)
    test = data.load("lsun_bedroom", "test", root=str(tmp_path / "imgs"))
    assert len(test) == 1 and test.describe()["format"] == "folder" and test.path(0).name == "2.png"
    bad_root = tmp_path / "bad"
    write_lmdb(bad_root, {b"k1": b"not an image", b"k2": encode(random_rgb(np.random.default_rng(0), 128, 128))})
    train = data.load("lsun_bedroom", "train", root=str(bad_root))
    with pytest.raises(ValueError, match=r"corrupt or truncated image .*data\.mdb\[key k1\]"):
        train.batch([0])


# ---------------------------------------------------------------- fingerprint cache
def test_fingerprint_cached_by_file_stats(tmp_path, monkeypatch):
    root = tmp_path / "f"
    write_image_folder(root, [f"{i}.png" for i in range(4)], 8, 8)
    first = data.load("folder", "train", root=str(root)).fingerprint()
    calls = []
    real = fp_module.hash_batches
    monkeypatch.setattr(fp_module, "hash_batches", lambda *a: calls.append(1) or real(*a))
    assert data.load("folder", "train", root=str(root)).fingerprint() == first
    assert calls == []  # served from the cache
    write_image_folder(root, ["1.png"], 8, 8, seed=9)  # new content: size/mtime change the key
    st = os.stat(root / "1.png")
    os.utime(root / "1.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = data.load("folder", "train", root=str(root)).fingerprint()
    assert calls == [1] and second != first


def test_lsun_split_pickles_without_its_key_index(tmp_path, monkeypatch):
    import pickle

    root, arrays = _lsun_lmdb(tmp_path, n=3)
    monkeypatch.setenv("REPRO_LSUN_BEDROOM_TEST_SIZE", "1")
    train = data.load("lsun_bedroom", "train", root=str(root))
    blob = pickle.dumps(train)  # what a DataLoader worker receives
    assert not any(key in blob for key in arrays)  # the keys stay in the memory-mapped index file
    clone = pickle.loads(blob)
    assert isinstance(clone._keys, np.memmap)
    torch.testing.assert_close(clone.batch([0, 1]), train.batch([0, 1]), rtol=0, atol=0)


# ---------------------------------------------------------------- issue 14: bombs and deep pixels
def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (no pixel data needed to trip the guard)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # we refuse it; the warning adds nothing
def test_decompression_bomb_in_a_folder_is_one_clear_error(tmp_path, monkeypatch):
    folder = tmp_path / "f"
    write_image_folder(folder, [f"{i}.png" for i in range(3)], 8, 8)
    (folder / "0.png").write_bytes(_png_header_only(100_000, 100_000))  # 1e10 pixels: Pillow raises
    with pytest.raises(ValueError, match=r"0\.png refused as a decompression bomb"):
        data.load("folder", "train", root=str(folder))
    # between 1x and 2x the limit Pillow only warns and decodes; we refuse it too
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    (folder / "0.png").unlink()
    train = data.load("folder", "train", root=str(folder), recipe="center_crop_4")
    with pytest.raises(ValueError, match=r"1\.png is 8x8 = 64 pixels, above the decompression-bomb limit of 50"):
        train.batch([0])


def _save(img: Image.Image, path, fmt: str):
    img.save(path, fmt)
    return path


def test_sixteen_bit_png_keeps_its_high_byte_not_clipped(tmp_path):
    from repro.data.images import decode

    grey = np.array([[0, 255, 256, 51500], [65535, 32768, 1000, 65280]], dtype=np.uint16)
    path = _save(Image.fromarray(grey), tmp_path / "g16.png", "PNG")
    assert Image.open(path).mode.startswith("I")  # Pillow reads it as 16-bit
    out = np.asarray(decode(str(path), "g16.png"))
    assert out.shape == (2, 4, 3) and out.dtype == np.uint8
    # v >> 8 per pixel; Pillow's own convert("RGB") clips every value above 255 to 255
    np.testing.assert_array_equal(out[..., 0], grey >> 8)
    assert (out[..., 0] == out[..., 2]).all()
    assert np.asarray(Image.open(path).convert("RGB"))[0, 3, 0] == 255  # what we no longer do


def test_float_and_32_bit_tiffs_are_refused(tmp_path):
    from repro.data.images import decode

    floats = _save(Image.fromarray(np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)), tmp_path / "f.tif", "TIFF")
    with pytest.raises(ValueError, match=r"f\.tif has mode 'F' \(floating-point pixels\).*refused rather than clipped"):
        decode(str(floats), "f.tif")
    ints = _save(Image.fromarray((np.arange(16) * 10_000).astype(np.int32).reshape(4, 4)), tmp_path / "i.tif", "TIFF")
    with pytest.raises(ValueError, match=r"i\.tif has mode 'I' \(32-bit integer pixels\)"):
        decode(str(ints), "i.tif")
    # in a folder dataset the batch names the file
    folder = tmp_path / "d"
    write_image_folder(folder, ["a.png", "b.png"], 4, 4)
    os.replace(floats, folder / "c.tif")
    split = data.load("folder", "train", root=str(folder))
    with pytest.raises(ValueError, match=r"c\.tif has mode 'F'"):
        split.batch([2])
