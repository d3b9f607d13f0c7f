"""Fashion-MNIST subsets: sizes, balance, seeds, official pixels, checksums.

Tests that need the official files read them from ``$CONVEXBENCH_DATA_DIR`` (skipped when
unset); the bundled pool is tested without it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from convexbench.data import cache, fashion_mnist, import_data, load_dataset, verify_data
from convexbench.data.registry import registry
from convexbench.errors import UnavailableError, UserError

_ENV = os.environ.get("CONVEXBENCH_DATA_DIR")
MIRROR = Path(_ENV).resolve() if _ENV else None
needs_mirror = pytest.mark.skipif(
    MIRROR is None or not (MIRROR / "fashion-mnist").is_dir(),
    reason="CONVEXBENCH_DATA_DIR is not set to a data mirror",
)
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


pytestmark = pytest.mark.usefixtures("offline_data")


@pytest.fixture(scope="module")
def official():
    """The official arrays, decoded independently of the package (gzip + frombuffer)."""
    if MIRROR is None:
        pytest.skip("CONVEXBENCH_DATA_DIR is not set")
    out = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        raw = gzip.decompress((MIRROR / "fashion-mnist" / f"{prefix}-images-idx3-ubyte.gz")
                              .read_bytes())
        out[f"{part}_images"] = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
        raw = gzip.decompress((MIRROR / "fashion-mnist" / f"{prefix}-labels-idx1-ubyte.gz")
                              .read_bytes())
        out[f"{part}_labels"] = np.frombuffer(raw, np.uint8, offset=8)
    return out


def _bundle_arrays():
    data = (resources.files("convexbench") / "bundled" / "fashion_mnist_subset.npz").read_bytes()
    with np.load(io.BytesIO(data)) as arrays:
        return {k: arrays[k] for k in arrays.files}


def _original_labels(data, part):
    """Original class ids of the rows, from the requested classes and the labels."""
    classes = data.meta["classes"]
    y = getattr(data, f"y_{part}")
    if data.task == "binary":
        return np.where(y > 0, classes[0], classes[1])
    return np.asarray(classes)[y.astype(int)]


def test_bundled_pair_offline_is_balanced_and_reproducible():
    data = load_dataset("fashion-mnist:0v9,n=100")
    assert (data.n_train, data.n_test, data.d, data.task) == (200, 200, 784, "binary")
    assert data.meta["source"] == "bundled" and data.meta["sha256_ok"] is True
    assert data.meta["classes"] == [0, 9]
    assert np.sum(data.y_train == 1) == 100 and np.sum(data.y_train == -1) == 100
    assert np.sum(data.y_test == 1) == 100 and np.sum(data.y_test == -1) == 100
    again = load_dataset("fashion-mnist:0v9,n=100")
    np.testing.assert_array_equal(data.X_train, again.X_train)
    assert data.meta["train_indices"] == again.meta["train_indices"]
    other = load_dataset("fashion-mnist:0v9,n=100", seed=1)
    assert set(other.meta["train_indices"]) != set(data.meta["train_indices"])
    # labels agree with the bundled (official) labels at the recorded indices
    bundle = _bundle_arrays()
    label_of = dict(zip(bundle["train_indices"].tolist(), bundle["train_labels"].tolist(),
                        strict=True))
    got = [label_of[i] for i in data.meta["train_indices"]]
    np.testing.assert_array_equal(got, _original_labels(data, "train"))
    assert len(set(data.meta["train_indices"])) == 200


def test_smaller_n_is_a_prefix_of_larger_n_per_class():
    small = load_dataset("fashion-mnist:3v4,n=20,n_test=10", seed=7)
    large = load_dataset("fashion-mnist:3v4,n=60,n_test=10", seed=7)
    for c in (3, 4):
        s = {i for i, l in zip(small.meta["train_indices"], _original_labels(small, "train"),
                               strict=True) if l == c}
        big = {i for i, l in zip(large.meta["train_indices"], _original_labels(large, "train"),
                                 strict=True) if l == c}
        assert len(s) == 20 and len(big) == 60 and s <= big


def test_multiclass_and_all_classes():
    data = load_dataset("fashion-mnist:2,5,7,n=30,n_test=20,size=14")
    assert (data.n_train, data.n_test, data.d, data.task) == (90, 60, 196, "multiclass")
    assert data.n_classes == 3 and data.meta["classes"] == [2, 5, 7]
    np.testing.assert_array_equal(np.bincount(data.y_train.astype(int)), [30, 30, 30])
    everything = load_dataset("fashion-mnist:all,n=10,n_test=5,size=7")
    assert everything.n_classes == 10 and everything.d == 49
    np.testing.assert_array_equal(np.bincount(everything.y_test.astype(int)), [5] * 10)


def test_normalization_and_pca_are_fitted_on_train():
    data = load_dataset("fashion-mnist:0v6,n=80,size=7")
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-10)
    stds = data.X_train.std(axis=0)
    assert np.all((np.abs(stds - 1.0) < 1e-8) | (stds == 0.0))
    pca = load_dataset("fashion-mnist:0v6,n=80,pca=12,norm=unit")
    assert pca.d == 12
    np.testing.assert_allclose(pca.X_train.mean(axis=0), 0.0, atol=1e-10)
    variances = pca.X_train.var(axis=0)
    assert np.all(np.diff(variances) <= 1e-12)  # principal components in decreasing order
    cov = np.cov(pca.X_train, rowvar=False)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-10)


@pytest.mark.parametrize(
    "name,match",
    [("fashion-mnist:3", "at least two"), ("fashion-mnist:3v3", "twice"),
     ("fashion-mnist:0v10", "0..9"), ("fashion-mnist:shoes", "class list"),
     ("fashion-mnist:0v9,n=6001", "only 6000"), ("fashion-mnist:0v9,n_test=1001", "only 1000"),
     ("fashion-mnist:0v9,size=9", "size"), ("fashion-mnist:0v9,n=5,pca=11", "pca"),
     ("fashion-mnist:0v9,n=0", ">= 1"), ("fashion-mnist:0v9,colour=1", "unknown option")],
)
def test_bad_subsets(name, match):
    with pytest.raises(UserError, match=match):
        load_dataset(name)


def test_big_subset_offline_is_unavailable_with_a_clear_message():
    with pytest.raises(UnavailableError) as err:
        load_dataset("fashion-mnist:0v9,n=400")
    assert "convexbench datasets import" in str(err.value)
    assert "CONVEXBENCH_DATA_DIR" in str(err.value)


def test_bundle_manifest_matches_registry_and_arrays():
    fam = registry("fashion-mnist")
    manifest = json.loads((resources.files("convexbench") / "bundled" /
                           "fashion_mnist_subset.json").read_text())
    for name, sha in manifest["source_files_sha256"].items():
        assert fam["files"][name]["sha256"] == sha
    bundle = _bundle_arrays()
    assert manifest["indices"]["train"] == bundle["train_indices"].tolist()
    np.testing.assert_array_equal(np.bincount(bundle["train_labels"]), [300] * 10)
    np.testing.assert_array_equal(np.bincount(bundle["test_labels"]), [100] * 10)
    assert bundle["train_images"].shape == (3000, 28, 28)
    assert bundle["train_images"].dtype == np.uint8
    package_dir = resources.files("convexbench") / "bundled"
    total = sum(p.stat().st_size for p in Path(str(package_dir)).iterdir() if p.is_file())
    assert total <= 2.5 * 2**20


@needs_mirror
def test_bundle_pixels_are_the_official_pixels(official):
    bundle = _bundle_arrays()
    for part in ("train", "test"):
        idx = bundle[f"{part}_indices"]
        np.testing.assert_array_equal(bundle[f"{part}_images"], official[f"{part}_images"][idx])
        np.testing.assert_array_equal(bundle[f"{part}_labels"], official[f"{part}_labels"][idx])


@needs_mirror
@pytest.mark.parametrize("name", ["fashion-mnist:0v9,n=100,norm=unit",
                                  "fashion-mnist:1,8,n=450,n_test=150,norm=unit",
                                  "fashion-mnist:4v6,n=500,size=7,norm=unit"])
def test_subsets_equal_the_official_pixels(name, mirror, official):
    data = load_dataset(name, seed=11)
    size = data.meta["size"]
    k = 28 // size
    for part in ("train", "test"):
        idx = np.array(data.meta[f"{part}_indices"])
        assert len(set(idx.tolist())) == idx.size
        labels = _original_labels(data, part)
        np.testing.assert_array_equal(official[f"{part}_labels"][idx], labels)
        images = official[f"{part}_images"][idx].astype(np.float64) / 255.0
        expected = images.reshape(-1, size, k, size, k).mean(axis=(2, 4)).reshape(idx.size, -1)
        np.testing.assert_allclose(getattr(data, f"X_{part}"), expected, rtol=0, atol=1e-12)
        counts = np.unique(labels, return_counts=True)[1]
        assert np.all(counts == counts[0])  # balanced
    per_class = data.meta["n_per_class"]
    assert data.n_train == per_class["train"] * len(data.meta["classes"])


@needs_mirror
def test_pool_subsets_do_not_depend_on_the_mirror(monkeypatch):
    offline = load_dataset("fashion-mnist:2v4,n=300", seed=5)
    monkeypatch.setenv("CONVEXBENCH_DATA_DIR", str(MIRROR))
    online = load_dataset("fashion-mnist:2v4,n=300", seed=5)
    np.testing.assert_array_equal(offline.X_train, online.X_train)
    assert offline.meta["train_indices"] == online.meta["train_indices"]
    big = load_dataset("fashion-mnist:2v4,n=301", seed=5)
    assert big.meta["tiers"]["train"] == "full" and "mirror" in big.meta["source"]


@needs_mirror
def test_full_official_files_load_fast(mirror):
    start = time.perf_counter()
    images, labels, fetched = fashion_mnist.load_official("train")
    elapsed = time.perf_counter() - start
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    np.testing.assert_array_equal(np.bincount(labels), [6000] * 10)
    assert all(f.origin == "mirror" for f in fetched)
    assert elapsed < 10.0


def _copy_mirror(dest: Path) -> Path:
    (dest / "fashion-mnist").mkdir(parents=True)
    for name in FILES:
        (dest / "fashion-mnist" / name).write_bytes((MIRROR / "fashion-mnist" / name).read_bytes())
    return dest


@needs_mirror
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_copy_is_refused_everywhere(tmp_path, monkeypatch, damage):
    copy = _copy_mirror(tmp_path / "copy")
    target = copy / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    data = bytearray(target.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x10
    else:
        data = data[:-100]
    target.write_bytes(bytes(data))
    monkeypatch.setenv("CONVEXBENCH_DATA_DIR", str(copy))
    with pytest.raises(cache.ChecksumError, match="checksum mismatch.*t10k-images"):
        load_dataset("fashion-mnist:0v9,n=100,n_test=200")
    # verify reports it, import refuses to copy it
    bad = [c for c in verify_data() if not c.ok]
    assert [c.relpath for c in bad] == ["fashion-mnist/t10k-images-idx3-ubyte.gz"]
    monkeypatch.delenv("CONVEXBENCH_DATA_DIR")
    report = import_data(copy)
    assert report.refused == ("fashion-mnist/t10k-images-idx3-ubyte.gz",)
    assert len(report.copied) == 3
    assert not (cache.cache_dir() / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").exists()
    # the training part is intact and now comes from the cache
    data = load_dataset("fashion-mnist:0v9,n=301")
    assert "cache" in data.meta["source"]


@needs_mirror
def test_corrupted_cache_file_is_refused(tmp_path):
    import_data(MIRROR)
    cached = cache.cache_dir() / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
    data = bytearray(cached.read_bytes())
    data[100] ^= 0x01
    cached.write_bytes(bytes(data))
    with pytest.raises(cache.ChecksumError):
        load_dataset("fashion-mnist:0v9,n=400")
