"""Explicit feature-interaction layers of the baseline zoo: the first-order (linear) term, the
FM second-order term, the DCN / DCNv2 cross layers, xDeepFM's compressed interaction network,
AutoInt's interacting (multi-head self-attention) layer, AFN's logarithmic transformation layer
and EDCN's bridge and regulation modules.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.layers import Dropout, FieldEmbedding, inverted_dropout, linear


class FirstOrder(nn.Module):
    """The linear term b + Σ_f w_{f, x_f} (+ Σ_k value_k · w_k for numeric fields) → [B].

    One scalar weight per feature value, held in a ``FieldEmbedding`` of dimension 1 (so it is
    initialised N(0, 1e-4) and falls under the embedding regulariser, like FuxiCTR's
    LogisticRegression layer), and a global bias initialised to 0 (``bias=False`` drops it, for
    models whose other head already has one, like FuxiCTR's xDeepFM).
    """

    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int = 0, bias: bool = True):
        super().__init__()
        self.weights = FieldEmbedding(vocab_sizes, 1, num_numeric)
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> torch.Tensor:
        out = self.weights(x_cat, x_num).sum(dim=(1, 2))
        return out if self.bias is None else out + self.bias


def fm_second_order(emb: torch.Tensor) -> torch.Tensor:
    """Σ_{i<j} <v_i, v_j> for field embeddings [B, F, D] → [B], by the O(F·D) identity
    0.5 · Σ_d ((Σ_i v_id)² − Σ_i v_id²)."""
    square_of_sum = emb.sum(dim=1).pow(2)
    sum_of_square = emb.pow(2).sum(dim=1)
    return 0.5 * (square_of_sum - sum_of_square).sum(dim=-1)


class CrossLayer(nn.Module):
    """One DCN cross layer (Wang et al. 2017): x_{l+1} = x_0 · (x_l^T w) + b + x_l.

    w ∈ R^D (Xavier-normal, as a 1-output linear map without bias), b ∈ R^D (zeros).
    ``residual=False`` drops the + x_l (FuxiCTR's CrossInteraction, which its EDCN stacks).
    """

    def __init__(self, dim: int, residual: bool = True):
        super().__init__()
        self.weight = nn.Linear(dim, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(dim))
        self.residual = residual
        nn.init.xavier_normal_(self.weight.weight)

    def forward(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        out = x0 * self.weight(xl) + self.bias
        return out + xl if self.residual else out


class CrossLayerV2(nn.Module):
    """One full-rank DCNv2 cross layer (Wang et al. 2021): x_{l+1} = x_0 ⊙ (W x_l + b) + x_l.

    W ∈ R^{D×D} Xavier-normal, b zeros.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        nn.init.xavier_normal_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        return x0 * self.linear(xl) + xl


class CrossNetwork(nn.Module):
    """A stack of cross layers applied to x_0 ([B, D] → [B, D]); ``version`` 1 = DCN, 2 = DCNv2,
    or ``layer``: another cross layer class, called as layer(x_0, x_l) (GDCN's gated layer)."""

    def __init__(self, dim: int, num_layers: int, version: int = 1, layer: type[nn.Module] | None = None):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a cross network needs at least one layer, got {num_layers}")
        layer = layer or {1: CrossLayer, 2: CrossLayerV2}[version]
        self.layers = nn.ModuleList([layer(dim) for _ in range(num_layers)])
        self.output_dim = dim

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = layer(x0, x)
        return x


class CompressedInteractionNetwork(nn.Module):
    """xDeepFM's CIN (Lian et al. 2018) on field embeddings X^0 ∈ R^{m×D} → [B, Σ_k H_k].

    Layer k computes H_k feature maps from the outer products of the previous layer's maps and
    the input fields, taken per embedding dimension d, and compresses them with W^{k,h}:

        X^k_{h,d} = Σ_{i<H_{k-1}} Σ_{j<m} W^{k,h}_{i,j} · X^{k-1}_{i,d} · X^0_{j,d}  (+ b^k_h)

    (the paper's eq. 6; FuxiCTR's 1×1 Conv1d adds the bias b^k_h). ``layers[k].weight`` is
    W^k reshaped to [H_k, H_{k-1}·m] with (i, j) flattened as i·m + j. Each layer's maps are
    sum-pooled over d and the pools of all layers concatenated (the paper's p^k; every layer
    feeds both the output and the next layer, FuxiCTR's form without the paper's optional
    split-half). Identity activation, as in the paper and FuxiCTR.
    """

    def __init__(self, num_fields: int, layer_sizes: Sequence[int]):
        super().__init__()
        if not layer_sizes or any(h < 1 for h in layer_sizes):
            raise ValueError(f"a CIN needs at least one layer of positive size, got {list(layer_sizes)}")
        self.num_fields = num_fields
        sizes = [num_fields, *layer_sizes]
        # A 1×1 convolution over the H_{k-1}·m outer-product channels is a linear map per d.
        self.layers = nn.ModuleList([linear(sizes[k] * num_fields, sizes[k + 1]) for k in range(len(layer_sizes))])
        self.output_dim = sum(layer_sizes)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        b, m, d = x0.shape
        xk = x0
        pooled = []
        for layer in self.layers:
            z = (xk.unsqueeze(2) * x0.unsqueeze(1)).reshape(b, -1, d)  # [B, H_{k-1}·m, D]
            xk = torch.matmul(layer.weight, z) + layer.bias.unsqueeze(-1)  # [B, H_k, D]
            pooled.append(xk.sum(dim=-1))
        return torch.cat(pooled, dim=1)


class InteractingLayer(nn.Module):
    """One AutoInt interacting layer (Song et al. 2019): multi-head self-attention over fields.

    For each head h (head size A/H), with e_m the m-th field's input row:
        q_m = W_Q^h e_m,  k_m = W_K^h e_m,  v_m = W_V^h e_m       (no biases)
        a_{m,k} = softmax_k(<q_m, k_k> [/ sqrt(A/H) if ``scale``])
        ẽ^h_m = Σ_k a_{m,k} v_k
    and the output is ReLU([ẽ^1_m ‖ … ‖ ẽ^H_m] + W_res e_m), W_res only where the input width
    differs from A (identity otherwise), as FuxiCTR's MultiHeadSelfAttention does; the paper
    always projects. With ``layer_norm`` a LayerNorm over the A dimensions of each field comes
    between the residual sum and the ReLU (FuxiCTR's order). ``dropout`` acts on the attention
    weights (FuxiCTR's net_dropout); FuxiCTR's default is unscaled scores (use_scale=False) and no
    layer norm.
    """

    def __init__(self, input_dim: int, attention_dim: int, num_heads: int, dropout: float = 0.0,
                 scale: bool = False, layer_norm: bool = False):
        super().__init__()
        if num_heads < 1 or attention_dim % num_heads:
            raise ValueError(f"attention_dim={attention_dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = attention_dim // num_heads
        self.scale = scale
        self.query = nn.Linear(input_dim, attention_dim, bias=False)
        self.key = nn.Linear(input_dim, attention_dim, bias=False)
        self.value = nn.Linear(input_dim, attention_dim, bias=False)
        self.residual = nn.Linear(input_dim, attention_dim, bias=False) if input_dim != attention_dim else None
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
        self.dropout = Dropout(dropout)
        self.layer_norm = nn.LayerNorm(attention_dim) if layer_norm else None
        self.output_dim = attention_dim

    def _projections(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(q, k, v) as [B, H, F, A/H] views and the residual branch [B, F, A]: one matmul with the
        weights of W_Q, W_K, W_V (and W_res) stacked, the same values as four separate ones."""
        b, f, _ = x.shape
        weights = [self.query.weight, self.key.weight, self.value.weight]
        if self.residual is not None:
            weights.append(self.residual.weight)
        projected = torch.matmul(x, torch.cat(weights).t())  # [B, F, 3A (+ A)]
        # split, not slicing: the backward of a split is one concatenation, that of each slice a
        # zero tensor of the whole projection
        parts = projected.split(self.output_dim, dim=-1)
        q, k, v = (t.view(b, f, self.num_heads, self.head_dim).transpose(1, 2) for t in parts[:3])
        return q, k, v, (x if self.residual is None else parts[3])

    def _scale(self) -> float:
        return self.head_dim**-0.5 if self.scale else 1.0

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights a ([B, H, F, F]; rows sum to 1), before dropout."""
        q, k, _, _ = self._projections(x)
        return (torch.matmul(q, k.transpose(-1, -2)) * self._scale()).softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f, _ = x.shape
        q, k, v, residual = self._projections(x)
        p = self.dropout.p if self.training else 0.0
        if p > 0:
            attn = (torch.matmul(q, k.transpose(-1, -2)) * self._scale()).softmax(dim=-1)
            out = torch.matmul(inverted_dropout(attn, p), v)  # [B, H, F, A/H]
        else:
            # the same function in one fused kernel (about twice as fast on the CPU); it has no
            # dropout of ours, so it serves where none applies
            out = nn.functional.scaled_dot_product_attention(q, k, v, scale=self._scale())
        out = out.transpose(1, 2).reshape(b, f, -1) + residual
        if self.layer_norm is not None:
            out = self.layer_norm(out)
        return torch.relu(out)


class LogarithmicTransform(nn.Module):
    """AFN's logarithmic transformation layer (Cheng et al. 2020) on embeddings [B, F, D] → [B, L·D].

    Logarithmic neuron l raises the fields to learned powers, per embedding dimension d:
        y_{l,d} = exp(Σ_f w_{l,f} · ln|e_{f,d}|) = Π_f |e_{f,d}|^{w_{l,f}}
    |e| is clamped to at least ``min_abs`` first (1e-5, FuxiCTR's choice; the paper suggests 1e-7).
    With ``batch_norm`` (FuxiCTR's AFN always has it) a BatchNorm over fields normalises ln|e|
    before the weights and a BatchNorm over neurons normalises y after the exp. W ∈ R^{L×F} is
    Xavier-normal, without bias.
    """

    def __init__(self, num_fields: int, num_neurons: int, batch_norm: bool = True, min_abs: float = 1e-5):
        super().__init__()
        self.weight = nn.Linear(num_fields, num_neurons, bias=False)
        nn.init.xavier_normal_(self.weight.weight)
        self.min_abs = min_abs
        self.log_bn = nn.BatchNorm1d(num_fields) if batch_norm else None
        self.exp_bn = nn.BatchNorm1d(num_neurons) if batch_norm else None
        self.num_neurons = num_neurons

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return self.neurons(emb).transpose(1, 2).flatten(1)  # [B, L·D], neuron-major

    def neurons(self, emb: torch.Tensor) -> torch.Tensor:
        """y as [B, D, L] (neurons last, contiguous): ``forward``'s values before the neuron-major
        flattening, which copies the whole (large) output; ``AFNPlus`` reads this layout directly."""
        log_emb = torch.log(emb.abs().clamp_min(self.min_abs))  # [B, F, D]
        if self.log_bn is not None:
            log_emb = self.log_bn(log_emb)
        y = torch.exp(self.weight(log_emb.transpose(1, 2)))  # [B, D, L], neurons last
        if self.exp_bn is not None:
            # The same per-neuron statistics over (B, D) as BatchNorm1d on [B, L, D], computed on
            # the contiguous [B·D, L] view: on the CPU, BatchNorm over a strided channel axis
            # took half of an AFN+ training step at 1,000 neurons.
            b, d, n = y.shape
            y = self.exp_bn(y.reshape(b * d, n)).view(b, d, n)
        return y


BRIDGE_CHOICES = ("hadamard_product", "pointwise_addition", "concatenation", "attention_pooling")


class BridgeModule(nn.Module):
    """EDCN's bridge (Chen et al. 2021) fusing the cross and deep hidden vectors x, h ∈ R^d:

        hadamard_product    f = x ⊙ h
        pointwise_addition  f = x + h
        concatenation       f = ReLU(W [x ‖ h] + b)
        attention_pooling   f = a_x ⊙ x + a_h ⊙ h,  a_· = softmax(W2_· ReLU(W1_· · + b1_·))

    Attention pooling has one attention network per stream, as in the paper (FuxiCTR's version
    creates two but applies the first to both streams).
    """

    def __init__(self, dim: int, kind: str = "hadamard_product"):
        super().__init__()
        if kind not in BRIDGE_CHOICES:
            raise ValueError(f"unknown bridge '{kind}': one of {', '.join(BRIDGE_CHOICES)}")
        self.kind = kind
        if kind == "concatenation":
            self.concat = nn.Sequential(linear(2 * dim, dim), nn.ReLU())
        elif kind == "attention_pooling":
            def attention() -> nn.Sequential:
                out = nn.Linear(dim, dim, bias=False)
                nn.init.xavier_normal_(out.weight)
                return nn.Sequential(linear(dim, dim), nn.ReLU(), out, nn.Softmax(dim=-1))

            self.attn_cross, self.attn_deep = attention(), attention()

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "hadamard_product":
            return x * h
        if self.kind == "pointwise_addition":
            return x + h
        if self.kind == "concatenation":
            return self.concat(torch.cat([x, h], dim=-1))
        return self.attn_cross(x) * x + self.attn_deep(h) * h

    def extra_repr(self) -> str:
        return self.kind


class RegulationModule(nn.Module):
    """EDCN's regulation module: field-wise gates splitting one input [B, F·D] into a cross-stream
    and a deep-stream input.

        g^s = softmax_f(w^s / τ) ∈ R^F  (s ∈ {cross, deep}),  out^s_{f,d} = g^s_f · x_{f,d}

    w^s start at 1 (uniform gates 1/F, as in FuxiCTR); with ``batch_norm`` each output then goes
    through its own BatchNorm (FuxiCTR's use_bn = the model's batch_norm).
    """

    def __init__(self, num_fields: int, dim: int, tau: float = 1.0, batch_norm: bool = False):
        super().__init__()
        if not tau > 0:
            raise ValueError(f"the regulation temperature must be > 0, got {tau}")
        self.dim, self.tau = dim, tau
        self.cross_logits = nn.Parameter(torch.ones(num_fields))
        self.deep_logits = nn.Parameter(torch.ones(num_fields))
        self.bn_cross = nn.BatchNorm1d(num_fields * dim) if batch_norm else None
        self.bn_deep = nn.BatchNorm1d(num_fields * dim) if batch_norm else None

    def gates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(g^cross, g^deep), each [F], summing to 1."""
        return (self.cross_logits / self.tau).softmax(-1), (self.deep_logits / self.tau).softmax(-1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g_cross, g_deep = (g.repeat_interleave(self.dim) for g in self.gates())
        out_cross, out_deep = x * g_cross, x * g_deep
        if self.bn_cross is not None:
            out_cross, out_deep = self.bn_cross(out_cross), self.bn_deep(out_deep)
        return out_cross, out_deep
