"""Any OpenML dataset by id or name, through the ``openml`` package, cached.

Name: ``openml:<id or name>[,test=0.25][,std=train|none]`` e.g. ``openml:31``,
``openml:credit-g``.

The first load fetches the dataset with ``openml.datasets.get_dataset`` (its own cache goes to
``<cache>/openml/package``), converts it to numbers (categorical features one-hot, the default
target) and stores ``openml/<id or name>.npz`` plus a ``.json`` sidecar holding the npz sha256
in the convexbench cache.  Later loads read that file (from ``$CONVEXBENCH_DATA_DIR/openml/``
first, then the cache) after checking its sha256, so they work offline.  With neither copy and
no network the loader raises :class:`~convexbench.errors.UnavailableError` naming
``convexbench datasets import`` and ``CONVEXBENCH_DATA_DIR``.

Split: a seeded split with ``test`` fraction of the rows (stratified for classification);
missing values are imputed with training-column means; features are standardized with training
statistics (``std=train``, default).  Classification targets with two classes give ``±1`` (the
second class in sorted order is ``+1``), more classes give ``0..C-1`` in sorted order.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from convexbench.arrays import to_pm1
from convexbench.data.cache import (
    OFFLINE_HINT,
    ChecksumError,
    cache_dir,
    mirror_dir,
    sha256_bytes,
)
from convexbench.data.dataset import Dataset
from convexbench.data.registry import DatasetSpec, Options, family_table, registry
from convexbench.data.splits import rng_for, standardize, stratified_split
from convexbench.errors import UnavailableError, UserError

__all__ = ["convert", "load", "stored_copies"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _key(spec: DatasetSpec) -> str:
    if not _KEY.match(spec.name):
        raise UserError(f"bad OpenML id or name {spec.name!r}")
    return spec.name


def _fetch_openml(ident: int | str) -> tuple[pd.DataFrame, pd.Series, dict[str, Any]]:
    """Download through the openml package (tests replace this: they never go online)."""
    try:
        import openml
    except ImportError:
        raise UnavailableError(
            "the openml package is not installed (pip install openml); "
            f"alternatively {OFFLINE_HINT}"
        ) from None
    package_cache = cache_dir() / "openml" / "package"
    package_cache.mkdir(parents=True, exist_ok=True)
    openml.config.set_root_cache_directory(str(package_cache))
    try:
        dataset = openml.datasets.get_dataset(
            ident, download_data=True, download_qualities=False,
            download_features_meta_data=False,
        )
        target = dataset.default_target_attribute
        X, y, _, _ = dataset.get_data(target=target, dataset_format="dataframe")
    except Exception as exc:  # network, server or parsing errors all mean "unavailable"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnavailableError(
            f"could not fetch OpenML dataset {ident!r} ({first_line}); {OFFLINE_HINT}"
        ) from None
    info = {
        "openml_id": int(dataset.dataset_id), "openml_name": dataset.name,
        "version": dataset.version, "target": target, "licence": dataset.licence,
        "citation": dataset.citation, "url": dataset.url,
    }
    return X, y, info


def convert(X: pd.DataFrame, y: pd.Series, info: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """Numeric npz bytes (X with one-hot categoricals, y) and the sidecar metadata."""
    categorical = [c for c in X.columns
                   if isinstance(X[c].dtype, pd.CategoricalDtype) or X[c].dtype == object
                   or X[c].dtype == bool]
    numeric = pd.get_dummies(X, columns=categorical, dtype=np.float64, dummy_na=False)
    features = numeric.to_numpy(dtype=np.float64)
    if y is None:
        raise UserError(f"OpenML dataset {info.get('openml_id')} has no default target")
    if isinstance(y.dtype, pd.CategoricalDtype) or y.dtype == object or y.dtype == bool:
        task = "classification"
        if y.isna().any():
            keep = ~y.isna().to_numpy()
            features, y = features[keep], y[keep]
        class_names = sorted(map(str, pd.unique(y.astype(str))))
        codes = np.searchsorted(class_names, y.astype(str).to_numpy()).astype(np.float64)
        target = codes
    else:
        task = "regression"
        class_names = []
        target = y.to_numpy(dtype=np.float64)
        keep = np.isfinite(target)
        features, target = features[keep], target[keep]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=features, y=target)
    data = buffer.getvalue()
    sidecar = {**info, "task": task, "class_names": class_names,
               "feature_names": [str(c) for c in numeric.columns],
               "n": int(features.shape[0]), "d": int(features.shape[1]),
               "sha256": sha256_bytes(data)}
    return data, sidecar


def _read_stored(base: Path, key: str, origin: str) -> tuple[bytes, dict[str, Any]] | None:
    npz, sidecar = base / "openml" / f"{key}.npz", base / "openml" / f"{key}.json"
    if not (npz.is_file() and sidecar.is_file()):
        return None
    meta = json.loads(sidecar.read_text())
    data = npz.read_bytes()
    if sha256_bytes(data) != meta.get("sha256"):
        raise ChecksumError(
            f"checksum mismatch for {origin} copy {npz}: it differs from the sha256 in its "
            "sidecar .json; the file is corrupted and was not used"
        )
    meta["_origin"], meta["_location"] = origin, str(npz)
    return data, meta


def stored_copies() -> list[tuple[str, Path]]:
    """``(origin, npz path)`` of every stored OpenML conversion (mirror and cache)."""
    out = []
    for origin, base in (("mirror", mirror_dir()), ("cache", cache_dir())):
        if base is not None and (base / "openml").is_dir():
            out += [(origin, p) for p in sorted((base / "openml").glob("*.npz"))]
    return out


def _obtain(key: str, allow_download: bool) -> tuple[bytes, dict[str, Any]]:
    for origin, base in (("mirror", mirror_dir()), ("cache", cache_dir())):
        if base is not None:
            found = _read_stored(base, key, origin)
            if found is not None:
                return found
    if not allow_download:
        raise UnavailableError(f"OpenML dataset {key!r} is not available offline; {OFFLINE_HINT}")
    X, y, info = _fetch_openml(int(key) if key.isdigit() else key)
    data, meta = convert(X, y, info)
    folder = cache_dir() / "openml"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key}.npz").write_bytes(data)
    (folder / f"{key}.json").write_text(json.dumps(meta, indent=1) + "\n")
    meta["_origin"], meta["_location"] = "download", str(info.get("url"))
    return data, meta


def load(spec: DatasetSpec, seed: int = 0, *, allow_download: bool = True) -> Dataset:
    """Load ``openml:<id or name>`` (see module doc)."""
    key = _key(spec)
    opts = Options(spec, {"test", "std"})
    test = opts.real("test", 0.25)
    std = opts.choice("std", "train", ("train", "none"))
    data, info = _obtain(key, allow_download)
    with np.load(io.BytesIO(data)) as arrays:
        X, y = arrays["X"], arrays["y"]
    if info["task"] == "classification":
        train, test_rows = stratified_split(y, test, seed)
    else:
        perm = rng_for(seed, 0x0E11).permutation(y.size)
        n_test = int(round(test * y.size))
        if not 0 < n_test < y.size:
            raise UserError(f"test={test} leaves an empty part for n={y.size}")
        train, test_rows = np.sort(perm[n_test:]), np.sort(perm[:n_test])
    X_train, X_test = X[train], X[test_rows]
    present = ~np.isnan(X_train)
    means = np.nansum(X_train, axis=0) / np.maximum(present.sum(axis=0), 1)
    X_train = np.where(np.isnan(X_train), means, X_train)
    X_test = np.where(np.isnan(X_test), means, X_test)
    if std == "train":
        X_train, X_test, _ = standardize(X_train, X_test)
    class_names = info.get("class_names") or []
    if info["task"] == "regression":
        task = "regression"
        y_train, y_test = y[train], y[test_rows]
    elif len(class_names) == 2:
        task = "binary"
        y_train, y_test = to_pm1(y[train], 1), to_pm1(y[test_rows], 1)
    else:
        task = "multiclass"
        y_train, y_test = y[train], y[test_rows]
    fam = family_table("openml")
    meta: dict[str, Any] = {
        "family": "openml",
        "source": info["_origin"],
        "locations": {"npz": info["_location"]},
        "sha256_ok": True,
        "sha256": {f"openml/{key}.npz": info["sha256"]},
        "licence": info.get("licence") or fam["licence"],
        "citation": info.get("citation") or fam["citation"],
        "openml_id": info.get("openml_id"),
        "openml_name": info.get("openml_name"),
        "seed": seed,
        "options": spec.option_dict,
        "split": f"seeded {'stratified ' if task != 'regression' else ''}split, "
        f"test fraction {test}",
        "classes": class_names or None,
        "label_map": ({class_names[1]: 1.0, class_names[0]: -1.0} if task == "binary"
                      else "sorted class names" if task == "multiclass" else None),
        "standardization": "train mean/std after train-mean imputation" if std == "train"
        else "none (train-mean imputation only)",
        "train_rows": train.tolist(),
        "test_rows": test_rows.tolist(),
    }
    return Dataset(name=spec.canonical, X_train=X_train, y_train=y_train, X_test=X_test,
                   y_test=y_test, task=task, meta=meta)


def availability(key: str) -> str:
    """``mirror``/``cached`` if a converted copy exists, else ``download``."""
    for origin, base in (("mirror", mirror_dir()), ("cached", cache_dir())):
        if base is not None and (base / "openml" / f"{key}.npz").is_file():
            return origin
    return "download"


def listing() -> list[dict[str, Any]]:
    """Rows of ``list_datasets`` for the registry's suggested OpenML datasets."""
    rows = []
    for key, info in registry("openml")["datasets"].items():
        rows.append({"name": f"openml:{key}", "family": "openml", "n": info["n"],
                     "d": info["d"], "classes": info["classes"], "task": info["task"],
                     "availability": availability(key), "description": info["description"]})
    return rows


def info_without_loading(spec: DatasetSpec) -> dict[str, Any]:
    """Sizes from the registry when the dataset is one of the suggested ones."""
    entry = registry("openml")["datasets"].get(spec.name)
    if entry is None:
        raise UnavailableError(
            f"OpenML dataset {spec.name!r} is not available offline; {OFFLINE_HINT}"
        )
    return {"n_train": None, "n_test": None, "d": entry["d"], "classes": entry["classes"],
            "task": entry["task"]}
