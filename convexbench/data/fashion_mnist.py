"""Balanced, seeded Fashion-MNIST subsets from the official IDX files.

Name: ``fashion-mnist:<classes>[,n=N][,n_test=M][,size=28|14|7][,pca=K][,norm=standard|unit]``

* ``<classes>``: a pair ``AvB`` (e.g. ``0v9``), a list ``0,1,2``, or ``all``; at least two
  distinct ids in 0..9.  Two classes give a binary task with the first class ``+1`` and the
  second ``-1``; more give a multi-class task with labels ``0..C-1`` in the listed order
  (``meta["classes"]`` holds the original ids).
* ``n``: training images per class (default 100, at most 6000); ``n_test``: test images per
  class (default 100, at most 1000).  Sampling is balanced: exactly ``n`` per class.
* ``size``: average-pool 28x28 to 14x14 or 7x7; ``pca=K``: project on the top ``K`` principal
  directions fitted on the training part; ``norm=standard`` (default) standardizes features
  with training statistics after pixels are scaled to [0, 1], ``norm=unit`` stops at [0, 1]
  pixels (or raw PCA scores).

Where the pixels come from.  The package bundles, for every class, a fixed *pool* of 300
training and 100 test images (original indices in ``convexbench/bundled/
fashion_mnist_subset.json``, drawn once by :mod:`convexbench.data.build_bundle`).  A request
with ``n <= 300`` draws its training images from that pool, otherwise from all 6000 images of
the class in the official file (same rule for ``n_test`` against 100 / 1000).  Within the
chosen candidates class ``c`` takes the first ``n`` of a permutation seeded by
``(seed, part, c)``, so the result depends only on the name and seed -- never on whether the
full files happen to be present -- a smaller ``n`` is a prefix of a larger one within the same
tier, and pool requests need no download.  Rows are then shuffled with the seed;
``meta["train_indices"]`` / ``meta["test_indices"]`` give each row's index in the official
file, so every pixel can be checked against the official data.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import struct
from functools import cache
from typing import Any

import numpy as np

from convexbench.arrays import to_pm1
from convexbench.data.cache import (
    ChecksumError,
    DataFile,
    Fetched,
    bundled_bytes,
    fetch,
    locate,
    sha256_bytes,
)
from convexbench.data.dataset import Dataset
from convexbench.data.registry import DatasetSpec, Options, family_table, registry
from convexbench.data.splits import balanced_indices, rng_for, standardize_inplace
from convexbench.errors import UnavailableError, UserError

__all__ = ["data_files", "load", "load_official", "parse_classes", "read_idx"]

N_CLASSES = 10
DEFAULT_N = 100
DEFAULT_N_TEST = 100
_TAG = {("train", "pool"): 0xF7A1, ("train", "full"): 0xF7A2,
        ("test", "pool"): 0xF7B1, ("test", "full"): 0xF7B2, "shuffle": 0xF7C0}
_OPTIONS = {"n", "n_test", "size", "pca", "norm"}
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(data: bytes) -> np.ndarray:
    """Decode an IDX file (gzip-compressed or raw) of unsigned bytes into an array."""
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if pixels.size != int(np.prod(dims)):
        raise ValueError(f"IDX payload has {pixels.size} bytes, header says {dims}")
    return pixels.reshape(dims)


def data_files() -> list[DataFile]:
    """The four official files as :class:`DataFile` records (mirror dir ``fashion-mnist/``)."""
    files = registry("fashion-mnist")["files"]
    return [
        DataFile(relpath=f"fashion-mnist/{name}", sha256=info["sha256"], urls=tuple(info["urls"]))
        for name, info in files.items()
    ]


def _ref(filename: str) -> DataFile:
    return next(r for r in data_files() if r.relpath.endswith("/" + filename))


def load_official(part: str, *, allow_download: bool = True
                  ) -> tuple[np.ndarray, np.ndarray, list[Fetched]]:
    """Images ``(n, 28, 28)`` uint8 and labels ``(n,)`` of the official ``train``/``test`` set."""
    image_file, label_file = _FILES[part]
    images_f = fetch(_ref(image_file), allow_download=allow_download)
    labels_f = fetch(_ref(label_file), allow_download=allow_download)
    images, labels = read_idx(images_f.data), read_idx(labels_f.data)
    if images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
        raise ValueError(f"unexpected Fashion-MNIST shapes {images.shape}, {labels.shape}")
    return images, labels, [images_f, labels_f]


@cache
def _bundle() -> dict[str, Any]:
    """The bundled pool, verified against its manifest (cached per process)."""
    fam = family_table("fashion-mnist")
    manifest_bytes = bundled_bytes(fam["bundle_manifest"])
    data = bundled_bytes(fam["bundle"])
    if manifest_bytes is None or data is None:
        raise UnavailableError("the bundled Fashion-MNIST subset is missing from the package")
    manifest = json.loads(manifest_bytes)
    if sha256_bytes(data) != manifest["bundle_sha256"]:
        raise ChecksumError(
            f"checksum mismatch for bundled {fam['bundle']}: the package is corrupted"
        )
    with np.load(io.BytesIO(data)) as arrays:
        out: dict[str, Any] = {k: arrays[k] for k in arrays.files}
    out["manifest"] = manifest
    return out


def pool_sizes() -> tuple[int, int]:
    """Bundled images per class: (train, test)."""
    manifest = _bundle()["manifest"]
    return int(manifest["train_per_class"]), int(manifest["test_per_class"])


def parse_classes(text: str) -> list[int]:
    """``"0v9"`` -> [0, 9], ``"0,1,2"`` -> [0, 1, 2], ``"all"`` -> [0..9]."""
    text = text.strip().lower()
    if text == "all":
        return list(range(N_CLASSES))
    parts = text.split("v") if re.fullmatch(r"\d+v\d+", text) else text.split(",")
    try:
        classes = [int(p) for p in parts]
    except ValueError:
        raise UserError(
            f"bad Fashion-MNIST class list {text!r}: use a pair like 0v9, a list like 0,1,2, "
            "or all"
        ) from None
    if any(not 0 <= c < N_CLASSES for c in classes):
        raise UserError(f"Fashion-MNIST classes are 0..9, got {text!r}")
    if len(set(classes)) != len(classes):
        raise UserError(f"class listed twice in {text!r}")
    if len(classes) < 2:
        raise UserError(f"a Fashion-MNIST subset needs at least two classes, got {text!r}")
    return classes



class _Request:
    """Validated options of a subset request."""

    def __init__(self, spec: DatasetSpec) -> None:
        opts = Options(spec, _OPTIONS)
        fam = family_table("fashion-mnist")
        self.classes = parse_classes(spec.name)
        self.n = opts.integer("n", DEFAULT_N, minimum=1)
        self.n_test = opts.integer("n_test", DEFAULT_N_TEST, minimum=1)
        if self.n > fam["n_train_per_class"]:
            raise UserError(
                f"n={self.n} training images per class requested but each Fashion-MNIST class "
                f"has only {fam['n_train_per_class']}"
            )
        if self.n_test > fam["n_test_per_class"]:
            raise UserError(
                f"n_test={self.n_test} test images per class requested but each Fashion-MNIST "
                f"class has only {fam['n_test_per_class']}"
            )
        size = opts.choice("size", "28", ("28", "14", "7"))
        self.size = int(size)
        self.pca = opts.integer("pca", 0, minimum=1) if opts.text("pca") else 0
        n_train_total = self.n * len(self.classes)
        if self.pca and self.pca > min(n_train_total, self.size**2):
            raise UserError(
                f"pca={self.pca} exceeds min(n_train, d) = {min(n_train_total, self.size**2)}"
            )
        self.norm = opts.choice("norm", "standard", ("standard", "unit"))

    @property
    def d(self) -> int:
        return self.pca or self.size**2

    def tiers(self) -> tuple[str, str]:
        pool_train, pool_test = pool_sizes()
        return ("pool" if self.n <= pool_train else "full",
                "pool" if self.n_test <= pool_test else "full")


def _sample_part(req: _Request, part: str, tier: str, n: int, seed: int, allow_download: bool
                 ) -> tuple[np.ndarray, np.ndarray, list[Fetched]]:
    """Images and original indices of a balanced draw, grouped by requested class."""
    bundle = _bundle()
    if tier == "pool":
        labels = bundle[f"{part}_labels"]
        originals = bundle[f"{part}_indices"]
        candidates = [(c, np.flatnonzero(labels == c)) for c in req.classes]
        chosen = balanced_indices(candidates, n, seed, _TAG[(part, tier)])
        positions = np.concatenate(chosen)
        return bundle[f"{part}_images"][positions], originals[positions], []
    images, labels, fetched = load_official(part, allow_download=allow_download)
    candidates = [(c, np.flatnonzero(labels == c)) for c in req.classes]
    chosen = balanced_indices(candidates, n, seed, _TAG[(part, tier)])
    rows = np.concatenate(chosen)
    return images[rows], rows, fetched


def _features(images: np.ndarray, size: int) -> np.ndarray:
    n = images.shape[0]
    if size == 28:
        return np.multiply(images.reshape(n, -1), 1.0 / 255.0, dtype=np.float64)
    k = 28 // size
    blocks = images.reshape(n, size, k, size, k).sum(axis=(2, 4), dtype=np.float64)
    blocks *= 1.0 / (255.0 * k * k)
    return blocks.reshape(n, -1)


def _pca(X_train: np.ndarray, X_test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    mean = X_train.mean(axis=0)
    _, _, Vt = np.linalg.svd(X_train - mean, full_matrices=False)
    V = Vt[:k].T
    V = V * np.where(V[np.abs(V).argmax(axis=0), np.arange(k)] < 0, -1.0, 1.0)  # fix signs
    return (X_train - mean) @ V, (X_test - mean) @ V


def load(spec: DatasetSpec, seed: int = 0, *, allow_download: bool = True) -> Dataset:
    """A balanced subset ``fashion-mnist:<classes>[,options]`` (see module doc)."""
    req = _Request(spec)
    tier_train, tier_test = req.tiers()
    img_tr, idx_tr, f_tr = _sample_part(req, "train", tier_train, req.n, seed, allow_download)
    img_te, idx_te, f_te = _sample_part(req, "test", tier_test, req.n_test, seed, allow_download)
    lab_tr = np.repeat(np.arange(len(req.classes)), req.n)
    lab_te = np.repeat(np.arange(len(req.classes)), req.n_test)
    shuffle = rng_for(seed, _TAG["shuffle"])
    p_tr, p_te = shuffle.permutation(lab_tr.size), shuffle.permutation(lab_te.size)
    img_tr, idx_tr, lab_tr = img_tr[p_tr], idx_tr[p_tr], lab_tr[p_tr]
    img_te, idx_te, lab_te = img_te[p_te], idx_te[p_te], lab_te[p_te]
    X_train, X_test = _features(img_tr, req.size), _features(img_te, req.size)
    if req.pca:
        X_train, X_test = _pca(X_train, X_test, req.pca)
    if req.norm == "standard":
        standardize_inplace(X_train, X_test)
    if len(req.classes) == 2:
        task = "binary"
        y_train, y_test = to_pm1(lab_tr, 0), to_pm1(lab_te, 0)
    else:
        task = "multiclass"
        y_train, y_test = lab_tr.astype(np.float64), lab_te.astype(np.float64)
    fam = family_table("fashion-mnist")
    bundle = _bundle()
    fetched = f_tr + f_te
    sources = {"bundled"} if "pool" in (tier_train, tier_test) else set()
    sources |= {f.origin for f in fetched}
    sha: dict[str, str] = {f"fashion-mnist/{k}": v["sha256"] for k, v in fam_files().items()
                           if any(f.location.endswith(k) for f in fetched)}
    if sources & {"bundled"}:
        sha[f"bundled/{fam['bundle']}"] = bundle["manifest"]["bundle_sha256"]
    meta: dict[str, Any] = {
        "family": "fashion-mnist",
        "source": ", ".join(sorted(sources)),
        "locations": {f.location: f.origin for f in fetched},
        "sha256_ok": True,
        "sha256": sha,
        "licence": fam["licence"],
        "citation": fam["citation"],
        "seed": seed,
        "options": spec.option_dict,
        "split": "official train set -> train, official t10k set -> test",
        "tiers": {"train": tier_train, "test": tier_test},
        "classes": req.classes,
        "class_names": [fam["class_names"][c] for c in req.classes],
        "label_map": ({str(req.classes[0]): 1.0, str(req.classes[1]): -1.0}
                      if task == "binary" else "position in classes"),
        "n_per_class": {"train": req.n, "test": req.n_test},
        "size": req.size,
        "pca": req.pca or None,
        "normalization": ("pixels/255, then train mean/std" if req.norm == "standard"
                          else "pixels/255"),
        "train_indices": idx_tr.astype(np.int64).tolist(),
        "test_indices": idx_te.astype(np.int64).tolist(),
    }
    return Dataset(name=spec.canonical, X_train=X_train, y_train=y_train, X_test=X_test,
                   y_test=y_test, task=task, meta=meta)


def fam_files() -> dict[str, Any]:
    """Registry table of the official files."""
    return registry("fashion-mnist")["files"]


def availability(spec: DatasetSpec) -> str:
    """``bundled`` when both parts fit the pool, else the worst location of the full files."""
    req = _Request(spec)
    if req.tiers() == ("pool", "pool"):
        return "bundled"
    rank = {"bundled": 0, "mirror": 1, "cached": 2, "download": 3}
    return max((locate(ref) for ref in data_files()), key=rank.__getitem__)


def info_without_loading(spec: DatasetSpec) -> dict[str, Any]:
    """Sizes implied by the spec alone."""
    req = _Request(spec)
    C = len(req.classes)
    return {"n_train": req.n * C, "n_test": req.n_test * C, "d": req.d,
            "classes": C, "task": "binary" if C == 2 else "multiclass"}


def listing() -> list[dict[str, Any]]:
    """Rows of ``list_datasets`` for the registry presets."""
    rows = []
    for preset, description in registry("fashion-mnist")["presets"].items():
        spec = DatasetSpec("fashion-mnist", *_split_preset(preset))
        info = info_without_loading(spec)
        rows.append({"name": spec.canonical, "family": "fashion-mnist",
                     "n": info["n_train"] + info["n_test"], "d": info["d"],
                     "classes": info["classes"], "task": info["task"],
                     "availability": availability(spec), "description": description})
    return rows


def _split_preset(preset: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    from convexbench.data.registry import parse_name

    spec = parse_name(f"fashion-mnist:{preset}")
    return spec.name, spec.options
