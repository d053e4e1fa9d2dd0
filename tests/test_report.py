"""Report layer: statistics, best/second placement, tables (markdown/LaTeX/CSV) and sweep figures.

All inputs are hand-made DataFrames; nothing trains and nothing touches the database.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tfbench.report import (
    MISSING, PAIRED, WELCH, TableLayout, paired_by_seed, rank_marks, render_table, summarize, ttest,
)

# --------------------------------------------------------------------------- summarize / ttest


def test_summarize_matches_numpy_and_handles_nan_and_single_seed():
    df = pd.DataFrame({
        "ssem": ["SER", "SER", "SER", "GM", "MoE", "MoE"],
        "seed": [1, 2, 3, 1, 1, 2],
        "AUC": [0.91, 0.93, 0.96, 0.90, 0.80, np.nan],
        "gAUC": [0.81, np.nan, 0.85, 0.70, np.nan, np.nan],
    })
    s = summarize(df, ["ssem"], ["AUC", "gAUC"]).set_index("ssem")
    assert list(s.columns) == ["AUC_mean", "AUC_std", "AUC_n", "gAUC_mean", "gAUC_std", "gAUC_n"]
    assert s.loc["SER", "AUC_mean"] == pytest.approx(np.mean([0.91, 0.93, 0.96]), rel=1e-15)
    assert s.loc["SER", "AUC_std"] == pytest.approx(np.std([0.91, 0.93, 0.96], ddof=1), rel=1e-12)
    assert s.loc["SER", "AUC_n"] == 3
    assert s.loc["SER", "gAUC_n"] == 2                       # NaN not counted
    assert s.loc["SER", "gAUC_mean"] == pytest.approx(0.83)
    assert s.loc["GM", "AUC_n"] == 1 and math.isnan(s.loc["GM", "AUC_std"])   # n=1: no std
    assert s.loc["MoE", "AUC_n"] == 1 and s.loc["MoE", "AUC_mean"] == pytest.approx(0.80)
    assert s.loc["MoE", "gAUC_n"] == 0 and math.isnan(s.loc["MoE", "gAUC_mean"])
    empty = summarize(df.iloc[0:0], ["ssem"], ["AUC"])
    assert empty.empty and list(empty.columns) == ["ssem", "AUC_mean", "AUC_std", "AUC_n"]
    with pytest.raises(KeyError):
        summarize(df, ["dfm"], ["AUC"])


def test_ttest_welch_and_paired_match_scipy():
    a = [0.9871, 0.9875, 0.9869, 0.9880, 0.9873]
    b = [0.9850, 0.9861, 0.9849, 0.9866, 0.9858]
    w = ttest(a, b)
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert w.test == WELCH == "Welch two-tailed t-test"
    assert w.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert w.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert (w.n_a, w.n_b) == (5, 5)
    assert w.mean_diff == pytest.approx(np.mean(a) - np.mean(b))

    p = ttest(a, b, paired=True)
    ref = sps.ttest_rel(a, b)
    assert p.test == PAIRED == "paired two-tailed t-test"
    assert p.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert p.pvalue == pytest.approx(ref.pvalue, rel=1e-12)

    # NaN values are dropped (Welch) / the NaN pair is dropped (paired)
    w2 = ttest(a + [np.nan], b)
    assert w2.n_a == 5 and w2.pvalue == pytest.approx(w.pvalue, rel=1e-12)
    p2 = ttest([np.nan] + a[1:], b, paired=True)
    assert p2.n_a == p2.n_b == 4
    assert p2.pvalue == pytest.approx(sps.ttest_rel(a[1:], b[1:]).pvalue, rel=1e-12)
    with pytest.raises(ValueError):
        ttest(a, b[:4], paired=True)


@pytest.mark.parametrize("a,b", [([0.9], [0.8, 0.85]), ([], [0.8, 0.85]), ([0.9, np.nan], [0.8, 0.7])])
def test_ttest_too_few_values_gives_nan_not_exception(a, b):
    for paired in (False, True):
        if paired and len(a) != len(b):
            continue
        t = ttest(a, b, paired=paired)
        assert math.isnan(t.pvalue) and math.isnan(t.statistic)


def test_paired_by_seed_aligns_on_shared_seeds():
    a = pd.Series({3: 0.93, 1: 0.91, 2: 0.92, 7: 0.97})
    b = pd.Series({1: 0.81, 2: np.nan, 3: 0.83, 5: 0.85})
    xa, xb = paired_by_seed(a, b)
    np.testing.assert_array_equal(xa, [0.91, 0.93])   # seeds 1 and 3 (2 has a NaN on side b)
    np.testing.assert_array_equal(xb, [0.81, 0.83])
    with pytest.raises(ValueError):
        paired_by_seed(pd.Series([0.1, 0.2], index=[1, 1]), b)


# --------------------------------------------------------------------------- rank_marks


def test_rank_marks_distinct_ties_nan_single_and_lower_is_better():
    assert rank_marks({"a": 0.91, "b": 0.95, "c": 0.93}) == {"a": None, "b": "best", "c": "second"}
    # ties share the mark; second is the next distinct value
    assert rank_marks({"a": 0.95, "b": 0.95, "c": 0.93, "d": 0.90}) == \
        {"a": "best", "b": "best", "c": "second", "d": None}
    assert rank_marks({"a": 0.95, "b": 0.93, "c": 0.93}) == {"a": "best", "b": "second", "c": "second"}
    # missing cells are never marked
    assert rank_marks({"a": np.nan, "b": 0.9, "c": None, "d": 0.8}) == \
        {"a": None, "b": "best", "c": None, "d": "second"}
    # a single filled cell is best with no second; all-missing: nothing
    assert rank_marks({"a": 0.9, "b": np.nan}) == {"a": "best", "b": None}
    assert rank_marks({"a": np.nan, "b": np.nan}) == {"a": None, "b": None}
    assert rank_marks({}) == {}
    assert rank_marks({"a": 0.9, "b": 0.9}) == {"a": "best", "b": "best"}
    # lower is better (logloss)
    assert rank_marks({"a": 0.40, "b": 0.35, "c": 0.38}, higher_is_better=False) == \
        {"a": None, "b": "best", "c": "second"}
    # compared at the displayed precision: 98.704 and 98.701 both print 98.70
    assert rank_marks({"a": 98.704, "b": 98.701, "c": 98.5}, decimals=2) == \
        {"a": "best", "b": "best", "c": "second"}
    assert rank_marks({"a": 98.704, "b": 98.701}) == {"a": "best", "b": "second"}


def test_layout_direction_defaults():
    lay = TableLayout("t", "r", None, [], [], ["AUC", "logloss"])
    assert lay.is_higher_better("AUC") and not lay.is_higher_better("logloss")
    lay = TableLayout("t", "r", None, [], [], ["AUC"], higher_is_better={"AUC": False})
    assert not lay.is_higher_better("AUC")


# --------------------------------------------------------------------------- render_table

SEEDS = {  # (dataset, ssem, dfm) -> per-seed (AUC, logloss); ("frappe-nfm", "GM", "Sum") never ran
    ("frappe-nfm", "SER", "WSF"): [(0.9870, 0.140), (0.9874, 0.138), (0.9866, 0.142)],
    ("frappe-nfm", "GM", "WSF"): [(0.9860, 0.150), (0.9864, 0.152)],
    ("frappe-nfm", "Share", "WSF"): [(0.9850, 0.160), (0.9852, 0.161), (0.9848, 0.159)],
    ("frappe-nfm", "SER", "Sum"): [(0.9868, 0.145), (0.9870, 0.147)],
    ("frappe-nfm", "Share", "Sum"): [(0.9851, 0.133)],
    ("ml_1m", "SER", "WSF"): [(0.8190, 0.40), (0.8196, 0.41)],
    ("ml_1m", "GM", "WSF"): [(0.8160, 0.39), (0.8164, 0.38), (0.8165, 0.385)],
    ("ml_1m", "Share", "WSF"): [(0.8158, 0.42), (0.8150, 0.43)],
    ("ml_1m", "SER", "Sum"): [(0.8183, 0.401), (0.8185, 0.402)],
    ("ml_1m", "GM", "Sum"): [(0.8140, 0.41), (0.8142, 0.41)],
    ("ml_1m", "Share", "Sum"): [(0.8126, 0.44), (0.8120, 0.45), (0.8123, 0.44)],
}
PAPER = {"Frappe": {
    "SER": {"WSF": {"AUC": 98.72}, "Sum": {"AUC": 98.72}},
    "GM": {"WSF": {"AUC": 98.57}, "Sum": {"AUC": 98.57}},
    "Share": {"WSF": {"AUC": 98.52}, "Sum": {"AUC": 98.51}},
}}
LAYOUT = TableLayout(title="Table VI: SSEM x DFM", row_axis="ssem", col_axis="dfm",
                     row_order=["SER", "GM", "Share"], col_order=["WSF", "Sum"], metrics=["AUC", "logloss"])
DATASETS = ["frappe-nfm", "ml_1m", "kkbox"]   # kkbox has no runs at all
NAMES = {"frappe-nfm": "Frappe"}


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    rows = []
    for (ds, s, d), runs in SEEDS.items():
        for seed, (auc, ll) in enumerate(runs, start=1):
            rows.append({"dataset": ds, "ssem": s, "dfm": d, "seed": seed, "AUC": auc, "logloss": ll})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)   # order of rows must not matter


def _md_grid(md: str) -> dict[str, dict[str, list[str]]]:
    """{dataset heading word: {row label: [cells...]}} from the rendered markdown."""
    out: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in md.splitlines():
        if line.startswith("### "):
            current = line[4:].split()[0]
            out[current] = {}
        elif current and line.startswith("| ") and not line.startswith("| :--"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            out[current][cells[0]] = cells[1:]
    return out


def test_markdown_cells_marks_missing_and_paper(results):
    md = render_table(results, LAYOUT, datasets=DATASETS, paper=PAPER, paper_names=NAMES,
                      notes=["Welch two-tailed t-test", "quick run: 1 epoch"])
    grid = _md_grid(md)
    assert list(grid) == DATASETS
    fr, ml, kk = grid["frappe-nfm"], grid["ml_1m"], grid["kkbox"]
    assert fr["ssem ↓ dfm →"] == ["WSF · AUC", "WSF · logloss", "Sum · AUC", "Sum · logloss"]
    # columns: WSF·AUC, WSF·logloss, Sum·AUC, Sum·logloss
    # marks only among complete cells: GM has 2 seeds where SER and Share have 3, so it is not marked
    assert fr["SER"][0] == "**98.70** ± 0.04 (n=3)<br>paper 98.72 (Δ -0.02)"
    assert fr["GM"][0] == "98.62 ± 0.03 (n=2)<br>paper 98.57 (Δ +0.05)"
    assert fr["Share"][0] == "<u>98.50</u> ± 0.02 (n=3)<br>paper 98.52 (Δ -0.02)"
    # logloss: lower is better, no paper value
    assert fr["SER"][1] == "**14.00** ± 0.20 (n=3)"
    assert fr["GM"][1] == "15.10 ± 0.14 (n=2)"
    assert fr["Share"][1].startswith("<u>16.00</u> ± ")
    # missing cell: "—" (never 0), the paper value still shown, never marked
    assert fr["GM"][2] == f"{MISSING}<br>paper 98.57"
    assert fr["GM"][3] == MISSING
    # single seed: explicit "± —"; SER (2 seeds) is the column's only complete cell: no marks at all
    assert fr["Share"][2] == "98.51 ± — (n=1)<br>paper 98.51 (Δ +0.00)"
    assert fr["SER"][2] == "98.69 ± 0.01 (n=2)<br>paper 98.72 (Δ -0.03)"
    assert fr["Share"][3] == "13.30 ± — (n=1)"
    # dataset without a paper entry: no paper text; in every ml_1m column one cell has more seeds
    # than the others, so none is marked (the best mean, SER's, has 2 seeds against GM's 3)
    assert ml["SER"][0] == "81.93 ± 0.04 (n=2)"
    assert ml["GM"][0] == "81.63 ± 0.03 (n=3)"
    assert ml["GM"][1] == "38.50 ± 0.50 (n=3)"
    assert ("- Marks compare complete cells only: 12 cells with fewer seeds than the best-covered cell of their "
            "column (in the average block: fewer datasets) are not marked; 6 columns with a single complete cell "
            "have no marks.") in md
    assert "paper" not in " ".join(sum(ml.values(), []))
    # dataset without runs still has its block, every cell missing
    assert all(c == MISSING for row in ("SER", "GM", "Share") for c in kk[row])
    assert "### frappe-nfm (paper: Frappe)" in md
    assert "Δ = ours − paper" in md and "Welch two-tailed t-test" in md and "quick run: 1 epoch" in md
    assert "mean ± sample std" in md and "× 100" in md


def test_values_outside_the_declared_order_are_appended_not_dropped(results):
    extra = pd.concat([results, pd.DataFrame([{"dataset": "ml_1m", "ssem": "MoE", "dfm": "WSF", "seed": 1,
                                               "AUC": 0.83, "logloss": 0.5}])])
    grid = _md_grid(render_table(extra, LAYOUT, datasets=["ml_1m"]))
    assert list(grid["ml_1m"])[1:] == ["SER", "GM", "Share", "MoE"]
    assert grid["ml_1m"]["MoE"][0] == "83.00 ± — (n=1)"          # one seed: not marked though highest
    assert grid["ml_1m"]["SER"][0].startswith("81.93 ± ")


def test_single_axis_table_uses_dash_paper_key():
    df = pd.DataFrame({"dataset": "frappe", "loss": ["bce", "bce", "tf", "tf"], "seed": [1, 2, 1, 2],
                       "AUC": [0.980, 0.982, 0.985, 0.987]})
    lay = TableLayout("Table V", "loss", None, ["bce", "tf"], [], ["AUC"])
    paper = {"Frappe": {"bce": {"-": {"AUC": 98.30}}, "tf": {"-": {"AUC": 98.50}}}}
    grid = _md_grid(render_table(df, lay, datasets=["frappe"], paper=paper, paper_names={"frappe": "Frappe"}))
    assert grid["frappe"]["loss"] == ["AUC"]
    assert grid["frappe"]["tf"] == ["**98.60** ± 0.14 (n=2)<br>paper 98.50 (Δ +0.10)"]
    assert grid["frappe"]["bce"] == ["<u>98.10</u> ± 0.14 (n=2)<br>paper 98.30 (Δ -0.20)"]


def test_nothing_run_gives_a_message_and_bad_format_raises(results):
    for fmt in ("markdown", "latex", "csv"):
        text = render_table(results.iloc[0:0], LAYOUT, datasets=DATASETS, fmt=fmt)
        assert "nothing has been run" in text and "|" not in text
    assert "nothing has been run" in render_table(pd.DataFrame(), LAYOUT, datasets=["x"])
    assert "nothing has been run" in render_table(results, LAYOUT, datasets=["criteo"])
    with pytest.raises(ValueError):
        render_table(results, LAYOUT, datasets=DATASETS, fmt="html")
    with pytest.raises(KeyError):
        render_table(results.drop(columns=["dfm"]), LAYOUT, datasets=DATASETS)


def _tex_rows(tex: str) -> list[str]:
    body = tex.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    return [ln for ln in body.splitlines() if ln.endswith(r"\\")]


def test_latex_marks_escapes_and_structure(results):
    tex = render_table(results, LAYOUT, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="latex",
                       notes=["alpha_1 = 25% & #2 (Welch)"])
    assert tex.startswith(r"\documentclass") and r"\usepackage{booktabs}" in tex
    assert tex.rstrip().endswith(r"\end{document}")
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 3
    assert r"\midrule" in tex
    # underscores and other specials escaped in labels and notes
    assert r"\subsection*{ml\_1m}" in tex and "ml_1m" not in tex.replace(r"ml\_1m", "")
    assert r"alpha\_1 = 25\% \& \#2 (Welch)" in tex
    rows = _tex_rows(tex)   # first dataset's body: SER, paper, GM, paper, Share, paper
    ser, gm = rows[0], rows[2]
    assert ser.startswith("SER & ") and gm.startswith("GM & ")
    assert ser.split(" & ")[1] == r"\textbf{98.70}\,$\pm$\,0.04\,{\scriptsize $n$=3}"
    assert gm.split(" & ")[1] == r"98.62\,$\pm$\,0.03\,{\scriptsize $n$=2}"     # 2 of 3 seeds: no mark
    assert rows[4].split(" & ")[1] == r"\underline{98.50}\,$\pm$\,0.02\,{\scriptsize $n$=3}"
    assert r"\item[--] Marks compare complete cells only: 12 cells" in tex
    assert gm.split(" & ")[3] == "---"            # missing cell
    assert rows[1].split(" & ")[1] == r"{\scriptsize 98.72 ($-0.02$)}"
    # every table row has as many cells as the column spec
    for spec, body in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, flags=re.S):
        for ln in body.splitlines():
            if ln.endswith(r"\\") and r"\multicolumn" not in ln:
                assert ln.count(" & ") == len(spec) - 1, ln
    assert tex.count("{") == tex.count("}")


def test_latex_compiles(results, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed on this machine")
    tex = render_table(results, LAYOUT, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="latex",
                       notes=["alpha_1 = 25% & #2 ± 0.1 — ok"])
    (tmp_path / "t.tex").write_text(tex, encoding="utf-8")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "t.pdf").stat().st_size > 0


def test_csv_full_precision_round_trip(results):
    text = render_table(results, LAYOUT, datasets=DATASETS, paper=PAPER, paper_names=NAMES, fmt="csv")
    df = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    assert list(df.columns) == ["dataset", "row", "col", "metric", "mean", "std", "n", "paper", "diff",
                                "mark", "scale"]
    assert len(df) == len(DATASETS) * 3 * 2 * 2            # every cell of every grid
    for (ds, s, d), runs in SEEDS.items():
        for k, metric in enumerate(["AUC", "logloss"]):
            vals = np.array([r[k] for r in runs])
            rec = df[(df.dataset == ds) & (df.row == s) & (df.col == d) & (df.metric == metric)].iloc[0]
            assert rec["mean"] == pytest.approx(vals.mean() * 100, rel=1e-13, abs=0)
            assert rec["n"] == len(vals)
            if len(vals) > 1:
                assert rec["std"] == pytest.approx(vals.std(ddof=1) * 100, rel=1e-10)
            else:
                assert math.isnan(rec["std"])
    ser = df[(df.dataset == "frappe-nfm") & (df.row == "SER") & (df.col == "WSF") & (df.metric == "AUC")].iloc[0]
    assert ser["mean"] != round(ser["mean"], 2) or ser["mean"] == pytest.approx(98.70)   # not rounded
    assert len(f"{ser['mean']!r}") > 6
    assert ser["paper"] == 98.72 and ser["diff"] == pytest.approx(ser["mean"] - 98.72, abs=1e-12)
    assert ser["mark"] == "best"
    miss = df[(df.dataset == "frappe-nfm") & (df.row == "GM") & (df.col == "Sum") & (df.metric == "AUC")].iloc[0]
    assert miss["n"] == 0 and math.isnan(miss["mean"]) and miss["paper"] == 98.57 and pd.isna(miss["mark"])
    assert (df[df.dataset == "kkbox"]["n"] == 0).all()


# --------------------------------------------------------------------------- render_sweep


def test_render_sweep_writes_png_and_pdf(tmp_path):
    from tfbench.report.figures import render_sweep

    # a missing point (0.25), a single-seed point (0.45) and a dataset without runs (kkbox)
    rows = [{"dataset": "frappe", "alpha": a, "seed": s, "AUC": 0.98 - 0.01 * a + 0.0005 * s}
            for a in (0.15, 0.35, 0.55) for s in (1, 2)]
    rows += [{"dataset": "frappe", "alpha": 0.45, "seed": 1, "AUC": 0.975}]
    paths = render_sweep(pd.DataFrame(rows), axis="alpha", axis_label="α", metric="AUC",
                         datasets=["frappe", "kkbox"], title="Figure 7: α",
                         out_base=tmp_path / "figs" / "fig7_alpha", paper_names={"frappe": "Frappe"})
    assert [p.name for p in paths] == ["fig7_alpha.png", "fig7_alpha.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[0].stat().st_size > 1000
    assert paths[1].read_bytes()[:4] == b"%PDF" and paths[1].stat().st_size > 1000

    cat = pd.DataFrame([{"dataset": "frappe", "mlp_s": s, "seed": k, "AUC": 0.97 + 0.001 * i}
                        for i, s in enumerate("CABED") for k in (1, 2)])
    paths = render_sweep(cat, axis="mlp_s", axis_label="MLP_s structure", metric="AUC", datasets=["frappe"],
                         title="MLP_s", out_base=tmp_path / "mlps", order=list("ABCDE"))
    assert all(p.stat().st_size > 1000 for p in paths)
