"""Table IV: the feature lists and preprocessing of the paper's datasets, tfbench's beside the paper's.

Ours is read from the dataset registry (:data:`tfbench.data.paper_datasets.PAPER_DATASETS` and
its loaders), not from data, so the table needs no dataset present: the fields in the order the
model sees them, the multi-valued ones, each field transform (described by the first paragraph
of its docstring), how a missing value is encoded, the OOV threshold, the label and the split.
The paper's columns are the study's ``paper`` mapping, Table IV as printed:
``{paper dataset name: {feature_list: text, preprocessing: text}}``.

Where the paper's feature list is a plain comma-separated list of names, the notes name the
fields it has and tfbench does not, and the reverse (KKBox: the paper lists 18 columns, the
authors' KKBox_x1 configuration and tfbench use 13).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from tfbench.data.paper_datasets import PAPER_DATASETS, PaperDataset
from tfbench.data.paper_loaders import BarsLoader
from tfbench.errors import ConfigError
from tfbench.report.plain_tables import FORMATS, TextTable, render_document, write_text
from tfbench.report.special import Reporter, register

PAPER_KEYS = ("feature_list", "preprocessing")
_NAME_LIST = re.compile(r"^\s*\w+(\s*,\s*\w+)*\s*$")


def check(study) -> None:
    for name, row in study.paper.items():
        if not isinstance(row, dict) or set(row) != set(PAPER_KEYS) or not all(isinstance(v, str) for v in row.values()):
            raise ConfigError(f"'paper.{name}' must map exactly {', '.join(PAPER_KEYS)} to text")
    for ds in study.datasets:
        if ds not in PAPER_DATASETS:
            raise ConfigError(f"'datasets' holds {ds!r}, which is not one of the paper's datasets "
                              f"({', '.join(PAPER_DATASETS)})")
    if study.report_settings:
        raise ConfigError(f"'report_settings' has no settings for this report, got {sorted(study.report_settings)}")


def _doc(fn) -> str:
    """The first paragraph of a docstring on one line, reST literals unquoted."""
    first = (fn.__doc__ or fn.__name__).strip().split("\n\n")[0]
    return " ".join(first.replace("``", "").split())


def _names(fields: list[str]) -> str:
    """The fields as a comma list, a run of three or more like I1, I2, ..., I13 written ``I1–I13``."""
    runs: list[list[str]] = []
    for f in fields:
        if runs and _follows(runs[-1][-1], f):
            runs[-1].append(f)
        else:
            runs.append([f])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) >= 3 else ", ".join(r) for r in runs)


def _follows(a: str, b: str) -> bool:
    """Whether ``b`` is the name after ``a`` in a numbered series (I1 -> I2)."""
    ma, mb = re.fullmatch(r"(\D+)(\d+)", a), re.fullmatch(r"(\D+)(\d+)", b)
    return bool(ma and mb and ma.group(1) == mb.group(1) and int(mb.group(2)) == int(ma.group(2)) + 1)


def our_features(spec: PaperDataset) -> str:
    loader = spec.build
    multi = loader.sequences if isinstance(loader, BarsLoader) else {}
    named = _names(list(spec.fields))
    for f in multi:
        named = re.sub(rf"\b{re.escape(f)}\b", f"{f} (multi-valued)", named)
    return f"({len(spec.fields)}) {named}"


def our_preprocessing(spec: PaperDataset) -> str:
    """What tfbench does to this dataset's columns, in words, from its loader's settings."""
    parts = []
    loader = spec.build
    if isinstance(loader, BarsLoader):
        by_transform: dict = {}
        for f, fn in loader.transforms.items():
            by_transform.setdefault(fn, []).append(f)
        for fn, fields in by_transform.items():
            parts.append(f"{_names(fields)}: {_doc(fn).rstrip('.')}")
        by_sequence: dict = {}
        for f, seq in loader.sequences.items():
            by_sequence.setdefault(seq, []).append(f)
        for seq, fields in by_sequence.items():
            parts.append(f"{_names(fields)}: multi-hot, tokens split at '{seq.separator}', "
                         f"at most {seq.max_len} kept, {seq.pooling}-pooled embeddings")
        if loader.keep_missing:
            parts.append(f"{_names(list(loader.keep_missing))}: a missing value is a token of its own")
        oov = [f for f in spec.fields if f in loader.missing_to_oov]
        if oov:
            parts.append(f"an empty value of {_names(oov) if len(oov) < len(spec.fields) else 'any field'} "
                         f"maps to the field's OOV index")
        parts.append(f"label column '{loader.label}'")
    parts.append(f"label encoding with a train-only vocabulary, values seen fewer than "
                 f"{spec.expected.min_count} times in train → OOV; one embedding per field")
    parts.append(spec.description.rstrip("."))
    return "; ".join(parts) + "."


def list_differences(spec: PaperDataset, paper_list: str) -> str | None:
    """Fields only in the paper's list / only in ours, when the paper's list is plain names."""
    if not _NAME_LIST.match(paper_list):
        return None
    theirs = [n.strip() for n in paper_list.split(",")]
    only_paper = [n for n in theirs if n not in spec.fields]
    only_ours = [n for n in spec.fields if n not in theirs]
    if not only_paper and not only_ours:
        return None
    out = f"{spec.title}: the paper lists {len(theirs)} features, tfbench uses {len(spec.fields)}"
    if only_paper:
        out += f"; only in the paper: {', '.join(only_paper)}"
    if only_ours:
        out += f"; only in tfbench: {', '.join(only_ours)}"
    return out + "."


def rows(study) -> list[dict]:
    out = []
    for name in study.datasets:
        spec = PAPER_DATASETS[name]
        theirs = study.paper.get(study.paper_names.get(name, spec.title)) or {}
        out.append({"dataset": name, "paper_dataset": spec.title if theirs else "",
                    "features": our_features(spec), "preprocessing": our_preprocessing(spec),
                    "paper_features": theirs.get("feature_list", ""), "paper_preprocessing": theirs.get("preprocessing", "")})
    return out


def render(study, store, *, fmt: str, out_dir: Path, datasets, quick: bool, seeds) -> tuple[str, list[Path], int]:
    """The dataset_features reporter: Table IV from the registry, for the study's (or the given) datasets."""
    if datasets:
        unknown = [d for d in datasets if d not in PAPER_DATASETS]
        if unknown:
            raise ConfigError(f"table {study.name} covers the paper's datasets ({', '.join(PAPER_DATASETS)}), "
                              f"not {', '.join(unknown)}")
        from dataclasses import replace

        study = replace(study, datasets=tuple(datasets))
    table = rows(study)
    shown = [{"dataset": r["dataset"], "source": src, "feature list": r[f"{prefix}features"],
              "preprocessing / encoding": r[f"{prefix}preprocessing"] or "—"}
             for r in table for src, prefix in (("tfbench", ""), ("paper", "paper_"))]
    notes = ["No runs and no data: tfbench's columns are read from its dataset registry "
             "(tfbench/data/paper_datasets.py and paper_loaders.py); the paper's are Table IV as printed."]
    for r in table:
        difference = list_differences(PAPER_DATASETS[r["dataset"]], r["paper_features"])
        if difference:
            notes.append(difference)
    text = render_document(fmt, study.title, [TextTable("Feature lists and preprocessing", pd.DataFrame(shown))],
                           notes, pd.DataFrame(table))
    return text, [write_text(Path(out_dir) / (study.name + FORMATS[fmt]), text)], 0


REPORTER = register(Reporter(
    name="dataset_features", render=render, check=check,
    description="Table IV: feature lists and preprocessing from the dataset registry, the paper's beside",
))
