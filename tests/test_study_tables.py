"""Study files of Tables V, VII and VIII: they load, expand to the paper's size, and carry the paper's numbers."""

import pytest

from tfbench.config import run_key
from tfbench.studies import expand, load_study


def _cells(paper: dict) -> int:
    return sum(len(cols) for rows in paper.values() for cols in rows.values())


@pytest.mark.parametrize(
    "name,runs,cells",
    [
        ("table5", 4 * 4 * 6 * 5, 4 * 6 * 4),   # datasets x losses x models x seeds; 96 paper cells
        ("table7", 5 * 12 * 5, 5 * 12),         # datasets x models x seeds; 60 paper cells
        ("table8", 3 * 3 * 2 * 5, 3 * 3 * 2),   # datasets x models x {Base, TF4CTR} x seeds; 18 paper cells
    ],
)
def test_table_studies_load_and_expand(name, runs, cells):
    s = load_study(name)
    assert len(expand(s)) == runs
    assert _cells(s.paper) == cells
    assert set(s.paper) == {s.paper_names[d] for d in s.datasets}
    # every paper cell names a grid cell, and every grid cell has a paper number on every dataset
    for rows in s.paper.values():
        assert set(rows) == set(s.grid[s.rows])
        for cols in rows.values():
            assert set(cols) == (set(s.grid[s.columns]) if s.columns else {"-"})
            assert all(set(v) == {"AUC"} for v in cols.values())
    assert len(expand(s, datasets=["synthetic"], seeds=(1,), quick=True)) == runs // len(s.datasets) // 5


def test_table5_paper_numbers_transcribed_correctly():
    # cells checked by hand against Table V of the paper (rows loss, columns model)
    p = load_study("table5").paper
    assert p["KKBox"]["Log"]["DualMLP"] == {"AUC": 84.08}       # first cell
    assert p["Frappe"]["TF"]["AFN+"] == {"AUC": 98.45}          # last cell
    assert p["KKBox"]["TF"]["AFN+"] == {"AUC": 84.37}
    assert p["Criteo"]["Focal"]["DCNv2"] == {"AUC": 81.42}
    assert p["ML-tag"]["R-CE"]["DCN"] == {"AUC": 97.10}
    assert p["Frappe"]["Focal"]["AFN+"] == {"AUC": 97.79}
    assert p["Criteo"]["TF"]["DualMLP"] == {"AUC": 81.48}
    assert p["ML-tag"]["Focal"]["AutoInt+"] == {"AUC": 96.76}
    # the paper's printed ΔAUC of a few cells (TF minus Log, same model and dataset)
    assert round(p["KKBox"]["TF"]["AFN+"]["AUC"] - p["KKBox"]["Log"]["AFN+"]["AUC"], 2) == 0.80
    assert round(p["ML-tag"]["TF"]["DCN"]["AUC"] - p["ML-tag"]["Log"]["DCN"]["AUC"], 2) == 0.21
    assert round(p["KKBox"]["Focal"]["DCNv2"]["AUC"] - p["KKBox"]["Log"]["DCNv2"]["AUC"], 2) == -0.38


def test_table5_grid_and_settings():
    s = load_study("table5")
    plan = expand(s, datasets=["criteo"], seeds=(2023,))
    by_cell = {(p.cell_dict["loss"], p.cell_dict["model"]): p.config for p in plan}
    assert by_cell[("R-CE", "AFN+")].resolved_loss == "rce" and by_cell[("R-CE", "AFN+")].model == "afn+"
    assert by_cell[("TF", "DualMLP")].resolved_loss == "tf"
    assert by_cell[("Log", "DualMLP")].mlp_s == (400, 400, 400)
    cfg = by_cell[("Log", "DeepFM")]
    assert (cfg.batch_size, cfg.min_count, cfg.monitor) == (4096, 10, "AUC")   # Criteo: no user field, no gAUC
    assert expand(s, datasets=["kkbox"], seeds=(2023,))[0].config.batch_size == 10000


def test_table7_paper_numbers_transcribed_correctly():
    # cells checked by hand against Table VII of the paper
    p = load_study("table7").paper
    assert p["KKBox"]["WideDeep"]["-"] == {"AUC": 84.12}        # first cell
    assert p["Criteo"]["TF4CTR"]["-"] == {"AUC": 81.50}         # last cell
    assert p["KKBox"]["TF4CTR"]["-"] == {"AUC": 84.50}
    assert p["ML-tag"]["EDCN"]["-"] == {"AUC": 96.03}
    assert p["ML-1M"]["EulerNet"]["-"] == {"AUC": 81.45}
    assert p["Frappe"]["DLF"]["-"] == {"AUC": 98.40}
    assert p["Criteo"]["WideDeep"]["-"] == {"AUC": 81.35}
    # the p-values have no field of their own: they live in the description
    d = load_study("table7").description
    for pv in ("2.44e-4", "4.79e-4", "1.49e-4", "7.26e-5", "4.29e-5"):
        assert pv in d


def test_table7_losses_and_tf4ctr_settings():
    s = load_study("table7")

    def cfg(dataset, model):
        return next(p.config for p in expand(s, datasets=[dataset], seeds=(2023,)) if p.cell_dict["model"] == model)

    assert cfg("ml-tag", "TF4CTR").resolved_loss == "tf"
    assert {cfg("ml-tag", m).resolved_loss for m in s.grid["model"] if m != "TF4CTR"} == {"logloss"}
    f = cfg("frappe", "TF4CTR")
    assert (f.ssem, f.dfm, f.mlp_s, f.c, f.alpha, f.gamma, f.dropout, f.embedding_regularizer) == (
        "SER", "WSF", (400, 400), 0.7, 0.25, 1.0, 0.2, 0.1)
    # frappe-nfm reuses Frappe's settings, plus its 21-step evaluation (the frappe-nfm protocol)
    nfm = cfg("frappe-nfm", "TF4CTR").effective_dict()
    assert nfm.pop("eval_steps") == 21
    assert nfm | {"dataset": "frappe"} == f.effective_dict()
    k = cfg("kkbox", "TF4CTR")
    assert (k.ssem, k.dfm, k.mlp_s, k.c) == ("SER", "MoEF", (400, 400), 0.7)
    c = cfg("criteo", "TF4CTR")
    assert (c.batch_size, c.min_count, c.monitor, c.alpha, c.c, c.embedding_regularizer) == (4096, 10, "AUC", 0.35, 0.9, 1e-5)


def test_table8_paper_numbers_transcribed_correctly():
    # cells checked by hand against Table VIII of the paper
    p = load_study("table8").paper
    assert p["ML-tag"]["DeepFM"]["Base"] == {"AUC": 96.92}      # first cell
    assert p["ML-1M"]["xDeepFM"]["TF4CTR"] == {"AUC": 81.65}    # last cell
    assert p["Frappe"]["DeepFM"]["TF4CTR"] == {"AUC": 98.54}
    assert p["ML-1M"]["WideDeep"]["Base"] == {"AUC": 81.22}
    assert p["ML-1M"]["WideDeep"]["TF4CTR"] == {"AUC": 81.63}   # the +0.41% of the text
    assert p["ML-tag"]["WideDeep"]["TF4CTR"] == {"AUC": 97.04}
    assert p["Frappe"]["xDeepFM"]["Base"] == {"AUC": 98.45}


def test_table8_plugin_axis():
    s = load_study("table8")
    cfgs = {tuple(sorted(p.cell_dict.items())): p.config for p in expand(s, datasets=["ml-1m"], seeds=(2023,))}
    for model, name in s.grid["model"].items():
        base = cfgs[(("model", model), ("tf4ctr", "Base"))]
        plug = cfgs[(("model", model), ("tf4ctr", "TF4CTR"))]
        assert base.model == plug.model == name
        assert (base.tf4ctr, base.resolved_loss) == (False, "logloss")
        assert (plug.tf4ctr, plug.resolved_loss, plug.ssem, plug.dfm) == (True, "tf", "SER", "WSF")


def test_shared_baseline_cells_share_runs_and_paper_numbers():
    """Table V's Log-loss row, Table VII and Table VIII's Base row report the same baseline runs:
    the paper prints the same numbers, and the studies plan runs with the same content key."""
    t5, t7, t8 = (load_study(n) for n in ("table5", "table7", "table8"))

    def key(study, dataset, **cell):
        plan = expand(study, datasets=[dataset], seeds=(2023,))
        return run_key("fp", next(p.config for p in plan if all(p.cell_dict[a] == l for a, l in cell.items())))

    for ds in ("kkbox", "criteo", "ml-tag", "frappe"):
        for m in ("AutoInt+", "DeepFM", "DCN", "DCNv2", "AFN+"):
            pn = t5.paper_names[ds]
            assert t5.paper[pn]["Log"][m] == t7.paper[pn][m]["-"], (ds, m)
            assert key(t5, ds, loss="Log", model=m) == key(t7, ds, model=m), (ds, m)
    for ds in ("ml-tag", "frappe", "ml-1m"):
        for m in ("DeepFM", "WideDeep", "xDeepFM"):
            pn = t8.paper_names[ds]
            assert t8.paper[pn][m]["Base"] == t7.paper[pn][m]["-"], (ds, m)
            assert key(t8, ds, model=m, tf4ctr="Base") == key(t7, ds, model=m), (ds, m)
