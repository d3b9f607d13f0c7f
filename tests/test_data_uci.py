"""UCI collection: registry facts, folds and loaded arrays against the real files.

Tests that need the real files read them from ``$CONVEXBENCH_DATA_DIR`` (CI sets it to
``../shared/data``) and are skipped when it is unset.  The bundled datasets work without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from convexbench.data import cache, dataset_info, load_dataset, select_uci, uci
from convexbench.data.registry import registry
from convexbench.errors import UnavailableError, UserError

_ENV = os.environ.get("CONVEXBENCH_DATA_DIR")
MIRROR = Path(_ENV).resolve() if _ENV else None
needs_mirror = pytest.mark.skipif(
    MIRROR is None or not (MIRROR / "uci").is_dir(),
    reason="CONVEXBENCH_DATA_DIR is not set to a data mirror",
)
ALL = sorted(registry("uci")["datasets"])


pytestmark = pytest.mark.usefixtures("offline_data")


def _read_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Independent reader: np.loadtxt, dropping the 1-based index column."""
    table = np.loadtxt(path, skiprows=1, ndmin=2)
    np.testing.assert_array_equal(table[:, 0], np.arange(1, table.shape[0] + 1))
    return table[:, 1:-1], table[:, -1].astype(int)


def _read_lines(path: Path) -> list[np.ndarray]:
    return [np.array(line.split(), dtype=int) for line in path.read_text().splitlines()]


def test_registry_covers_111_datasets_with_full_metadata():
    assert len(ALL) == 111
    fam = registry("uci")["family"]
    assert fam["licence"] and fam["citation"] and fam["urls"]
    for name in ALL:
        info = registry("uci")["datasets"][name]
        assert info["n"] == sum(info["class_counts"])
        assert info["task"] == ("binary" if info["classes"] == 2 else "multiclass")
        assert {"conxuntos.dat", "conxuntos_kfold.dat"} <= set(info["files"])
        assert all(len(sha) == 64 for sha in info["files"].values())
    assert set(uci.CORE_BINARY) <= set(ALL)


@needs_mirror
@pytest.mark.parametrize("name", ALL)
def test_fold1_matches_the_files_exactly(name, mirror):
    folder = mirror / "uci" / name
    info = registry("uci")["datasets"][name]
    split = info["layout"] == "train-test"
    X, labels = _read_file(folder / (f"{name}_train_R.dat" if split else f"{name}_R.dat"))
    kfold = _read_lines(folder / "conxuntos_kfold.dat")
    half = _read_lines(folder / "conxuntos.dat")
    assert len(kfold) == 8 and len(half) == 2
    assert [len(kfold[2 * k + 1]) for k in range(4)] == info["fold_test_sizes"]
    assert [len(kfold[2 * k]) for k in range(4)] == info["fold_train_sizes"]
    assert [len(h) for h in half] == info["half_sizes"]
    all_labels = labels
    if split:
        X_test_file, labels_test = _read_file(folder / f"{name}_test_R.dat")
        all_labels = np.concatenate([labels, labels_test])
        assert (X.shape[0], X_test_file.shape[0]) == (info["n_train_file"], info["n_test_file"])
    assert X.shape[1] == info["d"]
    np.testing.assert_array_equal(
        np.bincount(all_labels, minlength=info["classes"]), info["class_counts"]
    )

    data = load_dataset(f"uci:{name},std=none")
    train, test = kfold[0], kfold[1]
    assert (data.n_train, data.n_test, data.d) == (len(train), len(test), info["d"])
    np.testing.assert_allclose(data.X_train, X[train], rtol=0, atol=0)
    np.testing.assert_allclose(data.X_test, X[test], rtol=0, atol=0)
    if info["classes"] == 2:
        assert data.task == "binary"
        np.testing.assert_array_equal(data.y_train, np.where(labels[train] == 1, 1.0, -1.0))
    else:
        assert data.task == "multiclass" and data.n_classes == info["classes"]
        np.testing.assert_array_equal(data.y_test, labels[test].astype(float))
    assert data.meta["sha256_ok"] is True


@needs_mirror
@pytest.mark.parametrize("name", ["blood", "wine", "monks-2", "zoo", "thyroid"])
def test_every_fold_and_half_and_official_split(name, mirror):
    folder = mirror / "uci" / name
    info = registry("uci")["datasets"][name]
    kfold = _read_lines(folder / "conxuntos_kfold.dat")
    for k in range(1, 5):
        data = load_dataset(f"uci:{name},fold={k}")
        assert data.n_train == len(kfold[2 * k - 2]) and data.n_test == len(kfold[2 * k - 1])
        assert data.meta["test_rows"] == kfold[2 * k - 1].tolist()
        # train-only standardization: exact on train, not forced on test
        np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-10)
    half = load_dataset(f"uci:{name},fold=half")
    assert (half.n_train, half.n_test) == tuple(info["half_sizes"])
    if info["layout"] == "train-test":
        official = load_dataset(f"uci:{name},fold=official")
        assert (official.n_train, official.n_test) == (info["n_train_file"], info["n_test_file"])
    else:
        with pytest.raises(UserError, match="no official"):
            load_dataset(f"uci:{name},fold=official")


def test_bundled_datasets_load_without_mirror_or_network():
    bundled = [n for n in ALL if registry("uci")["datasets"][n].get("bundled")]
    assert len(bundled) >= 6
    for name in bundled:
        data = load_dataset(f"uci:{name}")
        info = registry("uci")["datasets"][name]
        assert data.meta["source"] == "bundled" and data.meta["sha256_ok"] is True
        assert data.task == "binary" and info["n"] <= 1000
        assert data.n_test == info["fold_test_sizes"][0]
        assert set(np.unique(data.y_train)) <= {-1.0, 1.0}


def test_blood_numbers():
    data = load_dataset("uci:blood")
    assert (data.n_train, data.n_test, data.d) == (561, 187, 4)
    assert data.n_train + data.n_test == 748
    info = dataset_info("uci:blood")
    assert info["n_train"] == 561 and info["sha256_ok"] is True and info["source"] == "bundled"


def test_missing_dataset_offline_names_import_and_env_var():
    with pytest.raises(UnavailableError) as err:
        load_dataset("uci:abalone")
    message = str(err.value)
    assert "convexbench datasets import" in message and "CONVEXBENCH_DATA_DIR" in message
    assert "\n" not in message
    info = dataset_info("uci:abalone,fold=2")
    assert (info["n_train"], info["n_test"], info["sha256_ok"]) == (3133, 1044, None)


def test_unknown_name_suggests():
    with pytest.raises(UserError, match="did you mean 'blood'"):
        load_dataset("uci:bloood")
    with pytest.raises(UserError, match="fold"):
        load_dataset("uci:blood,fold=5")


def test_select_small_binary():
    small = select_uci(task="binary", max_n=1000)
    assert "uci:blood" in small and "uci:bank" not in small
    for name in small:
        info = registry("uci")["datasets"][name.split(":", 1)[1]]
        assert info["task"] == "binary" and info["n"] <= 1000
    assert len(select_uci(core=True)) == 32


@needs_mirror
def test_corrupted_mirror_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "mirror" / "uci" / "abalone"
    copy.mkdir(parents=True)
    for f in (MIRROR / "uci" / "abalone").iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    data = bytearray((copy / "abalone_R.dat").read_bytes())
    data[1000] ^= 0x01
    (copy / "abalone_R.dat").write_bytes(bytes(data))
    monkeypatch.setenv("CONVEXBENCH_DATA_DIR", str(tmp_path / "mirror"))
    with pytest.raises(cache.ChecksumError, match="checksum mismatch"):
        load_dataset("uci:abalone")
