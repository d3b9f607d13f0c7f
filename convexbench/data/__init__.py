"""Datasets: synthetic teachers, the UCI collection, Fashion-MNIST subsets and OpenML.

Public API::

    load_dataset(name, seed=0) -> Dataset
    list_datasets() -> list[dict]      # name, family, n, d, classes, task, availability
    dataset_info(name) -> dict         # name, n_train, n_test, d, classes, source, sha256_ok...

Names are ``family:name[,key=value...]`` (full syntax in :mod:`convexbench.data.registry`)::

    synthetic:teacher2,n=200,d=10,noise=0.1,task=binary
    synthetic:lowrank,n=500,d=20,rank=3
    synthetic:spiral,n=200
    uci:blood          uci:blood,fold=2          uci:monks-1,fold=official
    fashion-mnist:0v9,n=200,size=7           fashion-mnist:0,1,2,pca=20
    openml:31          openml:credit-g

Files are taken from the package (bundled), ``$CONVEXBENCH_DATA_DIR`` (mirror), the cache
(``$CONVEXBENCH_CACHE``) or downloaded, in that order, and always checked against the sha256
in the registry (:mod:`convexbench.data.cache`).  ``availability`` is one of ``"bundled"``,
``"mirror"``, ``"cached"``, ``"download"``; synthetic recipes count as ``"bundled"`` (their
generator ships with the package).
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

from convexbench.arrays import to_pm1
from convexbench.data import fashion_mnist, openml_source, synthetic, uci
from convexbench.data.cache import (
    ChecksumError,
    DataFile,
    FileCheck,
    ImportReport,
    cache_dir,
    import_mirror,
    mirror_dir,
    verify_files,
)
from convexbench.data.dataset import Dataset
from convexbench.data.registry import FAMILIES, DatasetSpec, family_table, parse_name
from convexbench.data.splits import one_hot, one_vs_rest, standardize, stratified_split
from convexbench.errors import UnavailableError, UserError

__all__ = [
    "FAMILIES",
    "ChecksumError",
    "Dataset",
    "DatasetSpec",
    "all_data_files",
    "cache_dir",
    "dataset_info",
    "import_data",
    "list_datasets",
    "load_dataset",
    "mirror_dir",
    "one_hot",
    "one_vs_rest",
    "parse_name",
    "select_uci",
    "standardize",
    "stratified_split",
    "to_pm1",
    "verify_data",
]

_FAMILY_MODULES: dict[str, Any] = {
    "synthetic": synthetic,
    "uci": uci,
    "fashion-mnist": fashion_mnist,
    "openml": openml_source,
}

select_uci = uci.select


def load_dataset(name: str, seed: int = 0, *, allow_download: bool = True) -> Dataset:
    """Load dataset ``name`` (see module doc) with the given seed (default 0).

    Raises :class:`~convexbench.errors.UserError` for unknown names and bad options,
    :class:`ChecksumError` for corrupted files and
    :class:`~convexbench.errors.UnavailableError` when the data cannot be obtained.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    spec = parse_name(name)
    return _FAMILY_MODULES[spec.family].load(spec, seed, allow_download=allow_download)


def list_datasets(family: str | None = None) -> list[dict[str, Any]]:
    """Registry rows: name, family, n, d, classes, task, availability (+ description).

    Never downloads anything; availability is decided from file existence.
    """
    if family is not None and family not in FAMILIES:
        raise UserError(f"unknown dataset family {family!r}; families: {', '.join(FAMILIES)}")
    rows: list[dict[str, Any]] = []
    for fam in FAMILIES:
        if family is None or fam == family:
            rows += _FAMILY_MODULES[fam].listing()
    return rows


def dataset_info(name: str, seed: int = 0) -> dict[str, Any]:
    """Facts about ``name``: name, family, task, n_train, n_test, d, classes, source,
    sha256_ok (None if nothing to check or not checked), licence, citation, split.

    Loads the data if it is available locally (never downloads); otherwise sizes come from
    the registry, ``source`` is ``"download"`` and ``note`` says why.  A corrupted file gives
    ``sha256_ok`` False and a ``problem`` message (the CLI then exits 1).
    """
    spec = parse_name(name)
    module = _FAMILY_MODULES[spec.family]
    fam = family_table(spec.family)
    try:
        data = load_dataset(name, seed, allow_download=False)
    except (UnavailableError, ChecksumError) as exc:
        sizes = module.info_without_loading(spec)
        checksum = isinstance(exc, ChecksumError)
        return {
            "name": spec.canonical, "family": spec.family, **sizes,
            "source": "corrupted" if checksum else "download",
            "sha256_ok": False if checksum else None,
            "licence": fam["licence"], "citation": fam["citation"],
            ("problem" if checksum else "note"): str(exc),
        }
    meta = data.meta
    return {
        "name": data.name, "family": spec.family, "task": data.task,
        "n_train": data.n_train, "n_test": data.n_test, "d": data.d,
        "classes": data.n_classes, "source": meta.get("source"),
        "sha256_ok": meta.get("sha256_ok"), "sha256": meta.get("sha256"),
        "licence": meta.get("licence"), "citation": meta.get("citation"),
        "split": meta.get("split"), "seed": seed,
    }


def all_data_files() -> list[DataFile]:
    """Every registry file with a fixed sha256 (Fashion-MNIST and UCI)."""
    return fashion_mnist.data_files() + uci.all_data_files()


def import_data(source: str | Path) -> ImportReport:
    """Copy and verify a local mirror (``fashion-mnist/``, ``uci/<name>/``) into the cache."""
    return import_mirror(Path(source), all_data_files())


def _extra_checks() -> list[FileCheck]:
    checks = []
    try:
        fashion_mnist._bundle.cache_clear()
        fashion_mnist._bundle()
        ok = True
    except ChecksumError:
        ok = False
    name = family_table("fashion-mnist")["bundle"]
    checks.append(FileCheck(f"bundled/{name}", "bundled", name, ok))
    for origin, path in openml_source.stored_copies():
        try:
            found = openml_source._read_stored(path.parent.parent, path.stem, origin)
            checks.append(FileCheck(f"openml/{path.name}", origin, str(path), found is not None))
        except ChecksumError:
            checks.append(FileCheck(f"openml/{path.name}", origin, str(path), False))
    return checks


def verify_data() -> list[FileCheck]:
    """Hash every bundled, mirrored and cached data file; never downloads."""
    return verify_files(all_data_files(), extra=_extra_checks)
