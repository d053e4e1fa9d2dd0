"""One optimizer step, and the arithmetic it runs in (``TrainSettings.precision``).

bf16 runs the training forward pass under ``torch.autocast(device, bfloat16)``: matmuls and
the other ops autocast lists compute in bf16, while the parameters (the master weights), their
gradients and Adam's state stay fp32. The model's outputs are cast back to fp32 before the loss,
which is computed outside autocast, so the loss, the regularisers and the gradient clipping are
fp32 arithmetic. Evaluation always runs in fp32 on the master weights (``loop.predict_logits``):
bf16 logits carry 8 significant bits, and the ties they would make among a split's predictions
would move its AUC.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

from tfbench.models import embedding_modules
from tfbench.models.output import ModelOutput
from tfbench.train.settings import TrainSettings


def forward_context(device: torch.device, precision: str):
    """The context of a training forward pass: bf16 autocast, or nothing at all for fp32 (so
    an fp32 run executes exactly the operations it executed before this setting existed)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def outputs_fp32(out: ModelOutput) -> ModelOutput:
    """``out`` with every floating tensor as fp32."""
    return ModelOutput(*(t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in out))


def make_optimizer(model: nn.Module, learning_rate: float, device: torch.device) -> torch.optim.Adam:
    """Adam on every parameter; on CUDA the fused kernel (one launch for all parameters instead
    of several per tensor; the same update rule)."""
    if device.type == "cuda":
        return torch.optim.Adam(model.parameters(), lr=learning_rate, fused=True)
    return torch.optim.Adam(model.parameters(), lr=learning_rate)


def net_squared_norm(model: nn.Module) -> torch.Tensor:
    # Every trainable parameter outside the embedding tables, biases and norm scales included, as
    # FuxiCTR's ``regularization_loss`` does (it penalises each non-embedding parameter by name).
    emb_params = {id(p) for m in embedding_modules(model) for p in m.parameters()}
    return sum(p.pow(2).sum() for p in model.parameters() if id(p) not in emb_params and p.requires_grad)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, objective, embeddings: list[nn.Module],
               settings: TrainSettings, device: torch.device, x_cat: torch.Tensor, x_num: torch.Tensor,
               y: torch.Tensor, before_loss: Callable[[ModelOutput], None] | None = None) -> torch.Tensor:
    """Forward, loss + (λ/2)·‖E‖² (+ (λ/2)·‖θ‖²), backward, clipping, Adam; returns the loss
    (a device tensor: reading it is the caller's choice, and a host sync)."""
    with forward_context(device, settings.precision):
        out = model(x_cat, x_num)
    if settings.precision != "fp32":
        out = outputs_fp32(out)
    if before_loss is not None:
        before_loss(out)
    loss = objective(out, y)
    if settings.embedding_regularizer > 0:
        loss = loss + settings.embedding_regularizer / 2 * sum(e.squared_norm() for e in embeddings)
    if settings.net_regularizer > 0:
        loss = loss + settings.net_regularizer / 2 * net_squared_norm(model)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
    optimizer.step()
    return loss
