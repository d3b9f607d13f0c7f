"""`convexbench datasets` CLI, cache/mirror/download resolution and OpenML, all offline."""

from __future__ import annotations

import io
import json
import sys
import tarfile
import types
import urllib.error
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DOWNLOADS

from convexbench.cli import main
from convexbench.data import cache, list_datasets, load_dataset, openml_source
from convexbench.data.cache import DataFile, sha256_bytes
from convexbench.errors import UnavailableError, UserError

pytestmark = pytest.mark.usefixtures("offline_data")


def _bundled_uci(name: str) -> dict[str, bytes]:
    """The real files of a bundled UCI dataset, straight from the package zip."""
    data = (resources.files("convexbench") / "bundled" / "uci_small.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {m.rsplit("/", 1)[-1]: zf.read(m) for m in zf.namelist()
                if m.startswith(f"uci/{name}/")}


def _one_line_error(capsys, argv, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("convexbench: error: ") and err.count("\n") == 1
    return err


def test_list_works_with_no_data_dir_and_no_network(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert lines["uci:blood"][-1] == "bundled"
    assert lines["uci:abalone"][-1] == "download"
    assert lines["fashion-mnist:0v9"][-1] == "bundled"
    assert lines["synthetic:teacher2"][-1] == "bundled"
    assert "26 bundled" in out and "100 download" in out
    assert DOWNLOADS == []


def test_list_json_and_filters(capsys):
    assert main(["datasets", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len([r for r in rows if r["family"] == "uci"]) == 111
    for row in rows:
        assert {"name", "family", "n", "d", "classes", "task", "availability"} <= set(row)
        assert row["availability"] in {"bundled", "cached", "mirror", "download"}
    assert main(["datasets", "list", "--json", "--family", "uci", "--task", "binary",
                 "--max-n", "200"]) == 0
    small = json.loads(capsys.readouterr().out)
    assert small and all(r["task"] == "binary" and r["n"] <= 200 for r in small)
    assert {r["name"] for r in small} >= {"uci:acute-inflammation", "uci:fertility"}


def test_info_json_fields(capsys):
    assert main(["datasets", "info", "uci:blood", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "uci:blood"
    assert (info["n_train"], info["n_test"], info["d"], info["classes"]) == (561, 187, 4, 2)
    assert info["source"] == "bundled" and info["sha256_ok"] is True
    assert main(["datasets", "info", "fashion-mnist:0v9,n=50,size=14"]) == 0
    out = capsys.readouterr().out
    assert "n_train: 100" in out and "d: 196" in out and "sha256_ok: True" in out


@pytest.mark.parametrize(
    "name",
    ["uci:nope", "nonsense", "imagenet:cats", "fashion-mnist:3", "fashion-mnist:0v9,n=99999",
     "synthetic:teacher2,n=abc", "uci:blood,fold=9", "fashion-mnist:0v9,n=100,"],
)
def test_bad_names_exit_nonzero_with_one_line(capsys, name):
    _one_line_error(capsys, ["datasets", "info", name])


def test_numpy_seed_is_accepted_and_bad_seed_refused():
    a = load_dataset("synthetic:spiral,n=20", seed=np.int64(3))
    b = load_dataset("synthetic:spiral,n=20", seed=3)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    with pytest.raises(UserError):
        load_dataset("synthetic:spiral", seed=-1)
    with pytest.raises(UserError):
        load_dataset("synthetic:spiral", seed=1.5)


def test_missing_dataset_offline_via_python_api():
    with pytest.raises(UnavailableError, match="convexbench datasets import"):
        load_dataset("uci:wine")
    assert DOWNLOADS, "the downloader should have been tried (and refused by the test)"


def test_import_copies_and_verifies_then_verify_flags_corruption(tmp_path, capsys):
    mirror = tmp_path / "mirror" / "uci" / "blood"
    mirror.mkdir(parents=True)
    for name, data in _bundled_uci("blood").items():
        (mirror / name).write_bytes(data)
    assert main(["datasets", "import", str(tmp_path / "mirror")]) == 0
    assert "copied 3 file(s)" in capsys.readouterr().out
    cached = cache.cache_dir() / "uci" / "blood" / "blood_R.dat"
    assert cached.read_bytes() == (mirror / "blood_R.dat").read_bytes()
    assert main(["datasets", "import", str(tmp_path / "mirror")]) == 0
    assert "3 already in the cache" in capsys.readouterr().out

    assert main(["datasets", "verify"]) == 0
    assert "0 mismatch(es)" in capsys.readouterr().out
    data = bytearray(cached.read_bytes())
    data[50] ^= 0x04
    cached.write_bytes(bytes(data))
    assert main(["datasets", "verify"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "blood_R.dat" in out and "1 mismatch(es)" in out

    (mirror / "conxuntos.dat").write_bytes(b"0 1 2\n")
    assert main(["datasets", "import", str(tmp_path / "mirror")]) == 1
    assert "REFUSED (checksum mismatch): uci/blood/conxuntos.dat" in capsys.readouterr().out


def test_import_of_unrelated_dir_is_a_user_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _one_line_error(capsys, ["datasets", "import", str(tmp_path / "empty")])
    _one_line_error(capsys, ["datasets", "import", str(tmp_path / "missing")])


def test_mirror_beats_cache_and_cached_copy_is_used(tmp_path, monkeypatch):
    files = _bundled_uci("blood")
    ref = DataFile(relpath="extra/blood_R.dat", sha256=sha256_bytes(files["blood_R.dat"]))
    with pytest.raises(UnavailableError):
        cache.fetch(ref, allow_download=False)
    target = cache.cache_dir() / ref.relpath
    target.parent.mkdir(parents=True)
    target.write_bytes(files["blood_R.dat"])
    assert cache.fetch(ref).origin == "cache"
    assert cache.locate(ref) == "cached"
    mirror = tmp_path / "m"
    (mirror / "extra").mkdir(parents=True)
    (mirror / "extra" / "blood_R.dat").write_bytes(files["blood_R.dat"])
    monkeypatch.setenv("CONVEXBENCH_DATA_DIR", str(mirror))
    assert cache.fetch(ref).origin == "mirror" and cache.locate(ref) == "mirror"


def test_download_is_checked_and_stored(monkeypatch):
    payload = b"official bytes\n"
    ref = DataFile(relpath="demo/file.bin", sha256=sha256_bytes(payload),
                   urls=("http://mirror-a.invalid/file.bin", "http://mirror-b.invalid/file.bin"))

    def fake_fetch(url, dest):
        if "mirror-a" in url:
            raise urllib.error.URLError("down")
        Path(dest).write_bytes(payload)

    monkeypatch.setattr(cache, "_fetch_url", fake_fetch)
    got = cache.fetch(ref)
    assert got.origin == "download" and got.data == payload and "mirror-b" in got.location
    assert (cache.cache_dir() / "demo" / "file.bin").read_bytes() == payload
    assert cache.fetch(ref).origin == "cache"

    bad = DataFile(relpath="demo/other.bin", sha256="0" * 64, urls=("http://x.invalid/o",))
    with pytest.raises(cache.ChecksumError, match="discarded"):
        cache.fetch(bad)
    assert not (cache.cache_dir() / "demo" / "other.bin").exists()


def test_download_from_archive_extracts_and_verifies(tmp_path, monkeypatch):
    files = _bundled_uci("fertility")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"data/fertility/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    seen = []

    def fake_fetch(url, dest):
        seen.append(url)
        Path(dest).write_bytes(archive.getvalue())

    monkeypatch.setattr(cache, "_fetch_url", fake_fetch)
    ref = DataFile(relpath="uci/fertility/fertility_R.dat",
                   sha256=sha256_bytes(files["fertility_R.dat"]),
                   urls=("https://example.invalid/data.tar.gz",),
                   archive_member="fertility/fertility_R.dat")
    got = cache.fetch(ref)
    assert got.origin == "download" and got.data == files["fertility_R.dat"]
    ref2 = DataFile(relpath="uci/fertility/conxuntos.dat",
                    sha256=sha256_bytes(files["conxuntos.dat"]),
                    urls=ref.urls, archive_member="fertility/conxuntos.dat")
    assert cache.fetch(ref2).data == files["conxuntos.dat"]
    assert len(seen) == 1  # the archive is downloaded once and reused


def _fake_openml(monkeypatch, fail: bool):
    """Replace the openml package (installed or not) by an offline fake."""
    frame = pd.DataFrame({
        "x1": np.arange(40, dtype=float),
        "colour": pd.Categorical(["red", "blue"] * 20),
        "x2": np.r_[np.nan, np.ones(39)],
    })
    labels = pd.Series(pd.Categorical(["good"] * 25 + ["bad"] * 15), name="class")

    def get_dataset(ident, **kwargs):
        if fail:
            raise ConnectionError("Failed to establish a new connection: network unreachable")
        return types.SimpleNamespace(
            dataset_id=999, name="toy", version=1, default_target_attribute="class",
            licence="CC0", citation="toy citation", url="https://www.openml.org/d/999",
            get_data=lambda **kw: (frame, labels, None, None),
        )

    fake = types.SimpleNamespace(
        datasets=types.SimpleNamespace(get_dataset=get_dataset),
        config=types.SimpleNamespace(set_root_cache_directory=lambda path: None),
    )
    monkeypatch.setitem(sys.modules, "openml", fake)


def test_openml_offline_fails_clearly(monkeypatch, capsys):
    _fake_openml(monkeypatch, fail=True)
    with pytest.raises(UnavailableError) as err:
        load_dataset("openml:31")
    message = str(err.value)
    assert "convexbench datasets import" in message and "CONVEXBENCH_DATA_DIR" in message
    assert main(["datasets", "info", "openml:31"]) == 0  # registry facts, marked unavailable
    assert "source: download" in capsys.readouterr().out


def test_openml_fetch_converts_caches_and_then_works_offline(monkeypatch):
    _fake_openml(monkeypatch, fail=False)
    data = load_dataset("openml:999", seed=2)
    assert data.task == "binary" and data.d == 4  # x1, x2 and a one-hot colour
    assert data.n_train + data.n_test == 40 and data.n_test == 10
    assert data.meta["classes"] == ["bad", "good"] and data.meta["source"] == "download"
    assert np.isfinite(data.X_train).all() and np.isfinite(data.X_test).all()
    assert (cache.cache_dir() / "openml" / "999.npz").is_file()
    _fake_openml(monkeypatch, fail=True)
    again = load_dataset("openml:999", seed=2)
    assert again.meta["source"] == "cache"
    np.testing.assert_array_equal(again.X_train, data.X_train)
    assert any(r["name"] == "openml:31" for r in list_datasets("openml"))
    npz = cache.cache_dir() / "openml" / "999.npz"
    raw = bytearray(npz.read_bytes())
    raw[-10] ^= 0x01
    npz.write_bytes(bytes(raw))
    with pytest.raises(cache.ChecksumError):
        load_dataset("openml:999")
    assert openml_source.availability("999") == "cached"
