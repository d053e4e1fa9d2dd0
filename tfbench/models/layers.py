"""Shared building blocks: field embedding and the MLP block."""

from __future__ import annotations

import itertools
import math
import sys
from typing import Sequence

import torch
from torch import nn


class FieldEmbedding(nn.Module):
    """Embeds F categorical fields (and K numeric fields) into [B, F+K, dim].

    All categorical fields share one table with per-field offsets, so a batch is embedded by
    a single gather. Numeric field k is embedded as value_k · v_k (FuxiCTR's convention).
    Initialised N(0, 1e-4) like FuxiCTR's embeddings, which the authors' runs use.

    Multi-valued (sequence) fields: ``layout`` gives, per categorical field, ``(width, pooling)``;
    a field with ``pooling`` ("mean" or "sum") occupies ``width`` consecutive columns of
    ``x_cat`` whose index 0 is padding, and its field embedding is the mean (or sum) of the
    embeddings of its non-padding tokens (the zero vector when a row has none). Plain fields
    are ``(1, None)``. The layout does not change the parameters (each field's table has its
    vocabulary's rows either way), so ``build_model`` sets it on every embedding of a model with
    :meth:`set_layout` after building it.
    """

    def __init__(self, vocab_sizes: Sequence[int], dim: int, num_numeric: int = 0, layout=None):
        super().__init__()
        self.dim = dim
        self.vocab_sizes = [int(v) for v in vocab_sizes]
        self.num_fields = len(vocab_sizes) + num_numeric
        self.table = nn.Embedding(int(sum(vocab_sizes)), dim)
        self.numeric = nn.Parameter(torch.empty(num_numeric, dim)) if num_numeric else None
        self.set_layout(layout)
        self.reset_parameters()

    def set_layout(self, layout: Sequence[tuple[int, str | None]] | None) -> None:
        """Set the per-field (width, pooling) layout of ``x_cat`` (None: one column per field)."""
        n = len(self.vocab_sizes)
        if layout is None:
            layout = [(1, None)] * n
        layout = [(int(w), p) for w, p in layout]
        if len(layout) != n:
            raise ValueError(f"layout has {len(layout)} fields, the embedding has {n} categorical fields")
        for j, (w, p) in enumerate(layout):
            if p is None and w != 1:
                raise ValueError(f"field {j}: a plain field takes one column, got width {w}")
            if p is not None and (p not in ("mean", "sum") or w < 1):
                raise ValueError(f"field {j}: sequence pooling must be 'mean' or 'sum' with width >= 1, got {p!r}, {w}")
        field_offsets = [0, *itertools.accumulate(self.vocab_sizes)][:n]
        column_offsets = [off for off, (w, _) in zip(field_offsets, layout) for _ in range(w)]
        device = self.table.weight.device
        self.register_buffer("offsets", torch.tensor(column_offsets, dtype=torch.int64, device=device), persistent=False)
        self.num_columns = len(column_offsets)
        # (start, end, pooling) column segments: runs of plain fields stay as they are, each
        # sequence field is pooled over its columns.
        segments: list[tuple[int, int, str | None]] = []
        col = 0
        for w, p in layout:
            if p is None and segments and segments[-1][2] is None and segments[-1][1] == col:
                segments[-1] = (segments[-1][0], col + 1, None)
            else:
                segments.append((col, col + w, p))
            col += w
        self.segments = segments
        self.pooled = any(p is not None for _, p in layout)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.table.weight, std=1e-4)
        if self.numeric is not None:
            nn.init.normal_(self.numeric, std=1e-4)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> torch.Tensor:
        if x_cat.shape[1] != self.num_columns:
            raise ValueError(f"x_cat has {x_cat.shape[1]} columns, the field layout has {self.num_columns}")
        emb = self.table(x_cat + self.offsets)
        if self.pooled:
            pieces = []
            for start, end, pooling in self.segments:
                e = emb[:, start:end]
                if pooling is not None:
                    mask = (x_cat[:, start:end] != 0).unsqueeze(-1).to(e.dtype)
                    e = (e * mask).sum(dim=1, keepdim=True)
                    if pooling == "mean":
                        e = e / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
                pieces.append(e)
            emb = torch.cat(pieces, dim=1)
        if self.numeric is not None and x_num is not None and x_num.shape[1] > 0:
            emb = torch.cat([emb, x_num.unsqueeze(-1) * self.numeric], dim=1)
        return emb

    def squared_norm(self) -> torch.Tensor:
        """‖E‖² over every embedding parameter (for the λ/2·‖E‖² regulariser)."""
        total = self.table.weight.pow(2).sum()
        if self.numeric is not None:
            total = total + self.numeric.pow(2).sum()
        return total


def bit_keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """A boolean keep-mask, each element kept with probability 1 - p̂, p̂ = round(p·2¹⁵)/2¹⁵,
    independently, from a quarter as many draws as ``torch.rand`` makes (the CPU generator's
    cost, not the comparison, is what a dropout mask costs).

    ``random_()`` on int64 gives 63 uniform bits (``random64() mod 2⁶³``); viewed as four int16,
    the three low ones are uniform on [-2¹⁵, 2¹⁵) and the top one on [0, 2¹⁵). Disjoint bits of a
    uniform number are independent, so each int16 is its own draw, and a per-position threshold
    gives every one the same drop probability p̂ (bf16 training only: an fp32 run keeps its mask)."""
    n = math.prod(shape)
    drops = round(p * 32768)
    low = 2 * drops - 32768         # the three full int16 of each draw; the top one (sign bit 0):
    threshold = torch.tensor([low] * 3 + [drops] if sys.byteorder == "little" else [drops] + [low] * 3,
                             dtype=torch.int16)
    bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_().view(torch.int16).view(-1, 4)
    return (bits >= threshold).view(-1)[:n].view(shape)


def inverted_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """x with each entry zeroed with probability p and the rest scaled by 1/(1 − p): the
    distribution of ``F.dropout(x, p, training=True)``, with the mask drawn as uniform noise ≥ p
    on the CPU (about twice as fast as its Bernoulli sampler; ``nn.Dropout``'s own on CUDA)."""
    if p == 0:
        return x
    if x.is_cuda:
        return nn.functional.dropout(x, p, True)
    if x.dtype == torch.bfloat16:   # under bf16 autocast: a bf16 mask, so the activations stay bf16
        return x * bit_keep_mask(x.shape, p).to(x.dtype).mul_(1.0 / (1.0 - p))
    keep = torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))  # in place: 1/(1 − p) where kept, else 0
    return x * keep


class Dropout(nn.Module):
    """Inverted dropout, the same distribution as ``nn.Dropout``.

    On the CPU, ``nn.Dropout``'s Bernoulli sampler costs more than a 400×400 layer's matmul at
    batch 10,000; thresholding uniform noise draws the same mask about twice as fast.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return inverted_dropout(x, self.p) if self.training else x

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(nn.Sequential):
    """[Linear → BatchNorm? → ReLU → Dropout?] per hidden layer, then an optional linear output.

    Linear weights are Xavier-normal, biases zero (FuxiCTR's reset_parameters).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_units: Sequence[int],
        output_dim: int | None = None,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        layers: list[nn.Module] = []
        dim = input_dim
        for units in hidden_units:
            layers.append(nn.Linear(dim, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(Dropout(dropout))
            dim = units
        if output_dim is not None:
            layers.append(nn.Linear(dim, output_dim))
            dim = output_dim
        super().__init__(*layers)
        self.output_dim = dim
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)


def linear(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    nn.init.xavier_normal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer
