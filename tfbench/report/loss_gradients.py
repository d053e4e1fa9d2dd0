"""Figure 5: the gradients the Twin Focus loss gives each encoder, against the prediction confidence.

The paper's Figure 5 plots, for several (c, γ), the gradient magnitude of L_simple (on the simple
encoder's logit z_s) and of L_complex (on z_c) over the confidence p_t, the probability the
prediction gives the true class, with three regions shaded. Here every value comes from tfbench's
own loss, :func:`tfbench.losses.core.twin_focus_terms`, differentiated by torch autograd in
float64 (no training, nothing from the results database): per sample,
‖∇_{z_s} L_simple‖ = |∂ℓ_simple/∂z_s| and ‖∇_{z_c} L_complex‖ = |∂ℓ_complex/∂z_c|, with the
log loss's |∂(−log p_t)/∂z| = 1 − p_t (Eq. 13) as the reference.

What the exact derivative shows that Eqs. 14–15 do not: with σ = σ(z) = p_t (y = 1),

    ∂/∂z [(c+σ)^γ log σ] = γ(c+σ)^{γ−1} σ(1−σ) log σ + (c+σ)^γ (1−σ)
    ∂/∂z [(m−σ)^γ log σ] = −γ(m−σ)^{γ−1} σ(1−σ) log σ + (m−σ)^γ (1−σ),   m = 2 − c

and the paper keeps only the second term (written ∝ (c+σ)^{γ−1}(1−σ)). For L_simple the first term
has the opposite sign, so where it wins (small c, large γ: c = 0.6, γ = 3 for p_t ≈ 0.1–0.3)
the gradient points *away* from the label; the figure marks that stretch and the notes give it.
Negatives (y = 0) take p_t = σ(−z) and give the same norms at the same p_t (checked each time).

The regions follow the distance d = 1 − p_t between prediction and label with the thresholds
{0.3, 0.6} that §IV-D1 uses to count the three kinds of samples (Figure 11): well classified
d < 0.3, poorly classified 0.3 ≤ d < 0.6, misclassified d ≥ 0.6 (settings ``band_thresholds``).
§II-B gives another example for positives ([0.6, 1] well, [0.2, 0.6) poorly, [0, 0.2)
misclassified) and says the thresholds are for illustration only; we keep §IV-D1's, which the
paper uses for its counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from tfbench.errors import ConfigError
from tfbench.losses.core import log_p_true, twin_focus_terms, validate_twin_focus
from tfbench.report.plain_tables import FORMATS, TextTable, render_document, write_text
from tfbench.report.special import Reporter, register

BANDS = ("Misclassified", "Poorly classified", "Well classified")
PLOT_POINTS = 999                    # p_t = 0.001, 0.002, ..., 0.999 for the curves
TERMS = ("simple", "complex")


@dataclass(frozen=True)
class GradientSettings:
    c: tuple[float, ...] = (0.6, 0.8)
    gamma: tuple[float, ...] = (1.0, 2.0, 3.0)
    band_thresholds: tuple[float, float] = (0.3, 0.6)   # on d = 1 − p_t
    table_step: float = 0.05                            # p_t spacing of the printed values

    @property
    def pairs(self) -> list[tuple[float, float]]:
        return [(c, g) for c in self.c for g in self.gamma]


def parse_settings(raw: dict[str, Any]) -> GradientSettings:
    def bad(key: str, why: str):
        raise ConfigError(f"'report_settings.{key}' {why}")

    known = set(GradientSettings.__dataclass_fields__)
    for key in raw:
        if key not in known:
            bad(str(key), f"is not a setting of this report ({', '.join(sorted(known))})")

    def numbers(key: str) -> tuple[float, ...]:
        value = raw.get(key, list(getattr(GradientSettings, key)))
        if not isinstance(value, list) or not value or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            bad(key, "must be a non-empty list of numbers")
        return tuple(float(v) for v in value)

    c, gamma, thresholds = numbers("c"), numbers("gamma"), numbers("band_thresholds")
    for cv in c:
        for g in gamma:
            try:
                validate_twin_focus(0.25, cv, g)
            except ConfigError as e:
                bad("c" if not 0.0 <= cv <= 1.0 else "gamma", f"holds a bad value: {e}")
    if len(thresholds) != 2 or not 0.0 < thresholds[0] < thresholds[1] < 1.0:
        bad("band_thresholds", f"must be two distances 0 < t1 < t2 < 1, got {list(thresholds)}")
    step = raw.get("table_step", GradientSettings.table_step)
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0.0 < step < 0.5 \
            or abs(round(1.0 / step) * step - 1.0) > 1e-9:
        bad("table_step", f"must divide 1 into equal steps below 0.5 (e.g. 0.05), got {step!r}")
    return GradientSettings(c=c, gamma=gamma, band_thresholds=(thresholds[0], thresholds[1]), table_step=float(step))


def band_of(p_t: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """The region of each confidence by its distance d = 1 − p_t to the label.

    Compared on p_t (d < t ⇔ p_t > 1 − t), so that a confidence typed as a decimal on a boundary
    falls where the definition puts it: 1 − 0.8 is 0.19999999999999996 in floating point, but
    1 − 0.2 is 0.8."""
    p_t = np.asarray(p_t, dtype=np.float64)
    low, high = thresholds
    return np.where(p_t > 1.0 - low, BANDS[2], np.where(p_t > 1.0 - high, BANDS[1], BANDS[0]))


def band_spans(thresholds: tuple[float, float]) -> list[tuple[str, float, float]]:
    """(region, lowest p_t, highest p_t) of each region on the p_t axis, left to right."""
    low, high = thresholds
    return [(BANDS[0], 0.0, 1.0 - high), (BANDS[1], 1.0 - high, 1.0 - low), (BANDS[2], 1.0 - low, 1.0)]


def _logits(p_t: np.ndarray, label: int) -> torch.Tensor:
    """The logits whose true-class probability is ``p_t``: σ(z) = p_t for y = 1, σ(−z) = p_t for y = 0."""
    z = torch.logit(torch.as_tensor(p_t, dtype=torch.float64))
    return z if label == 1 else -z


def twin_focus_gradients(p_t: np.ndarray, label: int, c: float, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, (∂ℓ_simple/∂z_s, ∂ℓ_complex/∂z_c) of tfbench's Twin Focus terms, by autograd.

    ``twin_focus_terms`` returns batch means; each sample's term depends on its own logits only,
    so the gradient of N × the mean is, element by element, that sample's derivative."""
    z_s = _logits(p_t, label).requires_grad_(True)
    z_c = _logits(p_t, label).requires_grad_(True)
    y = torch.full_like(z_s, float(label))
    simple, complex_ = twin_focus_terms(z_s, z_c, y, c, gamma)
    n = z_s.numel()
    grad_s, = torch.autograd.grad(simple * n, z_s)
    grad_c, = torch.autograd.grad(complex_ * n, z_c)
    return grad_s.numpy(), grad_c.numpy()


def log_loss_gradient(p_t: np.ndarray, label: int) -> np.ndarray:
    """Per sample ∂(−log p_t)/∂z by autograd of tfbench's ``log_p_true``; its norm is 1 − p_t (Eq. 13)."""
    z = _logits(p_t, label).requires_grad_(True)
    loss = -log_p_true(z, torch.full_like(z, float(label))).sum()
    grad, = torch.autograd.grad(loss, z)
    return grad.numpy()


@dataclass(frozen=True)
class Curves:
    """Sampled curves at confidences ``p_t`` for positives: signed ∂ℓ/∂z per (c, γ) and term."""

    p_t: np.ndarray
    log_loss: np.ndarray
    grads: dict[tuple[str, float, float], np.ndarray]   # (term, c, γ) -> ∂ℓ_term/∂z for y = 1

    def norm(self, term: str, c: float, gamma: float) -> np.ndarray:
        return np.abs(self.grads[(term, c, gamma)])

    def away_from_label(self, term: str, c: float, gamma: float) -> np.ndarray:
        """Where a descent step on the term lowers p_t (for y = 1 the gradient is then positive)."""
        return self.grads[(term, c, gamma)] > 0.0


def sample_curves(settings: GradientSettings, p_t: np.ndarray, label: int = 1) -> Curves:
    grads = {}
    for c, g in settings.pairs:
        grads[("simple", c, g)], grads[("complex", c, g)] = twin_focus_gradients(p_t, label, c, g)
    return Curves(p_t=np.asarray(p_t, dtype=np.float64), log_loss=log_loss_gradient(p_t, label), grads=grads)


def negatives_gap(settings: GradientSettings, p_t: np.ndarray) -> float:
    """Largest |norm(y=1) − norm(y=0)| at the same p_t over every term and (c, γ); ~1e-16 by symmetry."""
    pos, neg = sample_curves(settings, p_t, 1), sample_curves(settings, p_t, 0)
    gaps = [np.max(np.abs(np.abs(pos.grads[k]) - np.abs(neg.grads[k]))) for k in pos.grads]
    return float(max(gaps + [np.max(np.abs(np.abs(pos.log_loss) - np.abs(neg.log_loss)))]))


def reversed_stretches(curves: Curves, settings: GradientSettings) -> list[str]:
    """Plain-text notes: where a term's gradient points away from the label, per (c, γ)."""
    out = []
    for term in TERMS:
        for c, g in settings.pairs:
            away = curves.away_from_label(term, c, g)
            if not away.any():
                continue
            edges = np.flatnonzero(np.diff(np.concatenate([[0], away.astype(int), [0]])))
            spans = ", ".join(f"{curves.p_t[a]:.3f}–{curves.p_t[b - 1]:.3f}" for a, b in zip(edges[::2], edges[1::2]))
            out.append(f"L_{term} with c = {c:g}, γ = {g:g}: the gradient points away from the label for "
                       f"p_t ≈ {spans} (×; there the term falls as p_t falls, the first term of the exact "
                       f"derivative outweighing the second).")
    return out


def plot_grid() -> np.ndarray:
    return np.arange(1, PLOT_POINTS + 1, dtype=np.float64) / (PLOT_POINTS + 1)


def table_grid(step: float) -> np.ndarray:
    k = int(round(1.0 / step))
    return np.arange(1, k, dtype=np.float64) / k


def curve_frame(curves: Curves, settings: GradientSettings) -> pd.DataFrame:
    """Tidy values: one row per term × (c, γ) × p_t (the log loss with c, γ, m empty)."""
    rows = []
    bands = band_of(curves.p_t, settings.band_thresholds)
    for i, p in enumerate(curves.p_t):
        base = {"p_t": float(p), "distance": float(1.0 - p), "region": str(bands[i])}
        rows.append({"term": "log_loss", "c": np.nan, "gamma": np.nan, "m": np.nan, **base,
                     "gradient": float(curves.log_loss[i]), "norm": float(abs(curves.log_loss[i]))})
        for term in TERMS:
            for c, g in settings.pairs:
                v = float(curves.grads[(term, c, g)][i])
                rows.append({"term": term, "c": c, "gamma": g, "m": 2.0 - c, **base, "gradient": v, "norm": abs(v)})
    return pd.DataFrame(rows, columns=["term", "c", "gamma", "m", "p_t", "distance", "region", "gradient", "norm"])


def _text_tables(curves: Curves, settings: GradientSettings) -> list[TextTable]:
    bands = band_of(curves.p_t, settings.band_thresholds)
    tables = []
    for term, wrt in (("simple", "z_s"), ("complex", "z_c")):
        data = {"p_t": [f"{p:.2f}" for p in curves.p_t], "d = 1 − p_t": [f"{1 - p:.2f}" for p in curves.p_t],
                "region": list(bands), "log loss (1 − p_t)": [f"{abs(v):.4f}" for v in curves.log_loss]}
        for c, g in settings.pairs:   # × marks a gradient that points away from the label (notes)
            data[f"c={c:g}, γ={g:g}"] = [f"{v:.4f}" + (" ×" if away else "") for v, away in
                                         zip(curves.norm(term, c, g), curves.away_from_label(term, c, g))]
        frame = pd.DataFrame(data)
        numeric = tuple(col for col in frame.columns if col != "region")
        tables.append(TextTable(f"‖∂L_{term}/∂{wrt}‖ per sample (y = 1; y = 0 is the same at the same p_t)",
                                frame, numeric))
    return tables


def notes(settings: GradientSettings, curves: Curves, gap: float) -> list[str]:
    low, high = settings.band_thresholds
    return [
        "No runs: this figure is computed, not trained. Every value is torch autograd (float64) of tfbench's "
        "own Twin Focus loss terms (tfbench.losses.core.twin_focus_terms) on logits set to each p_t; nothing is "
        "read from the results database.",
        "Values are the exact per-sample derivatives. Eqs. 14–15 of the paper keep only the second term of "
        "∂/∂z[(c+σ)^γ log σ] = γ(c+σ)^(γ−1)σ(1−σ)log σ + (c+σ)^γ(1−σ) (and likewise with m − σ, m = 2 − c, "
        "for L_complex), written ∝ (c+σ)^(γ−1)(1−σ); the first term lowers L_simple's gradient and raises "
        "L_complex's.",
        f"Regions by the distance d = 1 − p_t with the thresholds {{{low:g}, {high:g}}} of §IV-D1: well classified "
        f"d < {low:g} (p_t > {1 - low:g}), poorly classified {low:g} ≤ d < {high:g}, misclassified d ≥ {high:g} "
        f"(p_t ≤ {1 - high:g}).",
        f"Negatives (y = 0, p_t = σ(−z)): the same norms at the same p_t; largest difference here {gap:.1e}.",
        *reversed_stretches(curves, settings),
    ]


def render(study, store, *, fmt: str, out_dir: Path, datasets, quick: bool, seeds) -> tuple[str, list[Path], int]:
    """The twin_focus_gradients reporter: the figure (PNG + PDF) and the sampled values in ``fmt``."""
    from tfbench.report.loss_gradient_figure import draw_gradient_figure  # matplotlib only when drawing

    settings = parse_settings(study.report_settings)
    fine = sample_curves(settings, plot_grid())
    coarse = sample_curves(settings, table_grid(settings.table_step))
    gap = negatives_gap(settings, plot_grid())
    text = render_document(fmt, study.title, _text_tables(coarse, settings), notes(settings, fine, gap),
                           curve_frame(coarse, settings))
    out_dir = Path(out_dir)
    # not <name>.tex: compiling it would overwrite the figure's <name>.pdf
    files = [write_text(out_dir / (study.name + "_values" + FORMATS[fmt]), text)]
    files += draw_gradient_figure(fine, settings, title=study.title, out_base=out_dir / study.name)
    return text, files, 0


def check(study) -> None:
    parse_settings(study.report_settings)


REPORTER = register(Reporter(
    name="twin_focus_gradients", render=render, check=check,
    description="Figure 5: per-sample gradient norms of L_simple and L_complex against p_t, by autograd",
))
