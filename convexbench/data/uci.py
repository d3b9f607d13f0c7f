"""The UCI collection of Fernández-Delgado et al. (JMLR 2014), with its official folds.

Names: ``uci:<name>[,fold=1|2|3|4|half|official][,std=train|none]``.

* ``fold=k`` (default 1): rows of line ``2k-1`` of ``conxuntos_kfold.dat`` train, line ``2k``
  test (the 4-fold cross-validation of the paper);
* ``fold=half``: the two lines of ``conxuntos.dat`` (train / test halves used by the authors
  for hyper-parameter selection);
* ``fold=official``: for the 16 datasets shipped with a UCI train/test split only, the whole
  ``<name>_train_R.dat`` as train and ``<name>_test_R.dat`` as test.  For those datasets the
  fold indices point into ``<name>_train_R.dat``.

Features in the files were already standardized by Fernández-Delgado et al. on the whole file
(train and test rows together).  By default (``std=train``) the loader re-standardizes with the
statistics of the training rows only, as every loader here does; ``std=none`` returns the
authors' values unchanged.  Labels: binary tasks map file class 1 to +1 and class 0 to -1;
multi-class labels are the file's 0-based class ids.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from convexbench.arrays import to_pm1
from convexbench.data.cache import DataFile, Fetched, fetch, locate
from convexbench.data.dataset import Dataset
from convexbench.data.registry import DatasetSpec, Options, family_table, registry, suggest
from convexbench.data.splits import standardize
from convexbench.errors import UserError

__all__ = ["BUNDLE", "CORE_BINARY", "data_files", "entry", "load", "parse_indices",
           "parse_r_dat", "select"]

BUNDLE = "uci_small.zip"
# the 32 small binary datasets the convex-NN literature uses (all present in the registry)
CORE_BINARY = (
    "acute-inflammation", "acute-nephritis", "breast-cancer", "breast-cancer-wisc", "blood",
    "credit-approval", "cylinder-bands", "fertility", "heart-hungarian", "hepatitis",
    "hill-valley", "horse-colic", "ilpd-indian-liver", "mammographic", "monks-1", "monks-2",
    "monks-3", "parkinsons", "planning", "pima", "spectf", "statlog-australian-credit",
    "statlog-german-credit", "statlog-heart", "tic-tac-toe", "titanic",
    "vertebral-column-2clases", "ionosphere", "musk-1", "echocardiogram",
    "congressional-voting", "conn-bench-sonar-mines-rocks",
)


def parse_r_dat(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Parse a ``<name>_R.dat`` file: ``(X (n, d) float64, labels (n,) int64)``.

    The header is ``<tab>f1 ... fd<tab>clase``; each row is a 1-based index, d features and
    the 0-based class.  Raises ValueError on any deviation.
    """
    frame = pd.read_csv(io.BytesIO(data), sep="\t", header=0, index_col=0, dtype=np.float64)
    if frame.columns[-1].strip() != "clase":
        raise ValueError("last column is not 'clase'")
    values = frame.to_numpy(dtype=np.float64)
    index = frame.index.to_numpy()
    if not np.array_equal(index, np.arange(1, len(index) + 1)):
        raise ValueError("row index is not 1..n")
    if not np.isfinite(values).all():
        raise ValueError("non-finite values")
    labels = values[:, -1]
    if not np.array_equal(labels, np.rint(labels)) or (labels < 0).any():
        raise ValueError("class labels are not non-negative integers")
    return np.ascontiguousarray(values[:, :-1]), labels.astype(np.int64)


def parse_indices(data: bytes) -> list[np.ndarray]:
    """Parse ``conxuntos*.dat``: one int64 array of 0-based row indices per line."""
    lines = data.decode("ascii").strip("\n").split("\n")
    return [np.array(line.split(), dtype=np.int64) for line in lines]


def entry(name: str) -> dict[str, Any]:
    """Registry entry of dataset ``name``; UserError if unknown."""
    datasets = registry("uci")["datasets"]
    if name not in datasets:
        raise UserError(f"unknown UCI dataset {name!r}{suggest(name, list(datasets))}")
    return datasets[name]


def data_files(name: str) -> list[DataFile]:
    """The :class:`DataFile` records of dataset ``name`` (data files and fold files)."""
    info = entry(name)
    fam = family_table("uci")
    bundle = BUNDLE if info.get("bundled") else None
    return [
        DataFile(
            relpath=f"uci/{name}/{filename}",
            sha256=sha,
            urls=tuple(fam["urls"]),
            archive_member=f"{name}/{filename}",
            bundle=bundle,
        )
        for filename, sha in info["files"].items()
    ]


def all_data_files() -> list[DataFile]:
    """Every UCI file in the registry."""
    return [ref for name in registry("uci")["datasets"] for ref in data_files(name)]


def availability(name: str) -> str:
    """Worst availability over the dataset's files (bundled < mirror < cached < download)."""
    rank = {"bundled": 0, "mirror": 1, "cached": 2, "download": 3}
    return max((locate(ref) for ref in data_files(name)), key=rank.__getitem__)


def select(
    task: str | None = None,
    max_n: int | None = None,
    min_n: int | None = None,
    max_d: int | None = None,
    core: bool = False,
) -> list[str]:
    """Names (``uci:<name>``) of registry datasets matching all given filters, sorted.

    ``select(task="binary", max_n=1000)`` gives all binary datasets with n <= 1000 (n counts
    the rows of the single file, or of train + test files).  ``core=True`` keeps only
    :data:`CORE_BINARY`.
    """
    out = []
    for name, info in registry("uci")["datasets"].items():
        if task is not None and info["task"] != task:
            continue
        if max_n is not None and info["n"] > max_n:
            continue
        if min_n is not None and info["n"] < min_n:
            continue
        if max_d is not None and info["d"] > max_d:
            continue
        if core and name not in CORE_BINARY:
            continue
        out.append(f"uci:{name}")
    return sorted(out)


def _file_bytes(name: str, filename: str, fetched: dict[str, Fetched], allow_download: bool
                ) -> bytes:
    ref = next(r for r in data_files(name) if r.relpath.endswith("/" + filename))
    result = fetch(ref, allow_download=allow_download)
    fetched[ref.relpath] = result
    return result.data


def load(spec: DatasetSpec, seed: int = 0, *, allow_download: bool = True) -> Dataset:
    """Load ``uci:<name>`` with the requested fold (see module doc)."""
    info = entry(spec.name)
    opts = Options(spec, {"fold", "std"})
    fold = opts.choice("fold", "1", ("1", "2", "3", "4", "half", "official"))
    std = opts.choice("std", "train", ("train", "none"))
    split_layout = info["layout"] == "train-test"
    fetched: dict[str, Fetched] = {}
    name = spec.name
    base_file = f"{name}_train_R.dat" if split_layout else f"{name}_R.dat"
    X_base, lab_base = parse_r_dat(_file_bytes(name, base_file, fetched, allow_download))
    train_rows = test_rows = None
    if fold == "official":
        if not split_layout:
            raise UserError(
                f"uci:{name} has no official train/test split; use fold=1..4 or fold=half"
            )
        X_test, lab_test = parse_r_dat(
            _file_bytes(name, f"{name}_test_R.dat", fetched, allow_download)
        )
        X_train, lab_train = X_base, lab_base
        split = "official UCI split: <name>_train_R.dat / <name>_test_R.dat"
    else:
        if fold == "half":
            lines = parse_indices(_file_bytes(name, "conxuntos.dat", fetched, allow_download))
            train_rows, test_rows = lines[0], lines[1]
            split = "conxuntos.dat: line 1 train, line 2 test"
        else:
            k = int(fold)
            lines = parse_indices(
                _file_bytes(name, "conxuntos_kfold.dat", fetched, allow_download)
            )
            train_rows, test_rows = lines[2 * k - 2], lines[2 * k - 1]
            split = f"conxuntos_kfold.dat fold {k} of 4: line {2 * k - 1} train, line {2 * k} test"
        X_train, lab_train = X_base[train_rows], lab_base[train_rows]
        X_test, lab_test = X_base[test_rows], lab_base[test_rows]
    n_classes = int(info["classes"])
    if n_classes == 2:
        task = "binary"
        y_train, y_test = to_pm1(lab_train, 1), to_pm1(lab_test, 1)
    else:
        task = "multiclass"
        y_train, y_test = lab_train.astype(np.float64), lab_test.astype(np.float64)
    if std == "train":
        X_train, X_test, _ = standardize(X_train, X_test)
    fam = family_table("uci")
    meta: dict[str, Any] = {
        "family": "uci",
        "source": ", ".join(sorted({f.origin for f in fetched.values()})),
        "locations": {k: f.location for k, f in fetched.items()},
        "sha256_ok": True,  # fetch() verified every file
        "sha256": {k: info["files"][k.rsplit("/", 1)[-1]] for k in fetched},
        "licence": fam["licence"],
        "citation": fam["citation"],
        "split": split,
        "fold": fold,
        "seed": seed,
        "options": spec.option_dict,
        "classes": list(range(n_classes)),
        "label_map": {"1": 1.0, "0": -1.0} if task == "binary" else "file class id",
        "standardization": (
            "re-standardized with training-part mean/std (the authors' file was standardized "
            "on all rows)" if std == "train" else "authors' standardization (all rows), as in file"
        ),
        "train_rows": None if train_rows is None else train_rows.tolist(),
        "test_rows": None if test_rows is None else test_rows.tolist(),
    }
    return Dataset(
        name=spec.canonical, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        task=task, meta=meta,
    )


def listing() -> list[dict[str, Any]]:
    """One row per registry dataset for ``list_datasets``."""
    return [
        {
            "name": f"uci:{name}", "family": "uci", "n": info["n"], "d": info["d"],
            "classes": info["classes"], "task": info["task"], "availability": availability(name),
        }
        for name, info in registry("uci")["datasets"].items()
    ]


def info_without_loading(spec: DatasetSpec) -> dict[str, Any]:
    """Sizes from the registry alone (used when the files are not available offline)."""
    info = entry(spec.name)
    opts = Options(spec, {"fold", "std"})
    fold = opts.choice("fold", "1", ("1", "2", "3", "4", "half", "official"))
    if fold == "official":
        if info["layout"] != "train-test":
            raise UserError(f"uci:{spec.name} has no official train/test split")
        n_train, n_test = info["n_train_file"], info["n_test_file"]
    elif fold == "half":
        n_train, n_test = info["half_sizes"]
    else:
        n_train = info["fold_train_sizes"][int(fold) - 1]
        n_test = info["fold_test_sizes"][int(fold) - 1]
    return {"n_train": n_train, "n_test": n_test, "d": info["d"], "classes": info["classes"],
            "task": info["task"]}
