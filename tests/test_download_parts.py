"""The three parts `download.py` is built from, each on its own: the catalogue (pure data), the
resumable HTTP client and safe unpacking; and the old names `tfbench.data.download` still offers."""

from __future__ import annotations

import ast
import dataclasses
import io
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from tfbench.data import catalogue, download as dl, http_fetch, unpack
from tfbench.errors import DataError

FILES = {"train.csv": b"label,a\n1,x\n", "valid.csv": b"label,a\n0,y\n", "test.csv": b"label,a\n1,z\n"}


def frappe(**changes) -> catalogue.Archive:
    return dataclasses.replace(catalogue.ARCHIVES["frappe"], **{"checksum": None, "file_checksums": {}, **changes})


def test_download_still_offers_every_name_it_had():
    for name in ("download", "DownloadResult", "ARCHIVES", "Archive", "BASE_URL_ENV", "register_archive",
                 "get_archive", "archive_urls", "missing_files", "manual_hint", "Progress", "CHUNK", "USER_AGENT",
                 "_parse_checksum", "_fetch", "_Unreachable", "_reason", "_discard", "_digests", "_safe_name",
                 "_Reader", "_locate", "_unpack", "_place"):
        assert hasattr(dl, name), name
    assert dl.ARCHIVES is catalogue.ARCHIVES and dl._fetch is http_fetch.fetch and dl._unpack is unpack.unpack


def test_catalogue_is_pure_data_and_each_module_stays_small():
    here = Path(catalogue.__file__).parent
    tree = ast.parse((here / "catalogue.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "re", "dataclasses", "tfbench"}, imported  # no network, no file system
    for name in ("catalogue.py", "http_fetch.py", "unpack.py", "download.py"):
        assert len((here / name).read_text().splitlines()) < 400, name


def test_catalogue_validates_what_is_registered(monkeypatch):
    monkeypatch.setitem(catalogue.ARCHIVES, "frappe", catalogue.ARCHIVES["frappe"])
    with pytest.raises(ValueError, match="checksum must be"):
        catalogue.register_archive(frappe(checksum="md5:abc"))
    with pytest.raises(ValueError, match="zip or tar.gz"):
        catalogue.register_archive(frappe(format="rar"))
    assert catalogue.parse_checksum("sha256:" + "0" * 64) == ("sha256", "0" * 64)
    with pytest.raises(DataError, match="no download for dataset 'nope'"):
        catalogue.get_archive("nope")


def test_content_range_parsing():
    assert http_fetch.content_range("bytes 100-199/200") == (100, 200)
    assert http_fetch.content_range("bytes */200") == (None, 200)
    assert http_fetch.content_range("bytes 0-9/*") == (0, None)
    assert http_fetch.content_range(None) == (None, None) and http_fetch.content_range("junk") == (None, None)


def test_unreachable_url_leaves_no_part(tmp_path):
    part = tmp_path / "x.zip.part"
    with pytest.raises(http_fetch.Unreachable):
        http_fetch.fetch("http://127.0.0.1:9/x.zip", part, None, timeout=2)  # port 9: nothing listens
    assert not part.exists() and not http_fetch.source_file(part).exists()


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "C:/x", "..\\x"])
def test_unsafe_member_names(name):
    assert unpack.safe_name(name) is None


def test_safe_member_names_are_normalised():
    assert unpack.safe_name("./a//b/c.csv") == PurePosixPath("a/b/c.csv")


def _tar(path: Path, add) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        add(t)
    return path


def _link(kind, name="evil", target="/etc/passwd"):
    def add(t):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        t.addfile(info)
    return add


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_in_a_tar_are_refused_before_anything_is_written(tmp_path, kind):
    path = _tar(tmp_path / "a.tar.gz", _link(kind))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DataError, match="member 'evil' is a link or special file; refusing"):
        unpack.unpack(frappe(format="tar.gz"), path, "a.tar.gz", dest)
    assert list(dest.iterdir()) == []


def test_symlink_in_a_zip_is_refused(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in FILES.items():
            z.writestr(name, data)
        info = zipfile.ZipInfo("evil")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="member 'evil' is a symbolic link; refusing"):
        unpack.unpack(frappe(), path, "a.zip", tmp_path)


def test_unpack_to_temp_removes_its_folder_on_failure_and_place_replaces_atomically(tmp_path):
    bad = _tar(tmp_path / "bad.tar.gz", _link(tarfile.SYMTYPE))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DataError):
        unpack.unpack_to_temp(frappe(format="tar.gz"), bad, "bad", root)
    assert list(root.iterdir()) == []

    good = _tar(tmp_path / "good.tar.gz", lambda t: None)
    target = root / "Frappe_x1"
    target.mkdir()
    (target / "old.txt").write_text("old")
    tmp, checks = unpack.unpack_to_temp(frappe(format="tar.gz"), good, "good", root)
    assert tmp.parent == root and tmp.name.startswith(".Frappe_x1.unpack-") and checks == []
    unpack.place(tmp, target)
    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    assert [p.name for p in root.iterdir()] == ["Frappe_x1"]  # the old folder and the temporary one are gone
