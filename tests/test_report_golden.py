"""Golden outputs of ``render_table``: a few representative tables in markdown, LaTeX and CSV.

The inputs are synthetic numbers made up below (no real runs). The fixtures under
``tests/fixtures/report/`` were rendered by the report code itself; markdown and CSV must match
them character for character (value for value). LaTeX is compared by its digest: the numbers,
the bold (best) / underlined (second best) marks, the words, and the table structure (column spec,
header cells and spans, booktabs rules, body rows and cells per row), so that its exact form may
change without a number or a mark changing.

To rewrite the fixtures after an intended change: ``TFBENCH_UPDATE_GOLDEN=1 pytest tests/test_report_golden.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from tfbench.report import TableLayout, render_table

FIXTURES = Path(__file__).parent / "fixtures" / "report"
UPDATE = os.environ.get("TFBENCH_UPDATE_GOLDEN") == "1"
SUFFIX = {"markdown": ".md", "latex": ".tex", "csv": ".csv"}


def _value(ds: int, r: int, c: int, seed: int, base: float, spread: float = 0.0003) -> float:
    """A made-up per-seed metric value: a row/column effect plus a small seed wobble."""
    return base + 0.0011 * r - 0.0007 * c + spread * ((7 * seed + 3 * r + 5 * c + ds) % 5)


def _frame(datasets, row_axis, rows, col_axis, cols, seeds, metrics, skip=(), single=()):
    """One run per (dataset, row, col, seed); ``skip`` = (ds, row, col) that never ran,
    ``single`` = (ds, row, col) with one seed only."""
    out = []
    for di, ds in enumerate(datasets):
        for ri, row in enumerate(rows):
            for ci, col in enumerate(cols):
                if (ds, row, col) in skip:
                    continue
                use = seeds[:1] if (ds, row, col) in single else seeds
                for seed in use:
                    rec = {"dataset": ds, row_axis: row, "seed": seed}
                    if col_axis:
                        rec[col_axis] = col
                    for m, (base, spread) in metrics.items():
                        rec[m] = _value(di, ri, ci, seed, base, spread)
                    out.append(rec)
    return pd.DataFrame(out).sample(frac=1.0, random_state=5)     # row order must not matter


def case_two_axis():
    """Two axes, AUC + logloss (lower is better), a dataset without runs, a missing cell, a single
    seed, a row value outside the declared order, the paper on one dataset only, notes to escape."""
    df = _frame(["frappe-nfm", "ml_1m"], "ssem", ["SER", "GM", "Share"], "dfm", ["WSF", "Sum"], [1, 2, 3],
                {"AUC": (0.9850, 0.0003), "logloss": (0.1400, 0.004)},
                skip={("frappe-nfm", "GM", "Sum")}, single={("frappe-nfm", "Share", "Sum")})
    extra = pd.DataFrame([{"dataset": "ml_1m", "ssem": "MoE", "dfm": "WSF", "seed": s, "AUC": 0.9862 + 0.0001 * s,
                           "logloss": 0.139 - 0.001 * s} for s in (1, 2)])
    df = pd.concat([df, extra], ignore_index=True)
    lay = TableLayout("Table VI-like: SSEM x DFM", "ssem", "dfm", ["SER", "GM", "Share"], ["WSF", "Sum"],
                      ["AUC", "logloss"])
    paper = {"Frappe": {"SER": {"WSF": {"AUC": 98.72}, "Sum": {"AUC": 98.72}},
                        "GM": {"WSF": {"AUC": 98.57}, "Sum": {"AUC": 98.57}},
                        "Share": {"WSF": {"AUC": 98.52}, "Sum": {"AUC": 98.51}}}}
    return df, lay, dict(datasets=["frappe-nfm", "ml_1m", "kkbox"], paper=paper,
                         paper_names={"frappe-nfm": "Frappe"},
                         notes=["alpha_1 = 25% & #2 ± 0.1 — ok", "Welch two-tailed t-test"])


def case_single_axis_test_row():
    """One axis (paper key "-"), test_row with Welch's test, three metrics (gAUC partly NaN), the best
    other row with a single seed on one dataset, a dataset where the test row never ran."""
    models = ["LR", "DeepFM", "DCN", "TF4CTR"]
    df = _frame(["frappe", "ml-tag", "criteo"], "model", models, None, [None], [1, 2, 3, 4],
                {"AUC": (0.9800, 0.0004), "gAUC": (0.9500, 0.0006), "logloss": (0.2000, 0.003)},
                skip={("criteo", "TF4CTR", None)}, single={("ml-tag", "DCN", None)})
    df.loc[(df["dataset"] == "ml-tag") & (df["seed"] == 2), "gAUC"] = float("nan")
    df.loc[df["dataset"] == "criteo", "gAUC"] = float("nan")           # no user field: no gAUC at all
    lay = TableLayout("Table VII-like: baselines", "model", None, models, [], ["AUC", "gAUC", "logloss"],
                      test_row="TF4CTR")
    paper = {"Frappe": {m: {"-": {"AUC": v}} for m, v in zip(models, [97.91, 98.33, 98.36, 98.54])},
             "Criteo": {m: {"-": {"AUC": v}} for m, v in zip(models, [78.86, 81.30, 81.33, 81.50])}}
    return df, lay, dict(datasets=["frappe", "ml-tag", "criteo"], paper=paper,
                         paper_names={"frappe": "Frappe", "criteo": "Criteo"}, notes=["3 epochs"])


def case_single_axis_paired():
    """test_row with the paired test over shared seeds (seeds differ between rows)."""
    rows = []
    seeds = {"DCN": [1, 2, 3], "DCNv2": [1, 2, 3, 5], "TF4CTR": [1, 2, 3, 4]}
    for ri, (model, ss) in enumerate(seeds.items()):
        for s in ss:
            rows.append({"dataset": "frappe", "model": model, "seed": s, "AUC": _value(0, ri, 0, s, 0.9840)})
    lay = TableLayout("Table VII-like (paired)", "model", None, list(seeds), [], ["AUC"], test_row="TF4CTR",
                      paired=True)
    return pd.DataFrame(rows), lay, dict(datasets=["frappe"])


def case_delta_row_average():
    """Table V-like: Δ to the Log row, a test row, the average block; a column that never ran on one
    dataset (averages over fewer datasets than the paper's), a paper without one dataset's cells."""
    losses, models = ["Log", "Focal", "TF"], ["DeepFM", "DCN"]
    df = _frame(["frappe", "ml-tag", "kkbox"], "loss", losses, "model", models, [1, 2, 3],
                {"AUC": (0.9830, 0.0004)},
                skip={("ml-tag", "Log", "DCN"), ("ml-tag", "Focal", "DCN"), ("ml-tag", "TF", "DCN")},
                single={("kkbox", "Focal", "DeepFM")})
    paper = {
        "Frappe": {"Log": {"DeepFM": {"AUC": 98.37}, "DCN": {"AUC": 98.38}},
                   "Focal": {"DeepFM": {"AUC": 98.43}, "DCN": {"AUC": 98.46}},
                   "TF": {"DeepFM": {"AUC": 98.48}, "DCN": {"AUC": 98.53}}},
        "ML-tag": {"Log": {"DeepFM": {"AUC": 96.92}, "DCN": {"AUC": 96.91}},
                   "Focal": {"DeepFM": {"AUC": 96.95}, "DCN": {"AUC": 96.85}},
                   "TF": {"DeepFM": {"AUC": 96.99}, "DCN": {"AUC": 97.12}}},
    }
    lay = TableLayout("Table V-like: losses x models", "loss", "model", losses, models, ["AUC"],
                      delta_row="Log", test_row="TF", average_datasets=True)
    return df, lay, dict(datasets=["frappe", "ml-tag", "kkbox"], paper=paper,
                         paper_names={"frappe": "Frappe", "ml-tag": "ML-tag"})


def case_delta_column():
    """Table VIII-like: Δ to the Base column, AUC and logloss, the average block."""
    models = ["DeepFM", "WideDeep", "xDeepFM"]
    df = _frame(["ml-1m", "frappe"], "model", models, "tf4ctr", ["Base", "TF4CTR"], [1, 2],
                {"AUC": (0.8120, 0.0005), "logloss": (0.4000, 0.002)},
                skip={("frappe", "xDeepFM", "TF4CTR")})
    paper = {"ML-1M": {"DeepFM": {"Base": {"AUC": 81.23}, "TF4CTR": {"AUC": 81.60}},
                       "WideDeep": {"Base": {"AUC": 81.22}, "TF4CTR": {"AUC": 81.63}},
                       "xDeepFM": {"Base": {"AUC": 81.28}, "TF4CTR": {"AUC": 81.65}}}}
    lay = TableLayout("Table VIII-like: plug-in", "model", "tf4ctr", models, ["Base", "TF4CTR"],
                      ["AUC", "logloss"], delta_column="Base", average_datasets=True)
    return df, lay, dict(datasets=["ml-1m", "frappe"], paper=paper, paper_names={"ml-1m": "ML-1M"})


def case_numeric_axis_raw():
    """A float row axis, raw values (scale 1) with four decimals, a metric declared lower-is-better
    by the layout, ties at the displayed precision."""
    rows = []
    for ri, alpha in enumerate([0.15, 0.25, 0.35]):
        for s in (1, 2, 3):
            rows.append({"dataset": "synthetic", "alpha": alpha, "seed": s,
                         "AUC": 0.81 + (0.00001 * s if ri < 2 else 0.0004 * ri + 0.0001 * s),
                         "err": 0.3 - 0.01 * ri + 0.001 * s})
    lay = TableLayout("Figure 7 as a table: α", "alpha", None, [0.15, 0.25, 0.35], [], ["AUC", "err"],
                      scale=1.0, decimals=4, higher_is_better={"err": False})
    return pd.DataFrame(rows), lay, dict(datasets=["synthetic"])


CASES = {
    "two_axis": case_two_axis,
    "single_axis_test_row": case_single_axis_test_row,
    "single_axis_paired": case_single_axis_paired,
    "delta_row_average": case_delta_row_average,
    "delta_column": case_delta_column,
    "numeric_axis_raw": case_numeric_axis_raw,
}


# --------------------------------------------------------------------------- LaTeX digest

_MARKED = re.compile(r"\\(textbf|underline)\{([-+]?\d+(?:\.\d+)?)\}")
_TOKEN = re.compile(r"\\[A-Za-z]+|[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?|---|[A-Za-z]+")


def _tokens(text: str) -> list[str]:
    """Numbers (with their mark: ``98.70@best``, ``98.62@second``), ``---`` and words of a piece of
    LaTeX; command names are dropped, so braces, spacing and command placement do not count."""
    text = _MARKED.sub(lambda m: f" {m.group(2)}@{'best' if m.group(1) == 'textbf' else 'second'} ", text)
    out = []
    for tok in re.findall(r"[-+]?\d+(?:\.\d+)?@\w+|" + _TOKEN.pattern, text):
        if not tok.startswith("\\"):
            out.append(tok)
    return out


def _header_cells(line: str) -> list[tuple[int, list[str]]]:
    """(span, tokens) per header cell; ``\\multicolumn{k}{c}{X}`` spans k columns."""
    out = []
    for c in line.rstrip().removesuffix("\\\\").split(" & "):
        m = re.fullmatch(r"\s*\\multicolumn\{(\d+)\}\{\w\}\{(.*)\}\s*", c)
        out.append((int(m.group(1)), _tokens(m.group(2))) if m else (1, _tokens(c)))
    return out


def latex_digest(tex: str) -> dict:
    """What a LaTeX table must keep however it is written (see the module docstring)."""
    tables = []
    for spec, body in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, flags=re.S):
        lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
        assert lines[0] == r"\toprule" and lines[-1] == r"\bottomrule", lines
        sep = lines.index(r"\midrule")
        header = [("cmidrule", re.findall(r"\{(\d+-\d+)\}", ln)) if ln.startswith(r"\cmidrule")
                  else ("row", _header_cells(ln)) for ln in lines[1:sep]]
        rows = []
        for ln in lines[sep + 1:-1]:
            if ln in (r"\midrule", r"\addlinespace"):
                rows.append(ln)
            else:
                assert ln.endswith(r"\\"), ln
                cells = ln.removesuffix(r"\\").split(" & ")
                assert len(cells) == len(spec), (spec, ln)
                rows.append([_tokens(c) for c in cells])
        tables.append({"spec": spec, "header": header, "rows": rows})
    outside = re.sub(r"\\begin\{tabular\}.*?\\end\{tabular\}", " TABLE ", tex, flags=re.S)
    return {"tables": tables, "text": _tokens(outside),
            "rules": [tex.count(r"\toprule"), tex.count(r"\midrule"), tex.count(r"\bottomrule")]}


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("fmt", list(SUFFIX))
@pytest.mark.parametrize("name", list(CASES))
def test_golden_output(name, fmt):
    df, lay, kw = CASES[name]()
    text = render_table(df, lay, fmt=fmt, **kw)
    path = FIXTURES / f"{name}{SUFFIX[fmt]}"
    if UPDATE:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if fmt == "latex":
        assert latex_digest(text) == latex_digest(expected)
    else:
        assert text == expected


def test_latex_digest_sees_numbers_and_marks():
    tex = (FIXTURES / "two_axis.tex").read_text(encoding="utf-8")
    d = latex_digest(tex)
    assert len(d["tables"]) == 3                       # one per dataset
    rows = [r for r in d["tables"][0]["rows"] if isinstance(r, list)]
    assert rows[0][0] == ["SER"] and rows[0][1][:4] == ["98.57", "0.05", "n", "3"]
    share = next(r for r in rows if r[0] == ["Share"])
    gm = next(r for r in rows if r[0] == ["GM"])
    assert share[1][0] == "98.77@best" and gm[1][0] == "98.67@second"
    assert rows[0][3][0] == "98.50"          # SER is the Sum column's only complete cell: unmarked
    # a changed mark or number changes the digest
    assert latex_digest(tex.replace(r"\textbf{", r"\underline{", 1)) != d
    n = re.search(r"\d+\.\d\d", tex.split(r"\midrule", 1)[1]).group(0)
    assert latex_digest(tex.replace(n, n[:-1] + str((int(n[-1]) + 1) % 10), 1)) != d
