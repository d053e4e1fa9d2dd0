"""Named datasets and the resolution of a dataset spec (a name or a path) into a source.

A :class:`Source` knows its files (for the cache key), the options that matter to it and
how to build its :class:`~tfbench.data.encode.RawData`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tfbench.data import csv_source, libfm_source, named, synthetic
from tfbench.data import stream as stream_mod
from tfbench.data.encode import RawData, split_sizes
from tfbench.data.file_hash import source_sha256
from tfbench.errors import DataError

DATA_DIR_ENV = "TFBENCH_DATA_DIR"
CACHE_DIR_ENV = "TFBENCH_CACHE_DIR"
DEFAULT_DATA_DIR = "data"
DEFAULT_CACHE_DIR = ".tfbench-cache"

FRAPPE_FOLDER = "frappe-nfm"
# Concatenated in file-name order (test before validation), then split 7:2:1 at random.
FRAPPE_FILES = ("frappe.test.libfm", "frappe.validation.libfm")
FRAPPE_FIELDS = ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city"]
FRAPPE_ROWS = 86_582


@dataclass(frozen=True)
class NamedDataset:
    name: str
    description: str
    rows: int
    folder: str | None  # under the data dir; None for generated data
    files: tuple[str, ...] = ()


NAMED: dict[str, NamedDataset] = {
    "synthetic": NamedDataset(
        name="synthetic",
        description="embedded generator: 9 power-law categorical fields, random FM + MLP teacher, ~1/3 positives",
        rows=synthetic.DEFAULT_ROWS,
        folder=None,
    ),
    "frappe-nfm": NamedDataset(
        name="frappe-nfm",
        description="Frappe app-usage log (NFM libFM release), 10 fields, random 7:2:1 split",
        rows=FRAPPE_ROWS,
        folder=FRAPPE_FOLDER,
        files=FRAPPE_FILES,
    ),
    **{
        spec.name: NamedDataset(
            name=spec.name, description=spec.description, rows=spec.total_rows, folder=spec.folder, files=spec.files
        )
        for spec in named.PAPER_DATASETS.values()
    },
}


def _env_path(var: str) -> str | None:
    value = os.environ.get(var, "").strip()
    return value or None


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data root: explicit argument > $TFBENCH_DATA_DIR > ./data."""
    chosen = data_dir if data_dir not in (None, "") else (_env_path(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    return Path(chosen).expanduser().absolute()


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The cache directory: explicit argument > $TFBENCH_CACHE_DIR > ./.tfbench-cache."""
    chosen = cache_dir if cache_dir not in (None, "") else (_env_path(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)
    return Path(chosen).expanduser().absolute()


def named_datasets(data_dir: str | Path | None = None) -> list[dict]:
    """One dict per named dataset: name, description, rows (expected), available, path."""
    root = resolve_data_dir(data_dir)
    out = []
    for ds in NAMED.values():
        if ds.folder is None:
            path, available = None, True
        else:
            folder = root / ds.folder
            path = str(folder)
            available = all((folder / f).is_file() for f in ds.files)
        out.append(
            {"name": ds.name, "description": ds.description, "rows": ds.rows, "available": available, "path": path}
        )
    return out


@dataclass
class Options:
    min_count: int
    split_seed: int
    synthetic_rows: int
    synthetic_seed: int
    numeric: list[str]
    group_field: str | None


@dataclass
class Source:
    name: str
    kind: str
    path: str | None
    files: list[Path]
    key_options: dict
    build: Callable[[], RawData]
    info: dict = field(default_factory=dict)
    # Streaming preparation into a cache DirBuilder (CSV folders only; see stream.py), or None.
    stream: Callable[..., "stream_mod.Prepared"] | None = None

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)

    def descriptor(self, hash_memo: Path | None = None) -> dict:
        """Everything that determines the encoded arrays (hashed into the cache key). ``hash_memo``:
        the cache folder whose memo of the files' hashes may be used (``tfbench.data.file_hash``)."""
        return {
            "kind": self.kind,
            "files": [[p.name, source_sha256(p, hash_memo)] for p in self.files],
            "options": self.key_options,
        }


def _unknown(spec: str, extra: str = "") -> DataError:
    known = ", ".join(NAMED)
    return DataError(
        f"unknown dataset '{spec}'{extra}: known datasets are {known};"
        " or give a folder with train.csv/valid.csv/test.csv"
    )


def _no_numeric(name: str, opts: Options) -> None:
    if opts.numeric:
        raise DataError(
            f"option numeric: dataset '{name}' has no numeric columns; numeric applies only to CSV folders"
        )


def _check_group(name: str, group_field: str | None, fields: list[str]) -> None:
    if group_field is not None and group_field not in fields:
        raise DataError(
            f"option group_field: '{group_field}' is not a field of dataset '{name}' (fields: {', '.join(fields)})"
        )


def _synthetic_source(opts: Options) -> Source:
    _no_numeric("synthetic", opts)
    group = opts.group_field or synthetic.GROUP_FIELD
    _check_group("synthetic", group, synthetic.FIELD_NAMES)
    if min(split_sizes(opts.synthetic_rows)) == 0:
        raise DataError(f"option synthetic_rows: {opts.synthetic_rows} rows are too few to split 7:2:1 (need at least 10)")
    return Source(
        name="synthetic",
        kind="synthetic",
        path=None,
        files=[],
        key_options={
            "generator": synthetic.GENERATOR_VERSION,
            "rows": opts.synthetic_rows,
            "seed": opts.synthetic_seed,
            "split_seed": opts.split_seed,
            "min_count": opts.min_count,
            "group_field": group,
        },
        build=lambda: synthetic.load_synthetic(opts.synthetic_rows, opts.synthetic_seed, opts.split_seed, group),
    )


def _frappe_source(data_dir: Path, opts: Options) -> Source:
    ds = NAMED["frappe-nfm"]
    folder = data_dir / FRAPPE_FOLDER
    missing = [f for f in ds.files if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"dataset 'frappe-nfm' not found: looked for {', '.join(missing)} in {folder};"
            f" set the data root with {DATA_DIR_ENV} or --data-dir (the folder holding {FRAPPE_FOLDER}/)"
        )
    _no_numeric(ds.name, opts)
    group = opts.group_field or "user"
    _check_group(ds.name, group, FRAPPE_FIELDS)
    files = [folder / f for f in ds.files]
    return Source(
        name=ds.name,
        kind="libfm-concat",
        path=str(folder),
        files=files,
        key_options={
            "fields": FRAPPE_FIELDS,
            "split_seed": opts.split_seed,
            "min_count": opts.min_count,
            "group_field": group,
        },
        build=lambda: libfm_source.load_libfm_concat(files, FRAPPE_FIELDS, group, opts.split_seed, str(folder)),
    )


def _paper_source(name: str, data_dir: Path, opts: Options) -> Source:
    spec = named.PAPER_DATASETS[name]
    folder = data_dir / spec.folder
    missing = [f for f in spec.files if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"dataset '{name}' not found: looked for {', '.join(missing)} in {folder};"
            f" set the data root with {DATA_DIR_ENV} or --data-dir (the folder holding {spec.folder}/),"
            f" and get the files with `tfbench data download {name}` (or unpack {spec.url} there)"
        )
    _no_numeric(name, opts)
    group = opts.group_field or spec.group_field
    _check_group(name, group, list(spec.fields))

    def build() -> RawData:
        raw = spec.build(folder)
        raw.group_field = group
        raw.info["paper_dataset"] = name
        return raw

    def prepare(builder) -> stream_mod.Prepared:
        prepared = stream_mod.prepare_csv(folder, spec.build.plan(group), opts.min_count, builder)
        prepared.info["paper_dataset"] = name
        return prepared

    return Source(
        name=name,
        kind=f"paper-{name}",
        path=str(folder),
        files=[folder / f for f in spec.files],
        key_options={
            "dataset": name,
            "prep_version": named.PREP_VERSION,
            "min_count": opts.min_count,
            "group_field": group,
        },
        build=build,
        stream=prepare if isinstance(spec.build, named.BarsLoader) else None,  # ml-1m is not a CSV folder
    )


def _csv_source(folder: Path, opts: Options) -> Source:
    files = csv_source.split_files(folder)
    return Source(
        name=folder.name or str(folder),
        kind="csv",
        path=str(folder),
        files=[files[s] for s in ("train", "valid", "test")],
        key_options={
            "min_count": opts.min_count,
            "numeric": sorted(set(opts.numeric)),
            "group_field": opts.group_field,
        },
        build=lambda: csv_source.load_csv_folder(folder, opts.numeric, opts.group_field),
        stream=lambda builder: stream_mod.prepare_csv(
            folder, stream_mod.CsvPlan(numeric=tuple(opts.numeric), group_field=opts.group_field), opts.min_count, builder
        ),
    )


def _libfm_build(name: str, build_raw: Callable[[], RawData], group_field: str | None) -> Callable[[], RawData]:
    def build() -> RawData:
        raw = build_raw()
        _check_group(name, group_field, raw.field_names)
        return raw

    return build


def _libfm_source(path: Path, opts: Options) -> Source:
    _no_numeric(path.name, opts)
    if path.is_file():
        layout, files = "concat", [path]
        name = path.stem
    else:
        layout, files = libfm_source.find_layout(path)
        name = path.name or str(path)
    key_options = {"fields": None, "min_count": opts.min_count, "group_field": opts.group_field}
    if layout == "split":
        split_files = files  # dict
        file_list = [split_files[s] for s in ("train", "valid", "test")]
        raw = lambda: libfm_source.load_libfm_split(split_files, None, opts.group_field)  # noqa: E731
        kind = "libfm-split"
    else:
        file_list = list(files)
        key_options["split_seed"] = opts.split_seed
        raw = lambda: libfm_source.load_libfm_concat(  # noqa: E731
            file_list, None, opts.group_field, opts.split_seed, str(path)
        )
        kind = "libfm-concat"
    return Source(
        name=name,
        kind=kind,
        path=str(path),
        files=file_list,
        key_options=key_options,
        build=_libfm_build(name, raw, opts.group_field),
    )


def _path_source(path: Path, opts: Options) -> Source:
    if path.is_dir():
        if csv_source.looks_like_csv_folder(path):
            return _csv_source(path, opts)
        if any(p.is_file() for p in path.glob("*.libfm")):
            return _libfm_source(path, opts)
        raise DataError(
            f"dataset folder {path} holds neither train.csv/valid.csv/test.csv nor *.libfm files"
        )
    if path.suffix == ".libfm":
        return _libfm_source(path, opts)
    if path.suffix == ".csv":
        raise DataError(
            f"dataset {path} is a single CSV file; give the folder holding train.csv, valid.csv and test.csv"
        )
    raise DataError(f"dataset {path} is a file but not a .libfm file; give a dataset folder")


def resolve_source(spec: str, data_dir: str | Path | None, opts: Options) -> Source:
    """Turn a dataset spec (named dataset, folder, or .libfm file) into a :class:`Source`."""
    spec = str(spec)
    if spec == "synthetic":
        return _synthetic_source(opts)
    if spec == "frappe-nfm":
        return _frappe_source(resolve_data_dir(data_dir), opts)
    if spec in named.PAPER_DATASETS:
        return _paper_source(spec, resolve_data_dir(data_dir), opts)
    if spec.strip() == "":
        raise _unknown(spec)
    path = Path(spec).expanduser()
    if path.exists():
        return _path_source(path, opts)
    looks_like_path = os.sep in spec or (os.altsep is not None and os.altsep in spec) or spec.startswith(("~", "."))
    if not looks_like_path:
        under_root = resolve_data_dir(data_dir) / spec
        if under_root.exists():
            return _path_source(under_root, opts)
        raise _unknown(spec)
    raise _unknown(spec, " (no such file or folder)")
