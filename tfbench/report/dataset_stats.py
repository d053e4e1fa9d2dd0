"""Table III: the statistics of the datasets present here, the paper's beside them.

For each dataset of the study (or ``--datasets``) whose files are in the data root
(``TFBENCH_DATA_DIR``; the embedded ``synthetic`` always is), the dataset is prepared (or read
from the cache) and its statistics are those ``tfbench data info`` prints
(:func:`tfbench.data.statistics.prepare_statistics`): rows and positive ratio per split, fields,
and features = the sum of the per-field vocabulary sizes (built on train with the paper's OOV
threshold, padding and OOV entries included, as Table III counts them). The paper's Table III is
the study's ``paper`` mapping, copied from the paper; the per-split rows and vocabularies of the
authors' runs come from the dataset registry (``paper_datasets.Expected``). Nothing is read
from the results database.

The study's ``paper`` maps the paper's dataset name to ``{users, items, samples, fields,
features, positive_percent, split}`` (users and items null where the paper prints N/A);
``paper_names`` maps our dataset names to those names.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from tfbench.data.statistics import DatasetStatistics, prepare_statistics
from tfbench.errors import ConfigError, DataError
from tfbench.report.plain_tables import FORMATS, TextTable, render_document, write_text
from tfbench.report.special import Reporter, register

PAPER_FIELDS = {"users": int, "items": int, "samples": int, "fields": int, "features": int,
                "positive_percent": (int, float), "split": str}
MISSING = "—"


def check(study) -> None:
    for name, row in study.paper.items():
        if not isinstance(row, dict) or set(row) != set(PAPER_FIELDS):
            raise ConfigError(f"'paper.{name}' must map exactly {', '.join(PAPER_FIELDS)}")
        for key, kind in PAPER_FIELDS.items():
            value = row[key]
            if value is None and key in ("users", "items"):
                continue
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ConfigError(f"'paper.{name}.{key}' must be {'a number' if key != 'split' else 'text'}, "
                                  f"got {value!r}")
    for ours, theirs in study.paper_names.items():
        if theirs not in study.paper:
            raise ConfigError(f"'paper_names.{ours}' names {theirs!r}, which 'paper' does not hold")
    if study.report_settings:
        raise ConfigError(f"'report_settings' has no settings for this report, got {sorted(study.report_settings)}")


def _num(x) -> str:
    return MISSING if x is None else f"{x:,}"


def _pct(x) -> str:
    return MISSING if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}%"


def present_datasets(names: list[str]) -> tuple[list[str], list[str]]:
    """(present, absent) among ``names``, by whether their files are in the data root."""
    from tfbench.data import named_datasets

    available = {d["name"]: bool(d.get("available")) for d in named_datasets(None)}
    unknown = [n for n in names if n not in available]
    if unknown:
        raise DataError(f"unknown dataset(s) {', '.join(unknown)}: `tfbench datasets` lists the named ones")
    return [n for n in names if available[n]], [n for n in names if not available[n]]


def csv_frame(stats: list[DatasetStatistics], paper: dict, paper_names: dict[str, str]) -> pd.DataFrame:
    """Tidy: one row per dataset × split (and ``all``), ours beside the paper's."""
    rows = []
    for st in stats:
        pname = paper_names.get(st.name, st.name)
        theirs = paper.get(pname) or {}
        exp = st.expected
        common = {"dataset": st.name, "paper_dataset": pname if theirs else "", "fields": st.num_fields,
                  "features": st.features, "min_count": st.min_count,
                  "paper_fields": theirs.get("fields"), "paper_features": theirs.get("features"),
                  "authors_features": exp.run_features if exp else None,
                  "paper_users": theirs.get("users"), "paper_items": theirs.get("items"),
                  "paper_split": theirs.get("split")}
        for split in st.splits:
            rows.append({**common, "split": split.name, "rows": split.rows, "positives": split.positives,
                         "positive_percent": split.positive_percent,
                         "paper_rows": exp.rows.get(split.name) if exp else None, "paper_positive_percent": None})
        rows.append({**common, "split": "all", "rows": st.rows, "positives": sum(s.positives for s in st.splits),
                     "positive_percent": st.positive_percent, "paper_rows": theirs.get("samples"),
                     "paper_positive_percent": theirs.get("positive_percent")})
    columns = ["dataset", "paper_dataset", "split", "rows", "paper_rows", "positives", "positive_percent",
               "paper_positive_percent", "fields", "paper_fields", "features", "paper_features", "authors_features",
               "min_count", "paper_users", "paper_items", "paper_split"]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("paper_rows", "paper_fields", "paper_features", "authors_features", "paper_users", "paper_items"):
        frame[col] = frame[col].astype("Int64")       # integers with gaps, not floats
    return frame


def text_tables(stats: list[DatasetStatistics], paper: dict, paper_names: dict[str, str]) -> list[TextTable]:
    main, splits = [], []
    for st in stats:
        pname = paper_names.get(st.name, st.name)
        theirs = paper.get(pname) or {}
        exp = st.expected
        main.append({
            "dataset": st.name + (f" ({pname})" if theirs and pname != st.name else ""),
            "samples": _num(st.rows), "paper samples": _num(theirs.get("samples")),
            "fields": _num(st.num_fields), "paper fields": _num(theirs.get("fields")),
            "features": _num(st.features), "paper features": _num(theirs.get("features")),
            "authors' run": _num(exp.run_features) if exp else MISSING,
            "pos. ratio": _pct(st.positive_percent),
            "paper pos. ratio": f"{theirs['positive_percent']:.1f}%" if theirs else MISSING,
            "paper users / items": (f"{_num(theirs.get('users'))} / {_num(theirs.get('items'))}"
                                    if theirs else MISSING),
            "paper split": theirs.get("split", MISSING),
        })
        for split in st.splits:
            splits.append({"dataset": st.name, "split": split.name, "rows": _num(split.rows),
                           "authors' run rows": _num(exp.rows.get(split.name)) if exp else MISSING,
                           "positives": _num(split.positives), "pos. ratio": _pct(split.positive_percent)})
    numeric_main = ("samples", "paper samples", "fields", "paper fields", "features", "paper features",
                    "authors' run", "pos. ratio", "paper pos. ratio")
    return [TextTable("Datasets: ours beside Table III", pd.DataFrame(main), numeric_main),
            TextTable("Rows and positive ratio per split", pd.DataFrame(splits),
                      ("rows", "authors' run rows", "positives", "pos. ratio"))]


def notes(stats: list[DatasetStatistics], absent: list[str], paper_names: dict[str, str]) -> list[str]:
    out = ["No runs: these are the prepared datasets' own statistics (as `tfbench data info` prints them); "
           "nothing is read from the results database.",
           "features = the sum of the per-field vocabulary sizes, built on the train split with the OOV threshold "
           "min_count (the paper's: 10 for Criteo, 2 otherwise), padding and OOV entries included, as Table III's "
           "#Features; the same vocabulary serves every split. authors' run = the sum of the per-field sizes "
           "printed in the authors' FuxiCTR logs; paper = Table III as printed."]
    for st in stats:
        if st.expected is not None and st.expected.note:
            out.append(f"{st.name}: {st.expected.note}.")
        if st.paper_differences:
            out.append(f"{st.name} differs from the paper's statistics: {'; '.join(st.paper_differences)}.")
        elif st.expected is None and st.name in paper_names:
            from tfbench.data.registry import NAMED

            out.append(f"{st.name} is compared with the paper's {paper_names[st.name]} but is not the paper's "
                       f"files ({NAMED[st.name].description}), so its numbers need not match.")
    if absent:
        out.append(f"Not present in the data root, so not shown: {', '.join(absent)} "
                   f"(`tfbench data download NAME`, or set TFBENCH_DATA_DIR).")
    return out


def render(study, store, *, fmt: str, out_dir: Path, datasets, quick: bool, seeds) -> tuple[str, list[Path], int]:
    """The dataset_stats reporter: Table III for the datasets present (``datasets``: instead of the study's)."""
    present, absent = present_datasets(list(datasets or study.datasets))
    if not present:
        return (f"none of the datasets of {study.name} ({', '.join(absent)}) is in the data root "
                f"(`tfbench data download NAME`, or set TFBENCH_DATA_DIR)"), [], 0
    stats = [prepare_statistics(name) for name in present]
    text = render_document(fmt, study.title, text_tables(stats, study.paper, study.paper_names),
                           notes(stats, absent, study.paper_names), csv_frame(stats, study.paper, study.paper_names))
    return text, [write_text(Path(out_dir) / (study.name + FORMATS[fmt]), text)], 0


REPORTER = register(Reporter(
    name="dataset_stats", render=render, check=check,
    description="Table III: rows, positive ratio, fields and features of the datasets present, the paper's beside",
))
