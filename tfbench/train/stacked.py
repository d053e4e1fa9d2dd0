"""K copies of one model ("members", one per seed) trained as one stacked model.

The members' parameters and buffers are stacked along a new leading dimension
(``torch.func.stack_module_state``) and the model's forward pass is mapped over it with
``torch.func.vmap`` + ``functional_call``. Each member sees its own batch (``x_cat[k]``), so
batch norm normalises over that member's batch and updates that member's running statistics
(its slice of the stacked buffer, in place); dropout and other random draws are drawn
independently per member (``randomness="different"``).

Everything that sequential training does per model is done here per member:

* gradient-norm clipping on each member's own total norm (``clip_grad_norm_`` per member);
* Adam with per-element state, as ``torch.optim.Adam`` (single-tensor path, no weight decay) but
  with one learning rate per member, so that each member's learning-rate decay is its own;
* a member that stops is removed from the stack (:meth:`StackedMembers.keep`): from then on
  it takes no step, its Adam state no longer exists, and its best weights were saved before.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from tfbench.losses import Objective
from tfbench.models import embedding_modules


class MemberLoss(nn.Module):
    """One member's training loss for one batch: the objective plus the regularisers, exactly as
    ``tfbench.train.loop`` computes it (run under ``functional_call`` with that member's tensors)."""

    def __init__(self, model: nn.Module, objective: Objective, embedding_regularizer: float, net_regularizer: float):
        super().__init__()
        self.model = model
        self.objective = objective
        self.embedding_regularizer = embedding_regularizer
        self.net_regularizer = net_regularizer

    def forward(self, x_cat, x_num, y):
        loss = self.objective(self.model(x_cat, x_num), y)
        if self.embedding_regularizer > 0:
            loss = loss + self.embedding_regularizer / 2 * sum(e.squared_norm() for e in embedding_modules(self.model))
        if self.net_regularizer > 0:
            emb = {id(p) for m in embedding_modules(self.model) for p in m.parameters()}
            loss = loss + self.net_regularizer / 2 * sum(
                p.pow(2).sum() for p in self.model.parameters() if id(p) not in emb and p.requires_grad)
        return loss


class StackedMembers:
    """The stacked parameters, buffers and Adam state of the members still training."""

    def __init__(self, models: list[nn.Module], objective: Objective, *, learning_rate: float,
                 embedding_regularizer: float, net_regularizer: float, clip_norm: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if not models:
            raise ValueError("a stacked model needs at least one member")
        self.names = [n for n, p in models[0].named_parameters() if p.requires_grad]
        frozen = [n for n, p in models[0].named_parameters() if not p.requires_grad]
        params, buffers = stack_module_state(models)
        # frozen parameters (none in the models here) travel with the buffers: stacked, never stepped
        self.buffers = {**buffers, **{n: params.pop(n).detach() for n in frozen}}
        self.params = {n: params[n] for n in self.names}
        # the template whose tensors functional_call swaps for the stacked ones (its own are never used)
        self.template = MemberLoss(copy.deepcopy(models[0]), objective, embedding_regularizer, net_regularizer)
        self.clip_norm = clip_norm
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.exp_avg = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.exp_avg_sq = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.steps = 0   # every member still in the stack has taken the same number of steps
        device = next(iter(self.params.values())).device
        self.lr = torch.full((len(models),), float(learning_rate), device=device)

    @property
    def size(self) -> int:
        return int(self.lr.shape[0])

    # ------------------------------------------------------------------ forward passes
    def _loss(self, params, buffers, x_cat, x_num, y):
        return functional_call(self.template, ({"model." + k: v for k, v in params.items()},
                                               {"model." + k: v for k, v in buffers.items()}), (x_cat, x_num, y))

    def losses(self, x_cat: torch.Tensor, x_num: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[K] training losses, member k on batch ``(x_cat[k], x_num[k], y[k])`` (train mode)."""
        self.template.train()
        return vmap(self._loss, randomness="different")(self.params, self.buffers, x_cat, x_num, y)

    def _logits(self, params, buffers, x_cat, x_num):
        return functional_call(self.template.model, (params, buffers), (x_cat, x_num)).logit

    @torch.no_grad()
    def predict(self, x_cat: torch.Tensor, x_num: torch.Tensor) -> torch.Tensor:
        """[K, B] evaluation-mode logits of every member on the same rows."""
        self.template.eval()
        try:
            return vmap(self._logits, in_dims=(0, 0, None, None), randomness="different")(
                self.params, self.buffers, x_cat, x_num)
        finally:
            self.template.train()

    # ------------------------------------------------------------------ one optimizer step
    def step(self, x_cat: torch.Tensor, x_num: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One training step of every member; returns the [K] losses (detached, on the device)."""
        losses = self.losses(x_cat, x_num, y)
        tensors = [self.params[n] for n in self.names]
        # the members are independent, so the gradient of the sum is each member's own gradient
        grads = torch.autograd.grad(losses.sum(), tensors, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(tensors, grads)]
        self._clip(grads)
        self._adam(tensors, grads)
        return losses.detach()

    def _clip(self, grads: list[torch.Tensor]) -> None:
        # clip_grad_norm_ per member: the 2-norm of the member's per-tensor 2-norms
        norms = torch.stack([g.flatten(1).norm(2, dim=1) for g in grads]).norm(2, dim=0)   # [K]
        coef = (self.clip_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))

    @torch.no_grad()
    def _adam(self, tensors: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
        # torch.optim.Adam's single-tensor update, with the step size per member
        self.steps += 1
        bias_correction1 = 1 - self.beta1 ** self.steps
        bias_correction2_sqrt = (1 - self.beta2 ** self.steps) ** 0.5
        step_size = self.lr / bias_correction1
        for name, p, g in zip(self.names, tensors, grads):
            m, v = self.exp_avg[name], self.exp_avg_sq[name]
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (v.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.sub_(m / denom * step_size.view(-1, *([1] * (p.dim() - 1))))

    # ------------------------------------------------------------------ members
    def set_learning_rates(self, lrs: list[float]) -> None:
        self.lr = torch.tensor(lrs, dtype=self.lr.dtype, device=self.lr.device)

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """A copy of member k's parameters and buffers (named as in its own model)."""
        return {n: t[k].detach().clone() for n, t in (*self.params.items(), *self.buffers.items())}

    def keep(self, rows: list[int]) -> None:
        """Keep only these members (stack rows), dropping the others with their Adam state."""
        index = torch.tensor(rows, dtype=torch.long, device=self.lr.device)
        self.params = {n: p.detach().index_select(0, index).requires_grad_(True) for n, p in self.params.items()}
        self.buffers = {n: b.index_select(0, index) for n, b in self.buffers.items()}
        self.exp_avg = {n: t.index_select(0, index) for n, t in self.exp_avg.items()}
        self.exp_avg_sq = {n: t.index_select(0, index) for n, t in self.exp_avg_sq.items()}
        self.lr = self.lr.index_select(0, index)


def load_member_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy a :meth:`StackedMembers.member_state` into the member's own model."""
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    with torch.no_grad():
        for name, value in state.items():
            tensors[name].copy_(value)
