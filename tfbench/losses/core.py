"""Log loss and the Twin Focus loss (paper Eq. 7 and Eq. 12).

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


class Objective(Protocol):
    name: str

    def __call__(self, out: ModelOutput, y: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class LogLoss:
    """Binary cross-entropy of the final logit (L_ctr)."""

    name: str = "logloss"

    def __call__(self, out: ModelOutput, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(out.logit, y)


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
        return F.binary_cross_entropy_with_logits(out.logit, y) + self.auxiliary(out, y)


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
}


def make_objective(name: str, **params) -> Objective:
    if name not in LOSSES:
        raise ConfigError(f"unknown loss '{name}': known losses are {', '.join(sorted(LOSSES))}")
    return LOSSES[name][1](**params)
