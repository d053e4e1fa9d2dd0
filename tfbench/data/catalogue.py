"""The download catalogue: where each dataset's public archive lives and what is published about it.

Pure data and its validation, no I/O: :data:`ARCHIVES` maps every dataset of ``named.py`` to an
:class:`Archive` (its URLs in the order they are tried, the archive's file name and format, the
published checksums and where they come from, and the folder and files the loader reads, taken
from ``named.PAPER_DATASETS`` so the two cannot drift apart). Nobody publishes the archives' byte
sizes, so the catalogue holds none; a download reports the size it got.

``download.py`` fetches (``http_fetch.py``), verifies and unpacks (``unpack.py``) an archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tfbench.data import named
from tfbench.errors import DataError


@dataclass(frozen=True)
class Archive:
    """Where one dataset's public archive lives and what is published about it.

    ``checksum`` is the archive's own digest as published (``"md5:<hex>"`` or
    ``"sha256:<hex>"``), ``None`` where nobody publishes one. ``file_checksums`` are published
    digests of unpacked files (same notation). ``provenance`` says where each value comes from.
    """

    name: str
    folder: str  # under the data root, as named.py expects it
    files: tuple[str, ...]  # the loader's files, as named.py expects them
    urls: tuple[str, ...]  # tried in this order
    filename: str  # the archive's file name (also its name under a base URL)
    format: str = "zip"  # "zip" or "tar.gz"
    checksum: str | None = None
    file_checksums: dict[str, str] = field(default_factory=dict)
    provenance: str = ""


FORMATS = ("zip", "tar.gz")
_DIGEST_LEN = {"md5": 32, "sha256": 64}


def parse_checksum(value: str) -> tuple[str, str]:
    """``"md5:<hex>"`` / ``"sha256:<hex>"`` → (algorithm, hex digest); ValueError otherwise."""
    algo, _, digest = value.partition(":")
    if algo not in _DIGEST_LEN or not re.fullmatch(f"[0-9a-f]{{{_DIGEST_LEN[algo]}}}", digest):
        raise ValueError(f"checksum must be 'md5:<32 hex>' or 'sha256:<64 hex>', got {value!r}")
    return algo, digest


def _hf(dataset_id: str) -> str:
    return f"https://huggingface.co/datasets/reczoo/{dataset_id}/resolve/main/{dataset_id}.zip?download=true"


def _zenodo(file_name: str) -> str:
    return f"https://zenodo.org/record/6324454/files/{file_name}?download=1"


def _paper(name: str, **kw) -> Archive:
    spec = named.PAPER_DATASETS[name]
    return Archive(name=name, folder=spec.folder, files=spec.files, **kw)


# URLs: the RecZoo dataset index (github.com/reczoo/Datasets, README.md) links every BARS set to
# huggingface.co/datasets/reczoo/<ID>/resolve/main/<ID>.zip; the older BARS docs
# (datasets/Frappe/README.md, datasets/MovieLens/README.md) link the same sets on Zenodo record
# 6324454. Nobody publishes a checksum of these zip files, so `checksum` is None for them: the
# download reports the sha256 it recorded instead. The md5 sums of the unpacked CSV files are
# published ("Check the md5sum for data integrity") and are verified after unpacking.
ARCHIVES: dict[str, Archive] = {
    "frappe": _paper(
        "frappe",
        urls=(_hf("Frappe_x1"), _zenodo("Frappe_x1.zip")),
        filename="Frappe_x1.zip",
        checksum=None,  # no published checksum of the zip
        file_checksums={
            "train.csv": "md5:ba7306e6c4fc19dd2cd84f2f0596d158",
            "valid.csv": "md5:88d51bf2173505436d3a8f78f2a59da8",
            "test.csv": "md5:3470f6d32713dc5f7715f198ca7c612a",
        },
        provenance="CSV md5 sums from the BARS docs, datasets/Frappe/README.md (Frappe_x1)",
    ),
    "ml-tag": _paper(
        "ml-tag",
        urls=(_hf("MovielensLatest_x1"), _zenodo("Movielenslatest_x1.zip")),
        filename="MovielensLatest_x1.zip",
        checksum=None,  # no published checksum of the zip
        file_checksums={
            "train.csv": "md5:efc8bceeaa0e895d566470fc99f3f271",
            "valid.csv": "md5:e1930223a5026e910ed5a48687de8af1",
            "test.csv": "md5:54e8c6baff2e059fe067fb9b69e692d0",
        },
        provenance="CSV md5 sums from the BARS docs, datasets/MovieLens/README.md (MovielensLatest_x1)",
    ),
    "ml-1m": _paper(
        "ml-1m",
        urls=("https://files.grouplens.org/datasets/movielens/ml-1m.zip",),
        filename="ml-1m.zip",
        # GroupLens serves the archive's md5 beside it (ml-1m.zip.md5); this is the value quoted
        # by the projects that verify this archive (e.g. PaddlePaddle's dataset cache).
        checksum="md5:c4d9eecfca2ab87c1945afe126590906",
        provenance="archive md5 published by GroupLens (files.grouplens.org/datasets/movielens/ml-1m.zip.md5)",
    ),
    "kkbox": _paper(
        "kkbox",
        urls=(_hf("KKBox_x1"),),
        filename="KKBox_x1.zip",
        checksum=None,  # no published checksum of the zip
        file_checksums={
            "train.csv": "md5:195b1ae8fc2d9267d7c8656c07ea1304",
            "valid.csv": "md5:398e97ac139611a09bd61a58e4240a3e",
            "test.csv": "md5:8c5f7add05a6f5258b6b3bcc00ba640b",
        },
        provenance="CSV md5 sums from the RecZoo dataset docs, KKBox/KKBox_x1/README.md",
    ),
    "criteo": _paper(
        "criteo",
        urls=(_hf("Criteo_x4"),),
        filename="Criteo_x4.zip",
        checksum=None,  # no published checksum of the zip
        file_checksums={
            "train.csv": "md5:4a53bb7cbc0e4ee25f9d6a73ed824b1a",
            "valid.csv": "md5:fba5428b22895016e790e2dec623cb56",
            "test.csv": "md5:cfc37da0d75c4d2d8778e76997df2976",
        },
        provenance="CSV md5 sums from the RecZoo dataset docs, Criteo/Criteo_x4/README.md",
    ),
}


def register_archive(archive: Archive) -> Archive | None:
    """Add or replace the archive of ``archive.name``; returns the one it replaced."""
    for value in (archive.checksum, *archive.file_checksums.values()):
        if value is not None:
            parse_checksum(value)
    if archive.format not in FORMATS:
        raise ValueError(f"archive format must be zip or tar.gz, got {archive.format!r}")
    previous = ARCHIVES.get(archive.name)
    ARCHIVES[archive.name] = archive
    return previous


def get_archive(name: str) -> Archive:
    if name not in ARCHIVES:
        raise DataError(f"no download for dataset '{name}': downloadable datasets are {', '.join(ARCHIVES)}")
    return ARCHIVES[name]
