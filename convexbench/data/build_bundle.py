"""Build ``convexbench/bundled/`` from the real files of a data mirror.

Usage: ``python -m convexbench.data.build_bundle SRC_DIR [OUT_DIR]``.  ``SRC_DIR`` is laid out
like ``shared/data``.  Writes

* ``fashion_mnist_subset.npz``: for every class, a fixed pool of ``TRAIN_PER_CLASS`` training
  and ``TEST_PER_CLASS`` test images (28x28 uint8, official pixels) with their labels and their
  indices in the official files (``*_indices``), grouped by class, sorted by index;
* ``fashion_mnist_subset.json``: the manifest (sha256 of the official source files, of the npz,
  the seed and rule that chose the indices, and the indices themselves);
* ``uci_small.zip``: the unmodified ``uci/<name>/*`` files of the small binary datasets marked
  ``bundled = true`` in ``registry/uci.toml`` (deflate-compressed).

Every source file is checked against the registry sha256 first; a mismatch aborts.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from convexbench.data import fashion_mnist, uci
from convexbench.data.cache import sha256_bytes
from convexbench.data.registry import registry
from convexbench.data.splits import rng_for

TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100
BUILD_SEED = 20170825  # fixed: the pools are part of the package, not of a run
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed timestamps make the zip reproducible


def _read_checked(path: Path, sha256: str) -> bytes:
    data = path.read_bytes()
    if sha256_bytes(data) != sha256:
        raise SystemExit(f"checksum mismatch for {path}; refusing to build from it")
    return data


def _pool(labels: np.ndarray, per_class: int, tag: int) -> np.ndarray:
    """Original indices of the pool: per class, the first ``per_class`` of a seeded
    permutation of that class's indices, sorted; classes concatenated in order 0..9."""
    chosen = []
    for c in range(fashion_mnist.N_CLASSES):
        rows = np.flatnonzero(labels == c)
        pick = rows[rng_for(BUILD_SEED, tag, c).permutation(rows.size)[:per_class]]
        chosen.append(np.sort(pick))
    return np.concatenate(chosen)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` (deflate level 9, fixed timestamps) so rebuilding gives the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, array in arrays.items():
            payload = io.BytesIO()
            np.lib.format.write_array(payload, array, allow_pickle=False)
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, payload.getvalue(), compresslevel=9)
    return buffer.getvalue()


def build_fashion_mnist(src: Path, out: Path) -> dict[str, object]:
    """Write the npz and its manifest; return the manifest."""
    files = registry("fashion-mnist")["files"]
    arrays: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    indices: dict[str, list[int]] = {}
    for part, (image_file, label_file) in fashion_mnist._FILES.items():
        images = fashion_mnist.read_idx(
            _read_checked(src / "fashion-mnist" / image_file, files[image_file]["sha256"])
        )
        labels = fashion_mnist.read_idx(
            _read_checked(src / "fashion-mnist" / label_file, files[label_file]["sha256"])
        )
        sources[image_file] = files[image_file]["sha256"]
        sources[label_file] = files[label_file]["sha256"]
        per_class = TRAIN_PER_CLASS if part == "train" else TEST_PER_CLASS
        rows = _pool(labels, per_class, 1 if part == "train" else 2)
        arrays[f"{part}_images"] = images[rows]
        arrays[f"{part}_labels"] = labels[rows]
        arrays[f"{part}_indices"] = rows.astype(np.int32)
        indices[part] = rows.tolist()
    data = _npz_bytes(arrays)
    (out / "fashion_mnist_subset.npz").write_bytes(data)
    manifest = {
        "what": "per-class pools of official Fashion-MNIST images (unmodified uint8 pixels)",
        "source_files_sha256": sources,
        "train_per_class": TRAIN_PER_CLASS,
        "test_per_class": TEST_PER_CLASS,
        "rule": "for class c of part p (train=1, test=2): indices of class c in the official "
        "file, permuted by numpy default_rng(SeedSequence([build_seed, p, c])), first "
        "per_class kept, sorted",
        "build_seed": BUILD_SEED,
        "bundle": "fashion_mnist_subset.npz",
        "bundle_sha256": sha256_bytes(data),
        "indices": indices,
    }
    (out / "fashion_mnist_subset.json").write_text(json.dumps(manifest) + "\n")
    return manifest


def build_uci(src: Path, out: Path) -> list[str]:
    """Write the zip of bundled UCI datasets; return its member names."""
    members = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, info in registry("uci")["datasets"].items():
            if not info.get("bundled"):
                continue
            for filename, sha in info["files"].items():
                relpath = f"uci/{name}/{filename}"
                entry = zipfile.ZipInfo(relpath, date_time=_ZIP_DATE)
                entry.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(entry, _read_checked(src / relpath, sha), compresslevel=9)
                members.append(relpath)
    (out / uci.BUNDLE).write_bytes(buffer.getvalue())
    return members


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="data mirror (fashion-mnist/, uci/)")
    default_out = Path(__file__).resolve().parent.parent / "bundled"
    parser.add_argument("out", type=Path, nargs="?", default=default_out)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    build_fashion_mnist(args.src, args.out)
    members = build_uci(args.src, args.out)
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"wrote {args.out}: Fashion-MNIST pools, {len(members)} UCI files; {total:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
