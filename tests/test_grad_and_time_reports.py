"""Figure 6 and Table IX from the study path: `tfbench run fig6|table9 --datasets synthetic --quick`,
then `tfbench report`. What the reports draw and print is recomputed here from the raw database rows
(tfb_grad_steps, tfb_timings) in plain Python; the recorded gradient norms of every step are
checked against autograd on a replay of the same training steps."""

import csv
import io
import statistics
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.config import RunConfig
from tfbench.db import ResultStore
from tfbench.errors import ConfigError
from tfbench.losses import make_objective
from tfbench.runner import build_for, train_settings
from tfbench.studies import load_study
from tfbench.train import fit, resolve_device, seed_everything

SEEDS = "2023,2024"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Both quick studies run once (two seeds) into one database."""
    tmp = tmp_path_factory.mktemp("gradtime")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFBENCH_CACHE_DIR", str(tmp / "cache"))
        mp.setenv("TFBENCH_DB", f"sqlite:///{tmp / 'results.db'}")
        for study in ("fig6", "table9"):
            r = CliRunner().invoke(app, ["run", study, "--datasets", "synthetic", "--quick", "--seeds", SEEDS])
            assert r.exit_code == 0, r.output
        yield tmp, ResultStore(f"sqlite:///{tmp / 'results.db'}")


def report(lab, study, fmt, monkeypatch):
    """Run `tfbench report`; returns (output text, file names written, figures drawn, folder)."""
    tmp, _ = lab
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp / "cache"))
    monkeypatch.setenv("TFBENCH_DB", f"sqlite:///{tmp / 'results.db'}")
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))   # keep what was drawn
    out = tmp / f"report-{study}-{fmt}"
    r = CliRunner().invoke(app, ["report", study, "--datasets", "synthetic", "--quick", "--format", fmt,
                                 "--out", str(out), "--seeds", SEEDS])
    assert r.exit_code == 0, r.output
    return r.output, sorted(p.name for p in out.iterdir()), figures, out


def runs_of(store, study):
    """{run_id: (cell label, seed, run row)} of the study's finished runs."""
    out = {}
    for link, row in store.study_runs(study):
        assert row is not None and row.status == "done"
        out[row.id] = (next(iter(link.cell.values())), link.seed, row)
    return out


def csv_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def fig6_reference(store):
    """From the raw rows: {(label, step): (mean ‖∇z_s‖, mean ‖∇z_c‖, seeds)} of the first epoch."""
    runs = runs_of(store, "fig6")
    per: dict = {}
    for r in store.grad_steps(list(runs)).to_dict("records"):
        if r["epoch"] == 1:
            per.setdefault((runs[r["run_id"]][0], r["step"]), []).append((r["grad_z_s"], r["grad_z_c"]))
    return {k: (statistics.fmean(v[0] for v in vs), statistics.fmean(v[1] for v in vs), len(vs)) for k, vs in per.items()}


def test_fig6_figure_and_table_equal_the_recorded_gradient_steps(lab, monkeypatch):
    _, store = lab
    ref = fig6_reference(store)
    labels = ["L_ctr + L_TF", "L_ctr"]
    steps = sorted({s for _, s in ref})
    assert steps == list(range(1, 22))                       # 4,200 training rows at batch 200: 21 steps
    assert {n for *_, n in ref.values()} == {2}              # both seeds in every mean

    output, files, figures, out = report(lab, "fig6", "csv", monkeypatch)
    assert files == ["fig6_quick.csv", "fig6_quick.pdf", "fig6_quick.png"]
    assert (out / "fig6_quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "fig6_quick.pdf").read_bytes()[:5] == b"%PDF-"
    (fig,) = {id(f): f for f in figures}.values()
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert [ax.get_title()[:3] for ax in panels] == ["(a)", "(b)"]
    assert "TF" in panels[0].get_title() and "only" in panels[1].get_title()
    for ax, label in zip(panels, labels):
        zs, zc = ax.get_lines()
        assert list(zs.get_xdata()) == steps and list(zc.get_xdata()) == steps
        assert list(zs.get_ydata()) == pytest.approx([ref[(label, s)][0] for s in steps], rel=1e-12)
        assert list(zc.get_ydata()) == pytest.approx([ref[(label, s)][1] for s in steps], rel=1e-12)

    table = {r["loss"]: r for r in csv_rows(out / "fig6_quick.csv")}
    assert list(table) == labels
    for label in labels:
        (s1, c1, _), (s21, c21, _) = ref[(label, 1)], ref[(label, 21)]
        row = table[label]
        assert (int(row["first_step"]), int(row["last_step"]), int(row["steps"])) == (1, 21, 21)
        expected = {"grad_z_s_first": s1, "grad_z_s_last": s21, "grad_z_s_last_over_first": s21 / s1,
                    "grad_z_c_first": c1, "grad_z_c_last": c21, "grad_z_c_last_over_first": c21 / c1,
                    "c_over_s_first": c1 / s1, "c_over_s_last": c21 / s21}
        for column, value in expected.items():
            assert float(row[column]) == pytest.approx(value, rel=1e-12), (label, column)
    # L_ctr alone on TF4CTR's WSF fusion starts with equal weights: both logits get one gradient;
    # the TF loss adds (1 − α) = 0.75 on z_c and α = 0.25 on z_s, so z_c's gradient is the larger
    assert float(table["L_ctr"]["c_over_s_first"]) == pytest.approx(1.0, rel=1e-5)
    assert float(table["L_ctr + L_TF"]["c_over_s_first"]) > 1.2


def test_fig6_markdown_and_latex_show_the_same_summary(lab, monkeypatch):
    _, store = lab
    ref = fig6_reference(store)
    md, files, _, _ = report(lab, "fig6", "markdown", monkeypatch)
    assert "fig6_quick.md" in files
    for label in ("L_ctr + L_TF", "L_ctr"):
        (s1, c1, _), (s21, c21, _) = ref[(label, 1)], ref[(label, 21)]
        line = next(l for l in md.splitlines() if l.startswith(f"| {label} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == "21"
        assert [float(c) for c in cells[2:]] == pytest.approx(
            [s1, s21, s21 / s1, c1, c21, c21 / c1, c1 / s1, c21 / s21], rel=2e-3)
    latex, files, _, _ = report(lab, "fig6", "latex", monkeypatch)
    assert "fig6_quick.tex" in files and r"\begin{tabular}" in latex and latex.rstrip().endswith(r"\end{document}")
    assert r"$\|$$\nabla$z\_c$\|$" in latex                  # ‖∇z_c‖ in math mode, not raw glyphs
    assert latex.isascii()                                    # every glyph escaped for a minimal TeX


def test_recorded_gradient_norms_equal_autograd_on_a_replay_of_every_step(tiny_synthetic):
    """Steps 1..4 of a tiny TF4CTR run replayed by hand (same batches, Adam, clipping): the recorded
    norms are ‖∂loss/∂z_s‖ and ‖∂loss/∂z_c‖ of each step's own batch and weights."""
    cfg = RunConfig.from_dict(dict(synthetic_rows=20_000, embedding_dim=4, mlp_s=[16], mlp_c=[16, 16], batch_size=1000,
                                   epochs=1, patience=1, dropout=0.0, embedding_regularizer=0.0, learning_rate=1e-2,
                                   record_grad_steps=4))
    seed_everything(cfg.seed)
    model = build_for(cfg, tiny_synthetic)
    reference = build_for(cfg, tiny_synthetic)
    reference.load_state_dict(model.state_dict())
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    result = fit(model, tiny_synthetic, objective, train_settings(cfg), resolve_device("cpu"))
    recorded = result.history[0].grad_steps
    assert [g.step for g in recorded] == [1, 2, 3, 4]

    train = tiny_synthetic.train
    perm = torch.randperm(len(train.y), generator=torch.Generator().manual_seed(cfg.seed))
    x_cat, x_num = torch.as_tensor(train.x_cat), torch.as_tensor(train.x_num)
    y_all = torch.as_tensor(train.y, dtype=torch.float32)
    optimizer = torch.optim.Adam(reference.parameters(), lr=cfg.learning_rate)
    reference.train()
    for k, g in enumerate(recorded):
        idx = perm[k * cfg.batch_size: (k + 1) * cfg.batch_size]
        out = reference(x_cat[idx], x_num[idx])
        loss = objective(out, y_all[idx])
        g_s, g_c = torch.autograd.grad(loss, [out.simple, out.complex], retain_graph=True)
        assert g.loss == pytest.approx(float(loss.detach()), rel=1e-5), k
        assert g.grad_z_s == pytest.approx(float(g_s.norm()), rel=1e-4), k
        assert g.grad_z_c == pytest.approx(float(g_c.norm()), rel=1e-4), k
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), train_settings(cfg).clip_norm)
        optimizer.step()
    assert len({round(g.grad_z_c, 6) for g in recorded}) == 4     # the steps differ: not one value repeated


def table9_reference(store):
    """From the raw rows: per model, the median over seeds of the first epoch's training seconds
    and of (median inference pass / rows)."""
    runs = runs_of(store, "table9")
    train: dict = {}
    passes: dict = {}
    for r in store.timings(list(runs)).to_dict("records"):
        label = runs[r["run_id"]][0]
        if r["phase"] == "train_first_epoch":
            train.setdefault(label, []).append(r["seconds"])
        else:
            passes.setdefault((label, r["run_id"]), []).append(r["seconds"] / r["rows"])
    infer: dict = {}
    for (label, _), v in passes.items():
        assert len(v) == 3                                   # quick: time_inference_passes 3
        infer.setdefault(label, []).append(statistics.median(v))
    return ({k: statistics.median(v) for k, v in train.items()}, {k: statistics.median(v) for k, v in infer.items()})


def test_table9_ratios_are_the_stored_timings_over_dnns(lab, monkeypatch):
    _, store = lab
    train, infer = table9_reference(store)
    models = ["DNN", "xDeepFM", "AutoInt+", "AFN+", "CL4CTR", "DualMLP", "TF4CTR (SER+MoEF)"]
    assert sorted(train) == sorted(models)
    _, files, _, out = report(lab, "table9", "csv", monkeypatch)
    assert files == ["table9_quick.csv"]
    rows = {r["model"]: r for r in csv_rows(out / "table9_quick.csv")}
    assert list(rows) == models
    for m in models:
        r = rows[m]
        assert int(r["seeds"]) == 2
        assert float(r["train_seconds_median"]) == pytest.approx(train[m], rel=1e-12)
        assert float(r["inference_seconds_per_sample_median"]) == pytest.approx(infer[m], rel=1e-12)
        assert float(r["train_ratio"]) == pytest.approx(train[m] / train["DNN"], rel=1e-12)
        assert float(r["inference_ratio"]) == pytest.approx(infer[m] / infer["DNN"], rel=1e-12)


def test_table9_names_the_device_its_runs_stored_and_prints_the_papers_values(lab, monkeypatch):
    _, store = lab
    with open("/proc/cpuinfo") as f:
        model_name = next(" ".join(l.split(":", 1)[1].split()) for l in f if l.lower().startswith("model name"))
    runs = runs_of(store, "table9")
    assert {row.device for *_, row in runs.values()} == {f"cpu ({model_name})"[:64]}
    assert {row.threads for *_, row in runs.values()} == {torch.get_num_threads()}
    # runs that time nothing keep the plain device name
    assert {row.device for *_, row in runs_of(store, "fig6").values()} == {"cpu"}

    train, infer = table9_reference(store)
    md, _, _, _ = report(lab, "table9", "markdown", monkeypatch)
    threads = torch.get_num_threads()
    assert f"ours on cpu ({model_name}), {threads} thread" in md
    line = next(l for l in md.splitlines() if l.startswith("| TF4CTR (SER+MoEF) |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == f"{train['TF4CTR (SER+MoEF)']:.2f}"
    assert cells[2] == f"{train['TF4CTR (SER+MoEF)'] / train['DNN']:.2f}x"
    assert cells[3:5] == ["30s", "1.30x"]                                # the paper's Table IX
    assert float(cells[5].replace(",", "")) == pytest.approx(infer["TF4CTR (SER+MoEF)"] * 1e6, rel=5e-3)  # µs/sample
    assert cells[6] == f"{infer['TF4CTR (SER+MoEF)'] / infer['DNN']:.2f}x"
    assert cells[7:9] == ["0.21ms", "1.91x"]
    assert next(l for l in md.splitlines() if l.startswith("| DNN (base) |")).count("—") == 4
    latex, files, _, _ = report(lab, "table9", "latex", monkeypatch)
    assert files == ["table9_quick.tex"] and r"\begin{tabular}" in latex and "1.91x" in latex
    assert latex.isascii() and r"$\mu$s/sample" in latex


@pytest.mark.parametrize("study, change, message", [
    ("fig6", ("  record_grad_steps: 9000", "  record_grad_steps: 0"), "record_grad_steps"),
    ("fig6", ("  log_norms: false", "  log_norms: 1"), "true or false"),
    ("table9", ("  reference: DNN", "  reference: MLP"), "reference"),
    ("table9", ("    AFN+: {train_s: 33,", "    AFN: {train_s: 33,"), "paper.AFN"),
    ("table9", ("  time_inference_passes: 5", "  time_inference_passes: 0"), "time_inference_passes"),
])
def test_a_study_that_cannot_make_its_report_is_refused_when_loaded(study, change, message, tmp_path):
    text = load_study(study).path.read_text()
    assert change[0] in text
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "baselines.yaml").write_text(
        (load_study(study).path.parent / "settings" / "baselines.yaml").read_text())
    path = tmp_path / f"{study}.yaml"
    path.write_text(text.replace(change[0], change[1]))
    with pytest.raises(ConfigError, match=message):
        load_study(str(path))


@pytest.mark.parametrize("study, says", [("fig6", "nothing recorded"), ("table9", "nothing timed")])
def test_a_report_of_runs_that_do_not_exist_says_so(lab, monkeypatch, study, says):
    tmp, _ = lab
    monkeypatch.setenv("TFBENCH_DB", f"sqlite:///{tmp / 'results.db'}")
    r = CliRunner().invoke(app, ["report", study, "--quick", "--out", str(tmp / "none"), "--seeds", "1999,"])
    assert f"{says} for study '{study}' yet (quick runs" in r.output, r.output
    assert not (tmp / "none").exists()
