"""Figures 2 and 11 from the study path: `tfbench run fig2|fig11 --datasets synthetic --quick`, then
`tfbench report`. What the reports draw and print is checked against the database rows, and the
recorded counts against the data itself (class sizes of each split) and against a numpy recount
of the predictions of the same model retrained from the run's stored configuration."""

import csv
import io
import re

import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.config import RunConfig
from tfbench.db import ResultStore
from tfbench.errors import ConfigError
from tfbench.losses import make_objective
from tfbench.runner import build_for, load_for, train_settings
from tfbench.studies import load_study
from tfbench.train import fit, resolve_device, seed_everything
from tfbench.train.loop import predict_logits
from tfbench.train.placement import place_splits

SEEDS = "2023,2024"
# the paper's colours (Figure 2's caption), written out here rather than read from the module
RED, BLUE, GREEN = "#d62728", "#1f77b4", "#2ca02c"
BANDS = ("misclassified", "poorly", "well")
LABEL = {"positive": 1, "negative": 0}
SPLIT = {"train": "train", "validation": "valid", "test": "test"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Both quick studies run once (two seeds) into one database."""
    tmp = tmp_path_factory.mktemp("bands")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFBENCH_CACHE_DIR", str(tmp / "cache"))
        mp.setenv("TFBENCH_DB", f"sqlite:///{tmp / 'results.db'}")
        for study in ("fig2", "fig11"):
            r = CliRunner().invoke(app, ["run", study, "--datasets", "synthetic", "--quick", "--seeds", SEEDS])
            assert r.exit_code == 0, r.output
        yield tmp, ResultStore(f"sqlite:///{tmp / 'results.db'}")


def report(lab, study, fmt, monkeypatch, seeds=SEEDS):
    """Run `tfbench report`; returns (output text, files written, the matplotlib figures it drew)."""
    tmp, store = lab
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp / "cache"))
    monkeypatch.setenv("TFBENCH_DB", f"sqlite:///{tmp / 'results.db'}")
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))   # keep what was drawn
    out = tmp / f"report-{study}-{fmt}"
    r = CliRunner().invoke(app, ["report", study, "--datasets", "synthetic", "--quick", "--format", fmt,
                                 "--out", str(out), "--seeds", seeds])
    assert r.exit_code == 0, r.output
    return r.output, sorted(p.name for p in out.iterdir()), figures, out


def runs_of(store, study):
    """{run_id: (cell label, seed, stored config)} of the study's finished runs."""
    out = {}
    for link, row in store.study_runs(study):
        assert row is not None and row.status == "done"
        out[row.id] = (next(iter(link.cell.values())), link.seed, row.config)
    return out


def db_means(store, study, table="bands"):
    """Mean over seeds of every recorded number, keyed as the reports show them, from the raw rows."""
    runs = runs_of(store, study)
    frame = getattr(store, table)(list(runs))
    sums: dict = {}
    for r in frame.to_dict("records"):
        model = runs[r["run_id"]][0]
        if table == "bands":
            for band in BANDS:
                sums.setdefault((model, r["epoch"], r["split"], r["label"], band), []).append(r[band])
        else:
            sums.setdefault((model, r["epoch"], r["split"], r["label"], r["bin"]), []).append(r["count"])
    return {k: float(np.mean(v)) for k, v in sums.items()}, {k: len(v) for k, v in sums.items()}


def expected_colour(label: int, bin_: int, bins: int) -> str:
    d = abs(label - (bin_ + 0.5) / bins)
    return RED if d >= 0.6 else BLUE if d >= 0.3 else GREEN


def test_fig2_figure_draws_the_recorded_histograms_coloured_by_band_and_the_recorded_counts(lab, monkeypatch):
    _, store = lab
    output, files, figures, _ = report(lab, "fig2", "markdown", monkeypatch)
    assert files == ["fig2_quick.md", "fig2_quick.pdf", "fig2_quick.png"]
    hist, n = db_means(store, "fig2", "histograms")
    bands, _ = db_means(store, "fig2")
    assert set(n.values()) == {2}                       # both seeds in every mean
    (fig,) = {id(f): f for f in figures}.values()
    seen = set()
    for ax in fig.axes:
        split, cls, epoch = re.fullmatch(r"synthetic: (\w+), (\w+)s, epoch (\d+)", ax.get_title()).groups()
        split, label, epoch = SPLIT[split], LABEL[cls], int(epoch)
        bars = ax.patches
        bins = len(bars)
        assert bins == 50
        for i, bar in enumerate(sorted(bars, key=lambda b: b.get_x())):
            assert bar.get_x() == pytest.approx(i / bins)
            assert bar.get_height() == pytest.approx(hist[("DNN", epoch, split, label, i)])
            if bar.get_height() > 0:
                assert to_hex(bar.get_facecolor()) == expected_colour(label, i, bins), (split, label, epoch, i)
        texts = {t.get_text().split(":")[0]: t for t in ax.texts}
        for band in BANDS:
            shown = float(texts[band].get_text().split(": ")[1].replace(",", ""))
            assert shown == pytest.approx(bands[("DNN", epoch, split, label, band)], abs=0.05)
            assert to_hex(texts[band].get_color()) == {"misclassified": RED, "poorly": BLUE, "well": GREEN}[band]
        seen.add((split, label, epoch))
    assert seen == {(s, c, e) for s in ("train", "valid") for c in (0, 1) for e in (1, 2, 3)}
    # the printed table: the same means, one line per epoch, split and class
    for m in re.finditer(r"^\| (\d) \| (\w+) \| (\w+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", output, re.M):
        epoch, split, label = int(m[1]), SPLIT[m[2]], LABEL[m[3]]
        for band, cell in zip(BANDS, m.groups()[3:6]):
            assert float(cell.split("±")[0].replace(",", "")) == pytest.approx(bands[("DNN", epoch, split, label, band)], abs=0.05)


def test_fig2_recorded_counts_equal_the_data_and_a_recount_of_the_same_model_retrained(lab, monkeypatch):
    _, store = lab
    _, files, _, out = report(lab, "fig2", "csv", monkeypatch, seeds="2023,")
    rows = list(csv.DictReader(io.StringIO((out / "fig2_quick.csv").read_text())))
    reported = {(int(r["epoch"]), r["split"], int(r["label"]), r["band"]): float(r["mean"]) for r in rows}
    assert {r["n"] for r in rows} == {"1"}
    (config,) = [cfg for _, seed, cfg in runs_of(store, "fig2").values() if seed == 2023]
    cfg = RunConfig.from_dict(config)
    data = load_for(cfg)

    # every sample of each split and class is in exactly one band
    for split in ("train", "valid"):
        y = getattr(data, split).y
        for label, size in ((1, int((y > 0.5).sum())), (0, int((y <= 0.5).sum()))):
            for epoch in (1, 2, 3):
                assert sum(reported[(epoch, split, label, b)] for b in BANDS) == size

    # the same run again (same config, seed, data): recount its predictions after every epoch in numpy
    seed_everything(cfg.seed)
    model = build_for(cfg, data)
    splits = place_splits(data, cfg.train, torch.device("cpu"))
    recount = {}

    def on_epoch(record):
        for split in ("train", "valid"):
            p = 1 / (1 + np.exp(-predict_logits(model, splits[split], 4096).double().numpy()))
            y = getattr(data, split).y > 0.5
            for label in (0, 1):
                d = np.abs(label - p[y == label])
                recount[(record.epoch, split, label)] = ((d >= 0.6).sum(), ((d >= 0.3) & (d < 0.6)).sum(), (d < 0.3).sum())

    fit(model, data, make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters()), train_settings(cfg),
        resolve_device("cpu"), on_epoch=on_epoch)
    assert len(recount) == 3 * 2 * 2
    for (epoch, split, label), counts in recount.items():
        assert tuple(reported[(epoch, split, label, b)] for b in BANDS) == tuple(float(c) for c in counts)
    # not all in one band, or the comparison above would show little
    assert len({c for counts in recount.values() for c in counts if c > 0}) > 3


def _legend_styles(fig):
    """{model label: (hatch, alpha)} from the figure legend's model entries."""
    legend = fig.legends[0]
    return {t.get_text(): (h.get_hatch() or "", h.get_alpha()) for t, h in zip(legend.get_texts(), legend.get_patches())
            if t.get_text() in ("DualMLP", "TF4CTR")}


def test_fig11_bars_and_table_equal_the_recorded_counts_per_model_epoch_split_and_class(lab, monkeypatch):
    _, store = lab
    _, files, figures, out = report(lab, "fig11", "csv", monkeypatch)
    assert files == ["fig11_quick.csv", "fig11_quick.pdf", "fig11_quick.png"]
    bands, n = db_means(store, "fig11")
    assert set(n.values()) == {2}
    (fig,) = {id(f): f for f in figures}.values()
    styles = {v: k for k, v in _legend_styles(fig).items()}
    assert len(styles) == 2
    colour_band = {RED: "misclassified", BLUE: "poorly", GREEN: "well"}
    seen = set()
    for ax in fig.axes:
        cls, split = re.fullmatch(r"synthetic: (\w+) samples, (\w+)", ax.get_title()).groups()
        label, split = LABEL[cls], SPLIT[split]
        drawn = {}
        for bar in ax.patches:
            model = styles[(bar.get_hatch() or "", bar.get_alpha())]
            band = colour_band[to_hex(bar.get_facecolor())]
            epoch = int(round(bar.get_x() + bar.get_width() / 2))
            drawn[(model, epoch, split, label, band)] = bar.get_height()
        expected = {k: v for k, v in bands.items() if k[2] == split and k[3] == label}
        assert drawn.keys() == expected.keys()
        for k, v in expected.items():
            assert drawn[k] == pytest.approx(v), k
        seen.add((split, label))
    assert seen == {(s, c) for s in ("valid", "test") for c in (0, 1)}
    rows = list(csv.DictReader(io.StringIO((out / "fig11_quick.csv").read_text())))
    table = {(r["model"], int(r["epoch"]), r["split"], int(r["label"]), r["band"]): float(r["mean"]) for r in rows}
    assert table == pytest.approx(bands)
    # the models differ somewhere, or a swap of the two would pass unseen
    assert any(bands[("DualMLP", *k[1:])] != bands[("TF4CTR", *k[1:])] for k in bands if k[0] == "DualMLP")


def test_fig11_totals_are_the_class_sizes_of_each_split_every_epoch(lab):
    _, store = lab
    runs = runs_of(store, "fig11")
    data = load_for(RunConfig.from_dict(next(iter(runs.values()))[2]))
    sizes = {(s, c): int(((getattr(data, s).y > 0.5) == bool(c)).sum()) for s in ("valid", "test") for c in (0, 1)}
    frame = store.bands(list(runs))
    assert len(frame) == len(runs) * 3 * 4
    for r in frame.to_dict("records"):
        assert r["misclassified"] + r["poorly"] + r["well"] == sizes[(r["split"], r["label"])]


def test_fig11_markdown_and_latex_tables_and_the_claim_notes(lab, monkeypatch):
    _, store = lab
    bands, _ = db_means(store, "fig11")
    output, _, _, _ = report(lab, "fig11", "markdown", monkeypatch)
    for split, cls in (("validation", "positive"), ("test", "negative")):
        label = LABEL[cls]
        more_well = sum(bands[("TF4CTR", e, SPLIT[split], label, "well")] > bands[("DualMLP", e, SPLIT[split], label, "well")]
                        for e in (1, 2, 3))
        assert f"synthetic {split} {cls}s: TF4CTR has more well classified than DualMLP in {more_well} of 3 epochs" in output
    latex, files, _, _ = report(lab, "fig11", "latex", monkeypatch)
    assert "fig11_quick.tex" in files and r"\begin{tabular}" in latex and r"\end{document}" in latex


@pytest.mark.parametrize("study, change, message", [
    ("fig2", ("record_bands: [train, valid]", "record_bands: [valid]"), "missing train"),
    ("fig2", ("  model: {DNN: dnn}", "  model: {DNN: dnn, DualMLP: dualmlp}"), "one cell"),
    ("fig11", ("  model: {DualMLP: dualmlp, TF4CTR: tf4ctr}", "  model: {TF4CTR: tf4ctr}"), "at least two"),
    ("fig11", ("  log_counts: true", "  log_counts: 1"), "true or false"),
])
def test_a_band_study_that_cannot_draw_its_figure_is_refused_when_loaded(study, change, message, tmp_path):
    text = (load_study(study).path).read_text()
    assert change[0] in text
    path = tmp_path / f"{study}.yaml"
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "baselines.yaml").write_text(
        (load_study(study).path.parent / "settings" / "baselines.yaml").read_text())
    path.write_text(text.replace(change[0], change[1]))
    with pytest.raises(ConfigError, match=message):
        load_study(str(path))


@pytest.mark.parametrize("study", ["fig2", "fig11"])
def test_a_band_report_of_runs_that_do_not_exist_says_so(lab, monkeypatch, study):
    tmp, _ = lab
    monkeypatch.setenv("TFBENCH_DB", f"sqlite:///{tmp / 'results.db'}")
    for selection in (["--datasets", "ml-tag"], ["--seeds", "1999,"]):   # no runs on that dataset / seed
        r = CliRunner().invoke(app, ["report", study, "--quick", "--out", str(tmp / "none"), *selection])
        assert f"nothing recorded for study '{study}' yet (quick runs" in r.output, r.output
    assert not (tmp / "none").exists()
