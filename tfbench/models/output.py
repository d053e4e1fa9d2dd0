"""What every model returns."""

from __future__ import annotations

from typing import NamedTuple

import torch


class ModelOutput(NamedTuple):
    """Logits of one batch, shape [B].

    ``simple`` and ``complex`` are the logits of the simple and the complex encoder of a
    parallel-structured model (z_s and z_c in the paper); single-stream models leave them None.

    ``aux`` is a model's own auxiliary loss (a scalar, already weighted), e.g. CL4CTR's
    contrastive, alignment and uniformity terms. Every training objective adds it to its loss
    (``tfbench.losses.core.add_aux``). Models compute it only in training mode; it is None at
    evaluation and for models without one.
    """

    logit: torch.Tensor
    simple: torch.Tensor | None = None
    complex: torch.Tensor | None = None
    aux: torch.Tensor | None = None
