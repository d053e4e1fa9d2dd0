"""What Tables V, VII and VIII print besides mean ± std: Δ against a reference row or column, the
p-value of one row against the best other row, and averages over datasets.

Hand-made DataFrames (and a stub store for ``write_report``); nothing trains.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tfbench.config import run_key
from tfbench.errors import ConfigError
from tfbench.report import AVG_DATASET, MISSING, PAIRED, WELCH, TableLayout, csv_columns, render_table, table_cells
from tfbench.report.study_report import layout_for, write_report
from tfbench.report.tables import CSV_COLUMNS
from tfbench.studies import load_study
from tfbench.studies.plan import run_config

# --------------------------------------------------------------------------- data

# (dataset, loss, model) -> AUC per seed (seeds 1, 2, 3, ...); ("ml-tag", *, "DCN") never ran,
# ("ml-tag", "Focal", "DeepFM") has a single seed.
RUNS = {
    ("frappe", "Log", "DeepFM"): [0.9830, 0.9836, 0.9840],
    ("frappe", "Focal", "DeepFM"): [0.9841, 0.9839, 0.9846],
    ("frappe", "TF", "DeepFM"): [0.9850, 0.9856, 0.9849],
    ("frappe", "Log", "DCN"): [0.9838, 0.9840, 0.9835],
    ("frappe", "Focal", "DCN"): [0.9831, 0.9829],
    ("frappe", "TF", "DCN"): [0.9852, 0.9855, 0.9851],
    ("ml-tag", "Log", "DeepFM"): [0.9690, 0.9694],
    ("ml-tag", "Focal", "DeepFM"): [0.9695],
    ("ml-tag", "TF", "DeepFM"): [0.9701, 0.9699],
}
PAPER = {
    "Frappe": {"Log": {"DeepFM": {"AUC": 98.37}, "DCN": {"AUC": 98.38}},
               "Focal": {"DeepFM": {"AUC": 98.43}, "DCN": {"AUC": 98.46}},
               "TF": {"DeepFM": {"AUC": 98.48}, "DCN": {"AUC": 98.53}}},
    "ML-tag": {"Log": {"DeepFM": {"AUC": 96.92}, "DCN": {"AUC": 96.91}},
               "Focal": {"DeepFM": {"AUC": 96.95}, "DCN": {"AUC": 96.85}},
               "TF": {"DeepFM": {"AUC": 96.99}, "DCN": {"AUC": 97.12}}},
}
NAMES = {"frappe": "Frappe", "ml-tag": "ML-tag"}
DATASETS = ["frappe", "ml-tag"]
ROWS, COLS = ["Log", "Focal", "TF"], ["DeepFM", "DCN"]


def layout(**extras) -> TableLayout:
    return TableLayout("Table V-like", "loss", "model", ROWS, COLS, ["AUC"], **extras)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    rows = [{"dataset": d, "loss": l, "model": m, "seed": s, "AUC": v}
            for (d, l, m), vals in RUNS.items() for s, v in enumerate(vals, start=1)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1)    # order of rows must not matter


def mean100(ds, row, col) -> float:
    return 100 * float(np.mean(RUNS[(ds, row, col)]))


def cell(cells: pd.DataFrame, ds, row, col, metric="AUC") -> pd.Series:
    sel = cells[(cells.dataset == ds) & (cells.row == row) & (cells.col == col) & (cells.metric == metric)]
    assert len(sel) == 1
    return sel.iloc[0]


def md_grid(md: str) -> dict[str, dict[str, list[str]]]:
    """{block heading: {row label: [cells...]}} from the rendered markdown."""
    out: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in md.splitlines():
        if line.startswith("### "):
            current = line[4:].split(" (paper")[0]
            out[current] = {}
        elif current and line.startswith("| ") and not line.startswith("| :--"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            out[current][cells[0]] = cells[1:]
    return out


def read_csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])


# --------------------------------------------------------------------------- Δ against a reference


def test_delta_row_values_against_hand_computation(results):
    cells = table_cells(results, layout(delta_row="Log"), datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    for (ds, row, col) in RUNS:
        c = cell(cells, ds, row, col)
        if row == "Log":
            assert c["is_ref"] and math.isnan(c["delta"]) and math.isnan(c["paper_delta"])
            continue
        ours = mean100(ds, row, col) - mean100(ds, "Log", col)
        assert c["delta"] == pytest.approx(ours, rel=1e-12)
        pn = NAMES[ds]
        assert c["paper_delta"] == pytest.approx(PAPER[pn][row][col]["AUC"] - PAPER[pn]["Log"][col]["AUC"], abs=1e-12)
    # a missing cell has no Δ of its own, but the paper's Δ is still there
    miss = cell(cells, "ml-tag", "TF", "DCN")
    assert miss["n"] == 0 and math.isnan(miss["delta"]) and miss["paper_delta"] == pytest.approx(97.12 - 96.91)
    # the reference is per column and per dataset: Focal DCN on frappe is below Log DCN
    assert cell(cells, "frappe", "Focal", "DCN")["delta"] < 0


def test_delta_column_values_against_hand_computation(results):
    lay = layout(delta_column="DeepFM")
    cells = table_cells(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    c = cell(cells, "frappe", "TF", "DCN")
    assert c["delta"] == pytest.approx(mean100("frappe", "TF", "DCN") - mean100("frappe", "TF", "DeepFM"), rel=1e-12)
    assert c["paper_delta"] == pytest.approx(98.53 - 98.48, abs=1e-12)
    assert cell(cells, "frappe", "TF", "DeepFM")["is_ref"]
    assert all(cells[cells.col == "DeepFM"]["is_ref"]) and not any(cells[cells.col == "DCN"]["is_ref"])
    md = render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    grid = md_grid(md)
    d = mean100("frappe", "TF", "DCN") - mean100("frappe", "TF", "DeepFM")
    assert grid["frappe"]["TF"][1].endswith(f"<br>Δ vs DeepFM: ours {d:+.2f} / paper +0.05")
    assert "Δ vs" not in grid["frappe"]["TF"][0]           # the reference cell itself


def test_delta_in_markdown_latex_and_csv(results):
    lay = layout(delta_row="Log")
    md = render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    grid = md_grid(md)
    ours = mean100("frappe", "TF", "DeepFM") - mean100("frappe", "Log", "DeepFM")
    assert grid["frappe"]["TF"][0].endswith(f"<br>Δ vs Log: ours {ours:+.2f} / paper +0.11")
    assert grid["frappe"]["Log"][0] == "98.35 ± 0.05 (n=3)<br>paper 98.37 (Δ -0.02)"     # reference: no Δ line
    assert grid["ml-tag"]["TF"][1] == f"{MISSING}<br>paper 97.12<br>Δ vs Log: ours {MISSING} / paper +0.21"
    assert "Δ vs Log = the cell − the Log row's cell of the same column and dataset" in md

    tex = render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="latex")
    assert rf"{{\scriptsize $\Delta$ vs Log (ours / paper)}} & {{\scriptsize ${ours:+.2f}$ / $+0.11$}}" in tex
    _check_latex_structure(tex)

    df = read_csv(render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="csv"))
    assert list(df.columns) == CSV_COLUMNS + ["delta", "paper_delta"]
    rec = df[(df.dataset == "frappe") & (df.row == "TF") & (df.col == "DeepFM")].iloc[0]
    assert rec["delta"] == pytest.approx(ours, rel=1e-12) and len(repr(rec["delta"])) > 6   # full precision
    assert rec["paper_delta"] == pytest.approx(0.11, abs=1e-12)
    ref = df[(df.dataset == "frappe") & (df.row == "Log") & (df.col == "DeepFM")].iloc[0]
    assert math.isnan(ref["delta"]) and math.isnan(ref["paper_delta"])


def test_no_extras_keeps_the_plain_csv_and_cells(results):
    text = render_table(results, layout(), datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="csv")
    assert list(read_csv(text).columns) == CSV_COLUMNS
    md = render_table(results, layout(), datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    assert "Δ vs" not in md and "p vs best other" not in md and AVG_DATASET not in md
    assert csv_columns(layout(test_row="TF", delta_row="Log")) == CSV_COLUMNS + ["delta", "paper_delta",
                                                                                 "pvalue", "pvalue_vs"]


def test_bad_delta_reference_in_layout_raises(results):
    with pytest.raises(ValueError, match="delta_row 'Nope'"):
        table_cells(results, layout(delta_row="Nope"), datasets=DATASETS)
    with pytest.raises(ValueError, match="not both"):
        table_cells(results, layout(delta_row="Log", delta_column="DCN"), datasets=DATASETS)
    with pytest.raises(ValueError, match="test_row"):
        table_cells(results, layout(test_row="Nope"), datasets=DATASETS)


# --------------------------------------------------------------------------- p-value against the best other row


def test_pvalue_welch_matches_scipy_and_picks_the_best_other_row(results):
    cells = table_cells(results, layout(test_row="TF"), datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    # frappe DeepFM: Focal (98.42) beats Log (98.35), so TF is tested against Focal
    c = cell(cells, "frappe", "TF", "DeepFM")
    ref = sps.ttest_ind(RUNS[("frappe", "TF", "DeepFM")], RUNS[("frappe", "Focal", "DeepFM")], equal_var=False)
    assert c["pvalue_vs"] == "Focal" and c["pvalue_test"] == WELCH
    assert c["pvalue"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert (c["pvalue_n_a"], c["pvalue_n_b"]) == (3, 3)
    # frappe DCN: Log (98.38) beats Focal (98.30) although Focal comes later and TF beats both
    c = cell(cells, "frappe", "TF", "DCN")
    ref = sps.ttest_ind(RUNS[("frappe", "TF", "DCN")], RUNS[("frappe", "Log", "DCN")], equal_var=False)
    assert c["pvalue_vs"] == "Log" and c["pvalue"] == pytest.approx(ref.pvalue, rel=1e-12)
    # ml-tag DeepFM: Focal is best other but has a single seed: no p-value, no exception
    c = cell(cells, "ml-tag", "TF", "DeepFM")
    assert c["pvalue_vs"] == "Focal" and math.isnan(c["pvalue"]) and (c["pvalue_n_a"], c["pvalue_n_b"]) == (2, 1)
    # ml-tag DCN: nothing ran at all
    assert pd.isna(cell(cells, "ml-tag", "TF", "DCN")["pvalue_vs"])
    # only the test row carries p-values
    assert cells[cells.row != "TF"]["pvalue"].isna().all() and cells[cells.row != "TF"]["pvalue_vs"].isna().all()


def test_best_other_row_is_chosen_even_when_the_test_row_is_worse_and_for_lower_is_better():
    df = pd.DataFrame([
        {"dataset": "d", "m": m, "seed": s, "AUC": auc, "logloss": ll}
        for m, vals in {"A": [(0.80, 0.50), (0.81, 0.49), (0.82, 0.48)],
                        "B": [(0.90, 0.45), (0.91, 0.44), (0.93, 0.46)],
                        "C": [(0.85, 0.40), (0.86, 0.41), (0.84, 0.42)],
                        "T": [(0.84, 0.43), (0.83, 0.44), (0.85, 0.43)]}.items()
        for s, (auc, ll) in enumerate(vals, start=1)
    ])
    lay = TableLayout("t", "m", None, ["A", "B", "C", "T"], [], ["AUC", "logloss"], test_row="T")
    cells = table_cells(df, lay, datasets=["d"])
    auc = cell(cells, "d", "T", "-", "AUC")
    ll = cell(cells, "d", "T", "-", "logloss")
    assert auc["pvalue_vs"] == "B"          # highest AUC among the others
    assert ll["pvalue_vs"] == "C"           # lowest logloss among the others
    t = df[df.m == "T"]
    assert auc["pvalue"] == pytest.approx(sps.ttest_ind(t.AUC, df[df.m == "B"].AUC, equal_var=False).pvalue, rel=1e-12)
    assert ll["pvalue"] == pytest.approx(
        sps.ttest_ind(t.logloss, df[df.m == "C"].logloss, equal_var=False).pvalue, rel=1e-12)


def test_paired_pvalue_matches_ttest_rel_on_shared_seeds():
    tf = {1: 0.9850, 2: 0.9856, 3: 0.9849, 4: 0.9853}
    best = {1: 0.9841, 2: 0.9839, 3: 0.9846, 5: 0.9844}           # seeds 4 and 5 are not shared
    other = {1: 0.9800, 2: 0.9810, 3: 0.9805}
    rows = [{"dataset": "frappe", "model": name, "seed": s, "AUC": v}
            for name, vals in (("TF4CTR", tf), ("DCNv2", best), ("DCN", other)) for s, v in vals.items()]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=3)
    lay = TableLayout("Table VII-like", "model", None, ["DCN", "DCNv2", "TF4CTR"], [], ["AUC"], test_row="TF4CTR",
                      paired=True)
    c = cell(table_cells(df, lay, datasets=["frappe"]), "frappe", "TF4CTR", "-")
    ref = sps.ttest_rel([tf[s] for s in (1, 2, 3)], [best[s] for s in (1, 2, 3)])
    assert c["pvalue_vs"] == "DCNv2" and c["pvalue_test"] == PAIRED
    assert c["pvalue"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert (c["pvalue_n_a"], c["pvalue_n_b"]) == (3, 3)
    welch = cell(table_cells(df, TableLayout("t", "model", None, ["DCN", "DCNv2", "TF4CTR"], [], ["AUC"],
                                             test_row="TF4CTR"), datasets=["frappe"]), "frappe", "TF4CTR", "-")
    assert welch["pvalue"] == pytest.approx(
        sps.ttest_ind(list(tf.values()), list(best.values()), equal_var=False).pvalue, rel=1e-12)
    md = render_table(df, lay, datasets=["frappe"])
    assert f"| p vs best other (TF4CTR) | p = {ref.pvalue:.3g} vs DCNv2 (n=3/3) |" in md
    assert PAIRED in md and WELCH not in md


def test_pvalue_in_markdown_latex_and_csv(results):
    lay = layout(test_row="TF")
    ref = sps.ttest_ind(RUNS[("frappe", "TF", "DeepFM")], RUNS[("frappe", "Focal", "DeepFM")], equal_var=False)
    md = render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    grid = md_grid(md)
    assert grid["frappe"]["p vs best other (TF)"][0] == f"p = {ref.pvalue:.3g} vs Focal (n=3/3)"
    assert grid["ml-tag"]["p vs best other (TF)"] == ["n = 1, no test vs Focal (n=2/1)", MISSING]
    assert "nan" not in md
    assert f"p vs best other (TF): {WELCH} between the per-seed values of TF" in md

    tex = render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="latex")
    assert rf"{{\scriptsize p vs best other (TF)}} & {{\scriptsize p = {ref.pvalue:.3g} vs Focal (n=3/3)}}" in tex
    _check_latex_structure(tex)

    df = read_csv(render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="csv"))
    assert list(df.columns) == CSV_COLUMNS + ["pvalue", "pvalue_vs"]
    rec = df[(df.dataset == "frappe") & (df.row == "TF") & (df.col == "DeepFM")].iloc[0]
    assert rec["pvalue"] == pytest.approx(ref.pvalue, rel=1e-14) and rec["pvalue_vs"] == "Focal"
    assert df[df.row != "TF"]["pvalue"].isna().all()


# --------------------------------------------------------------------------- averages over datasets


def test_average_block_against_numpy(results):
    lay = layout(delta_row="Log", average_datasets=True)
    cells = table_cells(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    avg = cells[cells.dataset == AVG_DATASET]
    assert len(avg) == len(ROWS) * len(COLS) and avg["is_avg"].all()
    # DeepFM ran on both datasets: the mean of the two per-dataset means
    for row in ROWS:
        c = cell(cells, AVG_DATASET, row, "DeepFM")
        per_ds = [np.mean(RUNS[(ds, row, "DeepFM")]) * 100 for ds in DATASETS]
        assert c["mean"] == pytest.approx(np.mean(per_ds), rel=1e-12) and c["n"] == 2 and math.isnan(c["std"])
        paper = np.mean([PAPER[NAMES[ds]][row]["DeepFM"]["AUC"] for ds in DATASETS])
        assert c["paper"] == pytest.approx(paper, rel=1e-12) and c["paper_n"] == 2
        assert c["diff"] == pytest.approx(c["mean"] - paper, abs=1e-9)
    # average Δ = mean of the per-dataset Δ (Table V's AVG.RI)
    tf = cell(cells, AVG_DATASET, "TF", "DeepFM")
    deltas = [mean100(ds, "TF", "DeepFM") - mean100(ds, "Log", "DeepFM") for ds in DATASETS]
    assert tf["delta"] == pytest.approx(np.mean(deltas), rel=1e-12)
    pdeltas = [PAPER[NAMES[ds]]["TF"]["DeepFM"]["AUC"] - PAPER[NAMES[ds]]["Log"]["DeepFM"]["AUC"] for ds in DATASETS]
    assert tf["paper_delta"] == pytest.approx(np.mean(pdeltas), abs=1e-12)
    # DCN ran on frappe only: our average is frappe's mean, the paper's covers both: no diff
    dcn = cell(cells, AVG_DATASET, "TF", "DCN")
    assert dcn["n"] == 1 and dcn["mean"] == pytest.approx(mean100("frappe", "TF", "DCN"), rel=1e-12)
    assert dcn["paper"] == pytest.approx((98.53 + 97.12) / 2) and dcn["paper_n"] == 2 and math.isnan(dcn["diff"])
    # marks per column of the average block
    assert cell(cells, AVG_DATASET, "TF", "DeepFM")["mark"] == "best"
    assert cell(cells, AVG_DATASET, "Focal", "DeepFM")["mark"] == "second"


def test_average_block_in_markdown_latex_and_csv(results):
    lay = layout(delta_row="Log", average_datasets=True)
    md = render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES)
    grid = md_grid(md)
    assert list(grid) == DATASETS + [AVG_DATASET]
    avg = grid[AVG_DATASET]
    mean = np.mean([mean100(ds, "TF", "DeepFM") for ds in DATASETS])
    delta = np.mean([mean100(ds, "TF", "DeepFM") - mean100(ds, "Log", "DeepFM") for ds in DATASETS])
    paper = (98.48 + 96.99) / 2
    shown_diff = round(mean, 2) - round(paper, 2)
    assert avg["TF"][0] == (f"**{mean:.2f}** (2 datasets)<br>paper {paper:.2f} (Δ {shown_diff:+.2f})"
                            f"<br>Δ vs Log: ours {delta:+.2f} / paper +0.09")
    assert avg["TF"][1].startswith(f"**{mean100('frappe', 'TF', 'DCN'):.2f}** (1 dataset)<br>paper 97.83 (2 datasets)")
    assert "p vs best other" not in md
    assert f"{AVG_DATASET}: per cell, the mean over datasets of our per-dataset means" in md

    tex = render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="latex")
    assert rf"\subsection*{{{AVG_DATASET}}}" in tex
    assert rf"\textbf{{{mean:.2f}}}\,{{\scriptsize (2 datasets)}}" in tex
    _check_latex_structure(tex)

    df = read_csv(render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="csv"))
    rec = df[(df.dataset == AVG_DATASET) & (df.row == "TF") & (df.col == "DeepFM")].iloc[0]
    assert rec["mean"] == pytest.approx(mean, rel=1e-12) and rec["n"] == 2 and math.isnan(rec["std"])
    assert rec["delta"] == pytest.approx(delta, rel=1e-12) and rec["paper_delta"] == pytest.approx(0.09, abs=1e-12)
    assert len(df) == (len(DATASETS) + 1) * len(ROWS) * len(COLS)


def test_all_three_together(results):
    lay = layout(delta_row="Log", test_row="TF", average_datasets=True)
    for fmt in ("markdown", "latex", "csv"):
        text = render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt=fmt)
        assert AVG_DATASET in text
        if fmt == "latex":
            _check_latex_structure(text)
    grid = md_grid(render_table(results, lay, datasets=DATASETS, paper=PAPER, paper_names=NAMES))
    assert "p vs best other (TF)" in grid["frappe"] and "p vs best other (TF)" not in grid[AVG_DATASET]
    assert "Δ vs Log" in grid[AVG_DATASET]["Focal"][0]


def _check_latex_structure(tex: str) -> None:
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule")
    assert tex.count("{") == tex.count("}")
    for spec, body in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, flags=re.S):
        for ln in body.splitlines():
            if ln.endswith(r"\\") and r"\multicolumn" not in ln:
                assert ln.count(" & ") == len(spec) - 1, ln
    body = tex.split(r"\begin{document}", 1)[1]
    assert "Δ" not in body and "—" not in body and "−" not in body   # escaped for LaTeX


# --------------------------------------------------------------------------- study files

TINY = textwrap.dedent("""\
    name: tiny
    title: "tiny study"
    datasets: [synthetic]
    seeds: [1, 2]
    base: {model: tf4ctr, synthetic_rows: 3000, embedding_dim: 4, mlp_s: [8], mlp_c: [8, 8], epochs: 1}
    grid:
      ssem: [SER, Share]
      dfm: [WSF, Sum]
    layout: {rows: ssem, columns: dfm, metrics: [AUC]LAYOUT}
    paper_names: {synthetic: Synth}
    paper:
      Synth:
        SER: {WSF: {AUC: 80.0}, Sum: {AUC: 79.0}}
        Share: {WSF: {AUC: 78.0}, Sum: {AUC: 77.5}}
""")


def write_tiny(folder: Path, extra: str, name: str = "tiny") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.yaml"
    p.write_text(TINY.replace("LAYOUT", extra).replace("name: tiny", f"name: {name}"))
    return p


def test_tiny_study_with_extras_loads(tmp_path):
    s = load_study(str(write_tiny(tmp_path, ", delta_row: Share, test_row: SER, average_datasets: true")))
    assert (s.delta_row, s.delta_column, s.test_row, s.average_datasets) == ("Share", None, "SER", True)
    s = load_study(str(write_tiny(tmp_path / "b", ", delta_column: Sum")))
    assert (s.delta_row, s.delta_column, s.test_row, s.average_datasets) == (None, "Sum", None, False)
    lay = layout_for(s, ["AUC"], paired=True)
    assert lay.delta_column == "Sum" and lay.paired and lay.test_row is None
    s = load_study(str(write_tiny(tmp_path / "c", "")))
    assert (s.delta_row, s.delta_column, s.test_row, s.average_datasets) == (None, None, None, False)


@pytest.mark.parametrize(
    "extra,needles",
    [
        (", delta_row: GM", ["'layout.delta_row'", "label of the rows axis 'ssem'", "SER, Share", "'GM'"]),
        (", test_row: TF4CTR", ["'layout.test_row'", "label of the rows axis 'ssem'", "'TF4CTR'"]),
        (", delta_column: Max", ["'layout.delta_column'", "columns axis 'dfm'", "'Max'"]),
        (", delta_row: [SER]", ["'layout.delta_row'", "label of the rows axis"]),
        (", delta_row: SER, delta_column: WSF", ["'layout.delta_row'", "cannot both be set"]),
        (", average_datasets: yes please", ["'layout.average_datasets'", "true or false"]),
        (", delta_rows: SER", ["'layout.delta_rows'", "is not a layout field"]),
    ],
)
def test_bad_layout_extras_give_one_line_config_error(tmp_path, extra, needles):
    path = write_tiny(tmp_path, extra)
    with pytest.raises(ConfigError) as e:
        load_study(str(path))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(path))
    for needle in needles:
        assert needle in msg, msg


def test_delta_column_needs_a_column_axis(tmp_path):
    text = TINY.replace("  dfm: [WSF, Sum]\n", "").replace("columns: dfm, ", "")
    text = text.replace("{WSF: {AUC: 80.0}, Sum: {AUC: 79.0}}", "{'-': {AUC: 80.0}}")
    text = text.replace("{WSF: {AUC: 78.0}, Sum: {AUC: 77.5}}", "{'-': {AUC: 78.0}}")
    path = tmp_path / "tiny.yaml"
    path.write_text(text.replace("LAYOUT", ", delta_column: WSF"))
    with pytest.raises(ConfigError, match=r"'layout.delta_column' needs a columns axis"):
        load_study(str(path))
    path.write_text(text.replace("LAYOUT", ", test_row: Share, delta_row: SER"))
    assert load_study(str(path)).test_row == "Share"


def test_bad_layout_extra_through_the_cli_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from tfbench.cli.main import app

    path = write_tiny(tmp_path, ", test_row: Nope")
    r = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and str(path) in lines[0]
    assert "layout.test_row" in lines[0]


def test_repository_study_files_carry_the_new_fields():
    t5, t6, t7, t8 = (load_study(n) for n in ("table5", "table6", "table7", "table8"))
    assert (t5.delta_row, t5.delta_column, t5.test_row, t5.average_datasets) == ("Log", None, None, True)
    assert (t7.delta_row, t7.delta_column, t7.test_row, t7.average_datasets) == (None, None, "TF4CTR", False)
    assert (t8.delta_row, t8.delta_column, t8.test_row, t8.average_datasets) == (None, "Base", None, False)
    assert (t6.delta_row, t6.delta_column, t6.test_row, t6.average_datasets) == (None, None, None, False)
    assert t5.rows == "loss" and t5.columns == "model" and t5.metrics == ("AUC",)
    assert t7.rows == "model" and t7.columns is None
    assert t8.rows == "model" and t8.columns == "tf4ctr"
    lay = layout_for(t7, ["AUC"], paired=True)
    assert lay.test_row == "TF4CTR" and lay.paired
    # the paper's own Δ of the layout, from its cells: Table VIII ML-1M WideDeep +0.41, Table V KKBox AFN+ TF +0.80
    p8 = {"ML-1M": t8.paper["ML-1M"]}
    cells = table_cells(pd.DataFrame([{"dataset": "ml-1m", "model": "DeepFM", "tf4ctr": "Base", "seed": 1,
                                       "AUC": 0.81}]),
                        layout_for(t8, ["AUC"]), datasets=["ml-1m"], paper=p8, paper_names=t8.paper_names)
    assert cell(cells, "ml-1m", "WideDeep", "TF4CTR")["paper_delta"] == pytest.approx(0.41, abs=1e-9)
    cells = table_cells(pd.DataFrame([{"dataset": "kkbox", "loss": "Log", "model": "AFN+", "seed": 1, "AUC": 0.84}]),
                        layout_for(t5, ["AUC"]), datasets=list(t5.datasets), paper=t5.paper,
                        paper_names=t5.paper_names)
    assert cell(cells, "kkbox", "TF", "AFN+")["paper_delta"] == pytest.approx(0.80, abs=1e-9)
    # Table V's AVG.AUC of DualMLP TF from the paper's four cells (printed 97.36)
    assert cell(cells, AVG_DATASET, "TF", "DualMLP")["paper"] == pytest.approx(
        np.mean([84.29, 81.48, 97.12, 98.55]), abs=1e-9)


# --------------------------------------------------------------------------- write_report (stub store)


class StubStore:
    """What ``gather`` reads from a ResultStore: ``study_runs`` -> (link, run row) pairs, each run
    keyed as the study plans it (``gather`` leaves out runs of an earlier study definition)."""

    def __init__(self, study, runs: list[tuple[str, dict, int, float]]):
        self.pairs = []
        for ds, cell_, seed, auc in runs:
            key = run_key("fp", run_config(study, ds, dict(cell_), seed))
            link = SimpleNamespace(dataset=ds, seed=seed, key=key, cell=dict(cell_), quick=False)
            row = SimpleNamespace(status="done", test_auc=auc, test_gauc=math.nan, test_logloss=0.4,
                                  dataset_fingerprint="fp")
            self.pairs.append((link, row))
        self.name = study.name

    def study_runs(self, study: str):
        assert study == self.name
        return self.pairs


def _tiny_runs():
    vals = {("SER", "WSF"): [0.80, 0.81, 0.82], ("SER", "Sum"): [0.79, 0.80, 0.80],
            ("Share", "WSF"): [0.77, 0.78, 0.775], ("Share", "Sum"): [0.76, 0.765, 0.77]}
    return [("synthetic", {"ssem": s, "dfm": d}, seed, v) for (s, d), vs in vals.items()
            for seed, v in enumerate(vs, start=1)], vals


@pytest.mark.parametrize("paired", [False, True])
def test_write_report_with_test_row_replaces_runner_up_notes(tmp_path, paired):
    study = load_study(str(write_tiny(tmp_path, ", test_row: Share, delta_row: SER, average_datasets: true")))
    runs, vals = _tiny_runs()
    text, files, n = write_report(study, StubStore(study, runs), fmt="markdown", out_dir=tmp_path / "out",
                                  paired=paired)
    assert n == 12 and files[0].read_text() == text
    assert "runner-up" not in text
    a, b = vals[("Share", "WSF")], vals[("SER", "WSF")]
    p = (sps.ttest_rel(a, b) if paired else sps.ttest_ind(a, b, equal_var=False)).pvalue
    assert f"| p vs best other (Share) | p = {p:.3g} vs SER (n=3/3) |" in text
    assert f"p vs best other (Share): {PAIRED if paired else WELCH}" in text
    assert f"### {AVG_DATASET}" in text and "Δ vs SER: ours" in text
    csv_text, _, _ = write_report(study, StubStore(study, runs), fmt="csv", out_dir=tmp_path / "out", paired=paired)
    df = read_csv(csv_text)
    assert list(df.columns) == CSV_COLUMNS + ["delta", "paper_delta", "pvalue", "pvalue_vs"]
    rec = df[(df.dataset == "synthetic") & (df.row == "Share") & (df.col == "WSF")].iloc[0]
    assert rec["pvalue"] == pytest.approx(p, rel=1e-12) and rec["pvalue_vs"] == "SER"
    assert rec["paper_delta"] == pytest.approx(78.0 - 80.0)


def test_write_report_without_test_row_keeps_runner_up_notes(tmp_path):
    study = load_study(str(write_tiny(tmp_path, ", delta_column: WSF")))
    runs, _ = _tiny_runs()
    text, _, _ = write_report(study, StubStore(study, runs), fmt="markdown", out_dir=tmp_path / "out")
    assert "synthetic AUC: best SER+WSF vs runner-up SER+Sum: p = " in text
    assert "p vs best other" not in text and "Δ vs WSF: ours" in text
