"""What every model returns."""

from __future__ import annotations

from typing import NamedTuple

import torch


class ModelOutput(NamedTuple):
    """Logits of one batch, shape [B].

    ``simple`` and ``complex`` are the logits of the simple and the complex encoder of a
    parallel-structured model (z_s and z_c in the paper); single-stream models leave them None.
    """

    logit: torch.Tensor
    simple: torch.Tensor | None = None
    complex: torch.Tensor | None = None
