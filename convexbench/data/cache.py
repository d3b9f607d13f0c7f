"""Where data files come from: bundled package data, a local mirror, the cache, a download.

Every real data file is described by a :class:`DataFile` (a path in the mirror layout such as
``fashion-mnist/train-labels-idx1-ubyte.gz`` or ``uci/blood/blood_R.dat``, its sha256 and the
official URLs).  :func:`fetch` returns its bytes, looking in this order:

1. **bundled**: small files shipped inside the package (``convexbench/bundled/``);
2. **mirror**: ``$CONVEXBENCH_DATA_DIR/<relpath>``, laid out like ``shared/data``;
3. **cache**: ``$CONVEXBENCH_CACHE/<relpath>`` (default: the platform user cache dir);
4. **download**: from the official URL(s) into the cache, only when allowed.

Each candidate is checked against the registry sha256.  A mismatch raises
:class:`ChecksumError` (a :class:`~convexbench.errors.UserError`): a corrupted or truncated file
is reported and never used, and there is no silent fallback to another copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from convexbench.errors import UnavailableError, UserError

__all__ = [
    "ENV_CACHE",
    "ENV_MIRROR",
    "ChecksumError",
    "DataFile",
    "Fetched",
    "bundled_bytes",
    "cache_dir",
    "fetch",
    "import_mirror",
    "locate",
    "mirror_dir",
    "sha256_bytes",
    "sha256_file",
]

ENV_CACHE = "CONVEXBENCH_CACHE"
ENV_MIRROR = "CONVEXBENCH_DATA_DIR"
OFFLINE_HINT = (
    "copy the data into the cache with `convexbench datasets import DIR` or point "
    f"{ENV_MIRROR} at a local mirror (laid out as fashion-mnist/*.gz, uci/<name>/...)"
)
DOWNLOAD_TIMEOUT = 60.0


class ChecksumError(UserError):
    """A data file whose sha256 differs from the registry; it is never used."""


@dataclass(frozen=True)
class DataFile:
    """One real data file: mirror-layout path, expected sha256 and where to download it.

    ``archive_member`` set means each URL is a ``.tar.gz`` archive and the file is the member
    whose path ends with ``archive_member``.
    """

    relpath: str
    sha256: str
    urls: tuple[str, ...] = ()
    archive_member: str | None = None
    bundle: str | None = None  # name of the bundled zip holding it (member = relpath)


@dataclass(frozen=True)
class Fetched:
    """The bytes of a :class:`DataFile`, verified against its sha256 (a mismatch raises
    :class:`ChecksumError` instead), and where they came from."""

    data: bytes
    origin: str  # "bundled" | "mirror" | "cache" | "download"
    location: str


def cache_dir() -> Path:
    """``$CONVEXBENCH_CACHE`` or the platform user cache directory (not created here)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("convexbench"))


def mirror_dir() -> Path | None:
    """``$CONVEXBENCH_DATA_DIR`` if set (relative paths are taken from the current dir)."""
    env = os.environ.get(ENV_MIRROR)
    return Path(env).expanduser() if env else None


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_root() -> resources.abc.Traversable:
    """The ``convexbench/bundled`` package-data folder."""
    return resources.files("convexbench") / "bundled"


def bundled_bytes(name: str, member: str | None = None) -> bytes | None:
    """Bytes of bundled file ``name`` (or of ``member`` inside bundled zip ``name``)."""
    entry = bundled_root() / name
    if not entry.is_file():
        return None
    if member is None:
        return entry.read_bytes()
    with entry.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        try:
            return archive.read(member)
        except KeyError:
            return None


def bundled_members(name: str) -> list[str]:
    """Member names of a bundled zip (empty if it is absent)."""
    entry = bundled_root() / name
    if not entry.is_file():
        return []
    with entry.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        return archive.namelist()


def _check(ref: DataFile, data: bytes, origin: str, location: str) -> Fetched:
    got = sha256_bytes(data)
    if got != ref.sha256:
        raise ChecksumError(
            f"checksum mismatch for {ref.relpath} ({origin} copy {location}): expected sha256 "
            f"{ref.sha256[:16]}..., got {got[:16]}...; the file is corrupted or truncated and "
            "was not used"
        )
    return Fetched(data=data, origin=origin, location=location)


def locate(ref: DataFile) -> str:
    """Where :func:`fetch` would read ``ref`` from, by existence only (no hashing).

    One of ``"bundled"``, ``"mirror"``, ``"cached"`` or ``"download"``.
    """
    if ref.bundle and ref.relpath in bundled_members(ref.bundle):
        return "bundled"
    mirror = mirror_dir()
    if mirror is not None and (mirror / ref.relpath).is_file():
        return "mirror"
    if (cache_dir() / ref.relpath).is_file():
        return "cached"
    return "download"


def fetch(ref: DataFile, *, allow_download: bool = True) -> Fetched:
    """Verified bytes of ``ref`` from the first location that has it (see module doc)."""
    if ref.bundle:
        data = bundled_bytes(ref.bundle, ref.relpath)
        if data is not None:
            return _check(ref, data, "bundled", f"{ref.bundle}:{ref.relpath}")
    mirror = mirror_dir()
    if mirror is not None:
        path = mirror / ref.relpath
        if path.is_file():
            return _check(ref, path.read_bytes(), "mirror", str(path))
    path = cache_dir() / ref.relpath
    if path.is_file():
        return _check(ref, path.read_bytes(), "cache", str(path))
    if not allow_download:
        raise UnavailableError(f"{ref.relpath} is not available offline; {OFFLINE_HINT}")
    return _download(ref)


def _fetch_url(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (tests replace this function so they never go online)."""
    request = urllib.request.Request(url, headers={"User-Agent": "convexbench"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
        with open(dest, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)


def _download_to(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _fetch_url(url, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _extract_member(archive_path: Path, member: str) -> bytes | None:
    suffix = "/" + member.lstrip("/")
    with tarfile.open(archive_path, "r:*") as archive:
        for info in archive:
            if info.isfile() and ("/" + info.name).endswith(suffix):
                handle = archive.extractfile(info)
                return handle.read() if handle is not None else None
    return None


def _download(ref: DataFile) -> Fetched:
    if not ref.urls:
        raise UnavailableError(f"{ref.relpath} has no download URL; {OFFLINE_HINT}")
    target = cache_dir() / ref.relpath
    errors: list[str] = []
    for url in ref.urls:
        try:
            if ref.archive_member is None:
                _download_to(url, target)
                data = target.read_bytes()
            else:
                archive = cache_dir() / "downloads" / url.rsplit("/", 1)[-1]
                if not archive.is_file():
                    _download_to(url, archive)
                extracted = _extract_member(archive, ref.archive_member)
                if extracted is None:
                    errors.append(f"{url}: no member {ref.archive_member}")
                    continue
                data = extracted
        except (urllib.error.URLError, OSError, tarfile.TarError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        if sha256_bytes(data) != ref.sha256:
            target.unlink(missing_ok=True)
            raise ChecksumError(
                f"checksum mismatch for {ref.relpath} downloaded from {url}: expected sha256 "
                f"{ref.sha256[:16]}..., got {sha256_bytes(data)[:16]}...; it was discarded"
            )
        if ref.archive_member is not None:
            _write_atomic(target, data)
        return Fetched(data=data, origin="download", location=url)
    raise UnavailableError(
        f"could not download {ref.relpath} ({'; '.join(errors)}); {OFFLINE_HINT}"
    )


def _write_atomic(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp_name, dest)


@dataclass(frozen=True)
class ImportReport:
    """Outcome of :func:`import_mirror`: relpaths copied, already present, refused."""

    copied: tuple[str, ...]
    unchanged: tuple[str, ...]
    refused: tuple[str, ...]


def import_mirror(source: Path, refs: Iterable[DataFile]) -> ImportReport:
    """Copy every known file found under ``source`` (mirror layout) into the cache.

    Files whose sha256 differs from the registry are refused (not copied).  Raises
    :class:`~convexbench.errors.UserError` if ``source`` holds no known file at all.
    """
    source = Path(source).expanduser()
    if not source.is_dir():
        raise UserError(f"{source} is not a directory")
    copied: list[str] = []
    unchanged: list[str] = []
    refused: list[str] = []
    root = cache_dir()
    for ref in refs:
        path = source / ref.relpath
        if not path.is_file():
            continue
        data = path.read_bytes()
        if sha256_bytes(data) != ref.sha256:
            refused.append(ref.relpath)
            continue
        dest = root / ref.relpath
        if dest.is_file() and sha256_file(dest) == ref.sha256:
            unchanged.append(ref.relpath)
            continue
        _write_atomic(dest, data)
        copied.append(ref.relpath)
    if not (copied or unchanged or refused):
        raise UserError(
            f"no known dataset file under {source} (expected the layout of a data mirror: "
            "fashion-mnist/*.gz, uci/<name>/<name>_R.dat, ...)"
        )
    return ImportReport(tuple(copied), tuple(unchanged), tuple(refused))


@dataclass(frozen=True)
class FileCheck:
    """One verified copy: relpath, origin (bundled/mirror/cache), location, verdict."""

    relpath: str
    origin: str
    location: str
    ok: bool


def verify_files(refs: Iterable[DataFile], extra: Callable[[], list[FileCheck]] | None = None
                 ) -> list[FileCheck]:
    """Hash every bundled, mirrored and cached copy of ``refs``; never downloads."""
    checks: list[FileCheck] = []
    mirror = mirror_dir()
    root = cache_dir()
    bundles: dict[str, set[str]] = {}
    for ref in refs:
        if ref.bundle:
            members = bundles.setdefault(ref.bundle, set(bundled_members(ref.bundle)))
            if ref.relpath in members:
                data = bundled_bytes(ref.bundle, ref.relpath) or b""
                checks.append(FileCheck(ref.relpath, "bundled", f"{ref.bundle}:{ref.relpath}",
                                        sha256_bytes(data) == ref.sha256))
        for origin, base in (("mirror", mirror), ("cache", root)):
            if base is None:
                continue
            path = base / ref.relpath
            if path.is_file():
                checks.append(FileCheck(ref.relpath, origin, str(path),
                                        sha256_file(path) == ref.sha256))
    if extra is not None:
        checks.extend(extra())
    return checks
