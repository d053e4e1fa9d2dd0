"""Figure 5: the autograd gradients of tfbench's Twin Focus terms against their closed forms.

The closed forms here are written out independently of the loss code (numpy, float64). With
σ = p_t and y = 1 (z = logit p_t):

    ∂/∂z [(c+σ)^γ log σ] = γ(c+σ)^{γ−1} σ(1−σ) log σ + (c+σ)^γ (1−σ)
    ∂/∂z [(m−σ)^γ log σ] = −γ(m−σ)^{γ−1} σ(1−σ) log σ + (m−σ)^γ (1−σ),    m = 2 − c

and ℓ = −(that), so ∂ℓ/∂z is minus these; for y = 0 the loss is applied through p_t = σ(−z), so
at z = −logit p_t it is plus these. c = 0.5 is avoided on purpose: there m = 2 − c = 1 + c.
"""

import textwrap
from functools import partial

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.errors import ConfigError
from tfbench.report.loss_gradients import (
    BANDS, GradientSettings, band_of, band_spans, log_loss_gradient, parse_settings, plot_grid, sample_curves,
    twin_focus_gradients,
)
from tfbench.studies import expand, load_study

P = np.linspace(0.001, 0.999, 997)
close = partial(np.testing.assert_allclose, rtol=1e-12, atol=1e-15)   # float64: ~1e-16 absolute near a zero
PAIRS = [(0.6, 1.0), (0.8, 2.0), (0.3, 3.0), (0.6, 3.0), (0.9, 2.5), (0.0, 2.0), (1.0, 1.0)]


def simple_closed_form(s, c, g):
    return g * (c + s) ** (g - 1) * s * (1 - s) * np.log(s) + (c + s) ** g * (1 - s)


def complex_closed_form(s, c, g):
    m = 2.0 - c
    return -g * (m - s) ** (g - 1) * s * (1 - s) * np.log(s) + (m - s) ** g * (1 - s)


@pytest.mark.parametrize("label", [1, 0])
@pytest.mark.parametrize("c,gamma", PAIRS)
def test_autograd_gradients_of_the_loss_equal_the_closed_form(c, gamma, label):
    grad_s, grad_c = twin_focus_gradients(P, label, c, gamma)
    sign = -1.0 if label == 1 else 1.0                 # ℓ = −(...); y = 0 evaluates at z = −logit p_t
    close(grad_s, sign * simple_closed_form(P, c, gamma))
    close(grad_c, sign * complex_closed_form(P, c, gamma))
    close(log_loss_gradient(P, label), sign * (1.0 - P))  # Eq. 13


def test_the_curves_drawn_are_the_norms_and_equal_for_both_classes():
    settings = GradientSettings(c=(0.6, 0.8), gamma=(1.0, 3.0))
    pos, neg = sample_curves(settings, P, 1), sample_curves(settings, P, 0)
    for c, g in settings.pairs:
        close(pos.norm("simple", c, g), np.abs(simple_closed_form(P, c, g)))
        close(pos.norm("complex", c, g), np.abs(complex_closed_form(P, c, g)))
        close(neg.norm("simple", c, g), pos.norm("simple", c, g))
        close(neg.norm("complex", c, g), pos.norm("complex", c, g))


def test_the_reversed_stretch_is_where_the_exact_derivative_changes_sign():
    # c = 0.6, γ = 3: (c+σ) + γσ log σ < 0 between two roots, so ∂ℓ_simple/∂z_s > 0 (away from the label)
    c, g = 0.6, 3.0
    bracket = lambda s: (c + s) + g * s * np.log(s)
    lo, hi = brentq(bracket, 0.01, 0.25), brentq(bracket, 0.25, 0.9)
    curves = sample_curves(GradientSettings(c=(c,), gamma=(g,)), plot_grid())
    away = curves.p_t[curves.away_from_label("simple", c, g)]
    assert abs(away.min() - lo) <= 1e-3 and abs(away.max() - hi) <= 1e-3
    assert not curves.away_from_label("complex", c, g).any()
    assert not sample_curves(GradientSettings(c=(0.8,), gamma=(1.0, 2.0, 3.0)), plot_grid()).away_from_label(
        "simple", 0.8, 3.0).any()


def test_regions_by_distance_to_the_label():
    p = np.array([0.0, 0.3999, 0.4, 0.4001, 0.6999, 0.7, 0.7001, 1.0])
    assert list(band_of(p, (0.3, 0.6))) == [BANDS[0]] * 3 + [BANDS[1]] * 3 + [BANDS[2]] * 2   # d = 0.3 is poorly
    assert list(band_of(np.array([0.49, 0.5, 0.79, 0.8, 0.81]), (0.2, 0.5))) == [
        BANDS[0], BANDS[0], BANDS[1], BANDS[1], BANDS[2]]
    assert [(b, round(lo, 12), round(hi, 12)) for b, lo, hi in band_spans((0.3, 0.6))] == [
        (BANDS[0], 0.0, 0.4), (BANDS[1], 0.4, 0.7), (BANDS[2], 0.7, 1.0)]


@pytest.mark.parametrize("settings,needle", [
    ({"band_thresholds": [0.6, 0.3]}, "'report_settings.band_thresholds' must be two distances 0 < t1 < t2 < 1"),
    ({"c": [1.2]}, "'report_settings.c' holds a bad value"),
    ({"gamma": []}, "'report_settings.gamma' must be a non-empty list of numbers"),
    ({"table_step": 0.3}, "'report_settings.table_step' must divide 1"),
    ({"alpha": 0.2}, "'report_settings.alpha' is not a setting of this report"),
])
def test_bad_settings_are_study_file_errors(settings, needle, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse_settings(settings)
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "f5.yaml").write_text(textwrap.dedent(f"""\
        name: f5
        kind: analytic
        report: twin_focus_gradients
        report_settings: {settings}
    """))
    with pytest.raises(ConfigError, match="f5.yaml: 'report_settings"):
        load_study(str(folder / "f5.yaml"))


def test_fig5_trains_nothing_and_reports_the_sampled_values_and_the_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("TFBENCH_DB", f"sqlite:///{tmp_path / 'results.db'}")
    study = load_study("fig5")
    assert not study.trains and expand(study) == []
    runner = CliRunner()
    r = runner.invoke(app, ["run", "fig5"])
    assert r.exit_code == 0 and len(r.output.splitlines()) == 1 and "nothing to train" in r.output, r.output
    out = tmp_path / "rep"
    r = runner.invoke(app, ["report", "fig5", "--format", "csv", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for name in ("fig5_values.csv", "fig5.png", "fig5.pdf"):
        assert (out / name).stat().st_size > 1000, name
    values = pd.read_csv(out / "fig5_values.csv")
    settings = parse_settings(study.report_settings)
    assert len(values) == 19 * (1 + 2 * len(settings.pairs))          # p_t = 0.05 … 0.95
    for (term, c, g), part in values[values.term != "log_loss"].groupby(["term", "c", "gamma"]):
        form = simple_closed_form if term == "simple" else complex_closed_form
        close(part["norm"], np.abs(form(part["p_t"].to_numpy(), c, g)))
        assert (part["m"] == 2.0 - c).all()
    ll = values[values.term == "log_loss"]
    close(ll["norm"], 1.0 - ll["p_t"])
    assert (values["region"] == band_of(values["p_t"].to_numpy(), settings.band_thresholds)).all()

    # the other formats write the same figure: leave it out to keep the test fast
    monkeypatch.setattr("tfbench.report.loss_gradient_figure.draw_gradient_figure", lambda *a, **k: [])
    r = runner.invoke(app, ["report", "fig5", "--format", "markdown", "--out", str(out)])
    assert r.exit_code == 0, r.output
    md = (out / "fig5_values.md").read_text()
    assert "No runs: this figure is computed, not trained" in md and "Eqs. 14–15" in md
    assert "c = 0.6, γ = 3: the gradient points away from the label" in md
    r = runner.invoke(app, ["report", "fig5", "--format", "latex", "--out", str(out)])
    assert r.exit_code == 0 and (out / "fig5_values.tex").read_text().count(r"\begin{tabular}") == 2
