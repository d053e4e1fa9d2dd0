"""Log loss, the Twin Focus loss (paper Eq. 7 and Eq. 12) and the two single-head baselines of
Table V: Focal loss (Lin et al. 2017) and R-CE (Wang et al. 2021).

Everything is computed from logits through log-sigmoid, so the losses stay finite for any
finite logit (no log(0) from a saturated sigmoid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch
import torch.nn.functional as F

from tfbench.errors import ConfigError
from tfbench.models.output import ModelOutput


def log_p_true(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p_t, the log-probability the model gives to the true class: log σ(z) for y=1, log σ(−z) for y=0."""
    return F.logsigmoid((2.0 * y - 1.0) * logits)


def twin_focus_terms(
    simple_logit: torch.Tensor, complex_logit: torch.Tensor, y: torch.Tensor, c: float, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_simple, L_complex) of Eq. 7, applied to both classes through p_t.

    L_simple  = −mean((c + p_t)^γ · log p_t)        on the simple head
    L_complex = −mean((2 − c − p_t)^γ · log p_t)    on the complex head (m = 2 − c)

    The modulating factors are not detached: the authors' implementation lets gradients flow
    through them, and so do we.
    """
    log_pt_s = log_p_true(simple_logit, y)
    log_pt_c = log_p_true(complex_logit, y)
    simple = -((c + log_pt_s.exp()) ** gamma * log_pt_s).mean()
    complex_ = -(((2.0 - c) - log_pt_c.exp()) ** gamma * log_pt_c).mean()
    return simple, complex_


def add_aux(loss: torch.Tensor, out: ModelOutput) -> torch.Tensor:
    """``loss`` plus the model's own auxiliary loss ``out.aux`` when it has one (training mode only).

    Every objective ends with this, so a model's auxiliary terms (e.g. CL4CTR's) are trained
    whichever loss is chosen.
    """
    aux = getattr(out, "aux", None)
    return loss if aux is None else loss + aux


class Objective(Protocol):
    name: str

    def __call__(self, out: ModelOutput, y: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class LogLoss:
    """Binary cross-entropy of the final logit (L_ctr)."""

    name: str = "logloss"

    def __call__(self, out: ModelOutput, y: torch.Tensor) -> torch.Tensor:
        return add_aux(F.binary_cross_entropy_with_logits(out.logit, y), out)


@dataclass(frozen=True)
class TwinFocusLoss:
    """L_total = L_ctr(final logit) + α·L_simple(z_s) + (1−α)·L_complex(z_c)  (Eq. 7 and Eq. 12)."""

    alpha: float = 0.25
    c: float = 0.8
    gamma: float = 1.0
    name: str = "tf"

    def __post_init__(self) -> None:
        validate_twin_focus(self.alpha, self.c, self.gamma)

    def auxiliary(self, out: ModelOutput, y: torch.Tensor) -> torch.Tensor:
        if out.simple is None or out.complex is None:
            raise ConfigError("loss 'tf' needs a model with a simple and a complex encoder")
        simple, complex_ = twin_focus_terms(out.simple, out.complex, y, self.c, self.gamma)
        return self.alpha * simple + (1.0 - self.alpha) * complex_

    def __call__(self, out: ModelOutput, y: torch.Tensor) -> torch.Tensor:
        return add_aux(F.binary_cross_entropy_with_logits(out.logit, y) + self.auxiliary(out, y), out)


@dataclass(frozen=True)
class FocalLoss:
    """Focal loss (Lin et al. 2017) of the final logit, for both classes through p_t:

        FL = −mean(α_t · (1 − p_t)^γ_f · log p_t)

    with α_t = α for y=1 and 1 − α for y=0; ``alpha=None`` means no class weighting (α_t = 1).
    The modulating factor is not detached (as in Lin et al. and torchvision's sigmoid_focal_loss).
    γ_f = 0 with α None is exactly the log loss.
    """

    gamma: float = 2.0
    alpha: float | None = None
    name: str = "focal"

    def __post_init__(self) -> None:
        if not self.gamma >= 0.0:
            raise ConfigError(f"--focal-gamma must be >= 0, got {self.gamma}")
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"--focal-alpha must be in [0, 1] (or -1 for none), got {self.alpha}")

    def __call__(self, out: ModelOutput, y: torch.Tensor) -> torch.Tensor:
        sign = 2.0 * y - 1.0
        log_pt = F.logsigmoid(sign * out.logit)
        one_minus_pt = torch.sigmoid(-sign * out.logit)  # 1 − p_t without cancellation near p_t = 1
        loss = -(one_minus_pt**self.gamma) * log_pt
        if self.alpha is not None:
            loss = loss * (self.alpha * y + (1.0 - self.alpha) * (1.0 - y))
        return add_aux(loss.mean(), out)


@dataclass(frozen=True)
class ReweightedCE:
    """R-CE, the Reweighted Cross-Entropy of Wang et al. 2021 ("Denoising Implicit Feedback for
    Recommendation", WSDM), on the final logit:

        L = −mean(w · log p_t),   w = sg(p_t)^β

    where p_t is the predicted probability of the true class (ŷ for y=1, 1 − ŷ for y=0) and sg
    stops the gradient (the weight is a constant of each step, as in the authors' code).
    The paper writes the weight as ω(u,i) = ŷ_ui^β, motivated by noisy observed (positive)
    interactions; the authors' released implementation (WenjieWWJ/DenoisingRec, R_CE/loss.py)
    weights negatives symmetrically by (1 − ŷ)^β, i.e. w = p_t^β for both classes. That
    symmetric form is the default here (it is what "R-CE" runs use in practice).
    ``positives_only=True`` gives the positive-only reading (w = ŷ^β for y=1, w = 1 for y=0).
    Large-loss (hard) samples get small weights; β = 0 is exactly the log loss.
    """

    beta: float = 0.25
    positives_only: bool = False
    name: str = "rce"

    def __post_init__(self) -> None:
        if not self.beta >= 0.0:
            raise ConfigError(f"--rce-beta must be >= 0, got {self.beta}")

    def __call__(self, out: ModelOutput, y: torch.Tensor) -> torch.Tensor:
        log_pt = log_p_true(out.logit, y)
        weight = (self.beta * log_pt.detach()).exp()  # p_t^β, computed in log space
        if self.positives_only:
            weight = torch.where(y > 0.5, weight, torch.ones_like(weight))
        return add_aux(-(weight * log_pt).mean(), out)


def validate_twin_focus(alpha: float, c: float, gamma: float) -> None:
    if not 0.0 <= c <= 1.0:
        raise ConfigError(f"--c must be in [0, 1], got {c}")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"--alpha must be in [0, 1], got {alpha}")
    if not gamma >= 0.0:
        raise ConfigError(f"--gamma must be >= 0, got {gamma}")


# name -> (one-line description, factory taking the loss hyperparameters)
LOSSES: dict[str, tuple[str, Callable[..., Objective]]] = {
    "logloss": ("binary cross-entropy of the final logit", lambda **kw: LogLoss()),
    "tf": (
        "Twin Focus loss (Eq. 7) on the simple/complex logits plus log loss on the final logit",
        lambda alpha=0.25, c=0.8, gamma=1.0, **kw: TwinFocusLoss(alpha=alpha, c=c, gamma=gamma),
    ),
    "focal": (
        "Focal loss (Lin et al. 2017) of the final logit: −α_t(1−p_t)^γ_f log p_t (--focal-gamma, --focal-alpha)",
        lambda focal_gamma=2.0, focal_alpha=-1.0, **kw: FocalLoss(
            gamma=focal_gamma, alpha=None if focal_alpha is None or focal_alpha == -1 else focal_alpha
        ),
    ),
    "rce": (
        "R-CE (Wang et al. 2021) of the final logit: log loss weighted by the detached p_t^β (--rce-beta)",
        lambda rce_beta=0.25, **kw: ReweightedCE(beta=rce_beta),
    ),
}


def make_objective(name: str, **params) -> Objective:
    if name not in LOSSES:
        raise ConfigError(f"unknown loss '{name}': known losses are {', '.join(sorted(LOSSES))}")
    return LOSSES[name][1](**params)
