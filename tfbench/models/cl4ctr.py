"""CL4CTR (Wang et al., WSDM 2023, "CL4CTR: A Contrastive Learning Framework for CTR Prediction")
on a DNN base model, after the authors' code (cl4ctr/cl4ctr, class ``BasicCL4CTR`` in
model/BasiclLayer.py, trained by main_ml_base.py's ``train``).

CL4CTR is model-agnostic: a base CTR model plus three self-supervised losses on its feature
embedding. Here the base model is a DNN, logit = MLP(``mlp_c``)(flattened embedding), and

  L = L_ctr + α·L_cl + β·L_ali + γ·L_uni      (α = ``cl_weight``, β = ``alignment_weight``,
                                               γ = ``uniformity_weight``)

* L_cl, the contrastive loss of Feature-Level Enhancement: two views of the batch's embedding
  E [B, F, D] are made by independent random masks (inverted dropout, ratio 0.5, the authors'
  ``pratio``); a shared feature-interaction encoder (3 transformer-encoder layers, 1 head,
  feed-forward 128, dropout 0.2) encodes each view, attending over each sample's F field tokens
  (the authors transpose E to [F, B, D] for their sequence-first nn.TransformerEncoder), and a
  projector per view (linear F·D → D) maps it to h¹, h²:   L_cl = (1/B) Σ_b ‖h¹_b − h²_b‖².
  The projector's input rows are the authors' ``.view(-1, F·D)`` of the encoder's [F, B, D]
  output, reproduced as it is: row b holds the F·D consecutive values of that field-major layout,
  which for B > 1 mixes fields of several samples (both views are cut the same way, so h¹_b and
  h²_b still come from the same values of the two views).
* L_ali and L_uni as the authors' training loop computes them (``compute_cl_loss``, their
  "simplified" version, on the batch's embedding E):
      L_ali = mean over sample pairs i < j and fields f of ‖E_if − E_jf‖²
              (computed as Σ_f 2 Σ_i ‖E_if − Ē_f‖² / (F (B − 1)), exactly)
      L_uni = mean over b, f, g of E_bf·E_bg / (‖E_bf‖ ‖E_bg‖ + 1e-4)   (f = g included, as there)
  The authors' pairs come from a fixed ``batch_size``; here they are those of the batch given (the
  same for full batches; a last, smaller batch is not an index error). B = 1 gives L_ali = 0.
* ``cl4ctr_full_table=True``: their "full version" (``compute_cl_loss_all``, commented out in their
  training loop) instead, over the whole embedding table:
      L_ali = Σ_f Σ_{i,j ∈ f} ‖e_i − e_j‖²  /  Σ_f n_f²
      L_uni = Σ_f Σ_{i ∈ f} Σ_{j ∉ f} cos(e_i, e_j)  /  Σ_f n_f (V − n_f)      (V = Σ_f n_f)
  (n_f = the field's vocabulary size; a numeric field's vector is a field of one feature), in
  O(V·D) by exact identities: Σ_{i,j∈f} ‖e_i − e_j‖² = 2 n_f Σ_{i∈f} ‖e_i − ē_f‖², and with
  u = e/‖e‖, s_f = Σ_{i∈f} u_i, S = Σ_f s_f:  Σ_f Σ_{i∈f} Σ_{j∉f} u_i·u_j = ‖S‖² − Σ_f ‖s_f‖².
  Departure there: the cosine is exact, u·v/(‖u‖‖v‖), where the authors divide by ‖u‖‖v‖ + 1e-4;
  their form needs the V × V products (not feasible for large vocabularies), ours does not.

The weighted sum αL_cl + βL_ali + γL_uni is returned as ``ModelOutput.aux`` in training mode only
(None in eval mode), and every objective adds it. Defaults α = 1, β = γ = 0.01: the defaults of
the authors' ``compute_cl_loss(alpha=1.0, beta=0.01)``, where β = γ (their ML-1M script passes
β = γ = 1e-3). Terms of weight 0 are skipped (the same value as the authors' ``alpha == 0`` branch).

Single stream: ``simple`` and ``complex`` are None. Other departures: the DNN base model replaces
their FM/DeepFM bases (their DeepFM_CL4CTR.forward calls an ``lr`` it never builds); its MLP is the
run's (``mlp_c``, ``batch_norm``, ``dropout``; the authors' MLP is Linear → BatchNorm → ReLU →
Dropout, i.e. ours with batch norm); the embedding is the harness's N(0, 1e-4) (theirs N(0, 0.01)),
which makes the +1e-4 in L_uni's denominator dominate the cosine at the start of training, as it
would in their code with so small an embedding. The projectors keep PyTorch's default nn.Linear
initialisation, as there.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.schema import setting
from tfbench.models.layers import MLP, FieldEmbedding, inverted_dropout
from tfbench.models.output import ModelOutput


def contrastive_distance(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """L_cl = mean over the batch of ‖h¹_b − h²_b‖² (h [B, D'])."""
    return (h1 - h2).pow(2).sum(dim=1).mean()


def batch_alignment(emb: torch.Tensor) -> torch.Tensor:
    """The authors' ``compute_alignment_loss``: the mean over sample pairs i < j and fields f of
    ‖E_if − E_jf‖², for the batch's embedding E [B, F, D]; as Σ_f 2 Σ_i ‖E_if − Ē_f‖² / (F (B − 1))."""
    b, f = emb.shape[0], emb.shape[1]
    if b < 2:
        return emb.new_zeros(())
    spread = (emb - emb.mean(dim=0, keepdim=True)).pow(2).sum()
    return 2.0 * spread / (f * (b - 1))


def batch_uniformity(emb: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """The authors' ``compute_uniformity_loss``: the mean over b, f, g (f = g included) of
    E_bf·E_bg / (‖E_bf‖ ‖E_bg‖ + eps), for E [B, F, D]."""
    norms = emb.norm(dim=2)
    frac = torch.bmm(emb, emb.transpose(1, 2))
    return (frac / (norms.unsqueeze(2) * norms.unsqueeze(1) + eps)).mean()


def _field_index(field_sizes: Sequence[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    sizes = torch.as_tensor(list(field_sizes), dtype=torch.int64, device=device)
    return torch.repeat_interleave(torch.arange(len(field_sizes), device=device), sizes), sizes


def feature_alignment(rows: torch.Tensor, field_sizes: Sequence[int]) -> torch.Tensor:
    """L_ali = Σ_f Σ_{i,j∈f} ‖e_i − e_j‖² / Σ_f n_f², for a table ``rows`` [V, D] whose fields are
    consecutive blocks of ``field_sizes`` rows; computed as Σ_f 2 n_f Σ_{i∈f} ‖e_i − ē_f‖²."""
    fid, sizes = _field_index(field_sizes, rows.device)
    n = sizes.to(rows.dtype)
    means = torch.zeros(len(field_sizes), rows.shape[1], dtype=rows.dtype, device=rows.device)
    means = means.index_add(0, fid, rows) / n.unsqueeze(1)
    spread = torch.zeros(len(field_sizes), dtype=rows.dtype, device=rows.device)
    spread = spread.index_add(0, fid, (rows - means[fid]).pow(2).sum(dim=1))  # Σ_{i∈f} ‖e_i − ē_f‖²
    return (2.0 * n * spread).sum() / n.pow(2).sum()


def field_uniformity(rows: torch.Tensor, field_sizes: Sequence[int], eps: float = 1e-12) -> torch.Tensor:
    """L_uni = Σ_f Σ_{i∈f} Σ_{j∉f} cos(e_i, e_j) / Σ_f n_f (V − n_f), as ‖S‖² − Σ_f ‖s_f‖² over the
    unit vectors (s_f = Σ_{i∈f} u_i, S = Σ_f s_f)."""
    fid, sizes = _field_index(field_sizes, rows.device)
    n = sizes.to(rows.dtype)
    u = F.normalize(rows, dim=1, eps=eps)
    s = torch.zeros(len(field_sizes), rows.shape[1], dtype=rows.dtype, device=rows.device).index_add(0, fid, u)
    cross = s.sum(dim=0).pow(2).sum() - s.pow(2).sum()
    total = n.sum()
    return cross / (total * total - n.pow(2).sum())


class FieldEncoder(nn.TransformerEncoder):
    """The contrastive feature-interaction encoder: PyTorch's post-norm ``nn.TransformerEncoder``
    (ReLU, batch-first, ``dropout`` on the attention weights, after the feed-forward's ReLU and on
    both residual branches), built and initialised by it (so its parameters, their initial values
    and state-dict names are PyTorch's), with the forward pass computed here: the same function,
    but dropout masks drawn by the harness's sampler (``inverted_dropout``; on the CPU,
    ``nn.Dropout``'s Bernoulli sampler was a third of a CL4CTR training step) and none of
    ``nn.MultiheadAttention``'s general-case copies.
    """

    def __init__(self, dim: int, num_heads: int, feedforward: int, dropout: float, num_layers: int):
        layer = nn.TransformerEncoderLayer(dim, nhead=num_heads, dim_feedforward=feedforward, dropout=dropout,
                                           batch_first=True)
        super().__init__(layer, num_layers=num_layers, enable_nested_tensor=False)
        self.num_heads, self.p = num_heads, dropout

    def _attention(self, layer: nn.TransformerEncoderLayer, x: torch.Tensor, p: float) -> torch.Tensor:
        b, f, d = x.shape
        attn = layer.self_attn
        q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        h = self.num_heads
        if h > 1:
            q, k, v = (t.reshape(b, f, h, d // h).transpose(1, 2) for t in (q, k, v))
        weights = (torch.matmul(q, k.transpose(-1, -2)) * (d // h) ** -0.5).softmax(dim=-1)
        out = torch.matmul(inverted_dropout(weights, p), v)
        if h > 1:
            out = out.transpose(1, 2).reshape(b, f, d)
        return attn.out_proj(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, F, D] → [B, F, D]
        p = self.p if self.training else 0.0
        for layer in self.layers:
            x = layer.norm1(x + inverted_dropout(self._attention(layer, x, p), p))
            hidden = inverted_dropout(torch.relu(layer.linear1(x)), p)
            x = layer.norm2(x + inverted_dropout(layer.linear2(hidden), p))
        return x


class CL4CTRSettings(ComplexMLPSettings):
    cl_weight: float = setting(1.0, "α: weight of the contrastive loss", ge=0.0)
    alignment_weight: float = setting(0.01, "β: weight of feature alignment", ge=0.0)
    uniformity_weight: float = setting(0.01, "γ: weight of field uniformity", ge=0.0)
    cl4ctr_full_table: bool = setting(False, "Alignment and uniformity over the whole embedding table (the authors' "
                                      "compute_cl_loss_all) instead of the batch", key_omit_default=True)
    # the authors' defaults (cl4ctr/cl4ctr, model/BasiclLayer.py), settable since the settings schemas
    mask_ratio: float = setting(0.5, "Share of field embeddings masked in each contrastive view", ge=0.0, lt=1.0,
                                key_omit_default=True)
    encoder_layers: int = setting(3, "Transformer layers of the contrastive encoder", ge=1, key_omit_default=True)
    encoder_feedforward: int = setting(128, "Feed-forward width of the contrastive encoder", ge=1, key_omit_default=True)
    encoder_dropout: float = setting(0.2, "Dropout of the contrastive encoder", ge=0.0, lt=1.0, key_omit_default=True)


@register("cl4ctr", settings=CL4CTRSettings, description="CL4CTR on a DNN (mlp_c): + contrastive, alignment and uniformity losses in training; single stream")
class CL4CTR(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: CL4CTRSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        mlp_c = settings.mlp_c
        dropout = settings.dropout
        batch_norm = settings.batch_norm
        cl_weight = settings.cl_weight
        alignment_weight = settings.alignment_weight
        uniformity_weight = settings.uniformity_weight
        cl4ctr_full_table = settings.cl4ctr_full_table
        mask_ratio = settings.mask_ratio
        encoder_layers = settings.encoder_layers
        encoder_feedforward = settings.encoder_feedforward
        encoder_dropout = settings.encoder_dropout
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        f = self.embedding.num_fields
        d = f * embedding_dim
        self.dnn = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        self.cl_weight, self.alignment_weight, self.uniformity_weight = cl_weight, alignment_weight, uniformity_weight
        self.mask_ratio = mask_ratio
        self.full_table = bool(cl4ctr_full_table)
        self.field_sizes = [int(v) for v in vocab_sizes] + [1] * num_numeric
        self.encoder = FieldEncoder(embedding_dim, 1, encoder_feedforward, encoder_dropout, encoder_layers)
        self.projector1 = nn.Linear(d, embedding_dim)  # PyTorch's default init, as in the authors' code
        self.projector2 = nn.Linear(d, embedding_dim)

    def table(self) -> torch.Tensor:
        """Every feature's embedding [V, D] (categorical values, then one row per numeric field)."""
        w = self.embedding.table.weight
        return w if self.embedding.numeric is None else torch.cat([w, self.embedding.numeric], dim=0)

    def mask(self, emb: torch.Tensor) -> torch.Tensor:
        """A randomly masked view: each entry dropped with probability ``mask_ratio``, the rest scaled
        by 1/(1 − ratio) (the authors' nn.Dropout)."""
        return inverted_dropout(emb, self.mask_ratio)

    def represent(self, view: torch.Tensor, projector: nn.Module) -> torch.Tensor:
        """projector(rows of the encoded view), the rows cut as the authors' ``.view(-1, F·D)`` of the
        field-major [F, B, D] encoder output."""
        encoded = self.encoder(view)  # [B, F, D], attention over each sample's fields
        return projector(encoded.transpose(0, 1).reshape(view.shape[0], -1))

    def contrastive_loss(self, emb: torch.Tensor) -> torch.Tensor:
        h1 = self.represent(self.mask(emb), self.projector1)
        h2 = self.represent(self.mask(emb), self.projector2)
        return contrastive_distance(h1, h2)

    def auxiliary_loss(self, emb: torch.Tensor) -> torch.Tensor:
        """α·L_cl + β·L_ali + γ·L_uni (terms with weight 0 are skipped), the authors'
        ``compute_cl_loss`` (``compute_cl_loss_all`` with ``cl4ctr_full_table``; exact cosine there)."""
        total = emb.new_zeros(())
        if self.cl_weight > 0:
            total = total + self.cl_weight * self.contrastive_loss(emb)
        if self.alignment_weight > 0:
            total = total + self.alignment_weight * self.alignment_loss(emb)
        if self.uniformity_weight > 0:
            total = total + self.uniformity_weight * self.uniformity_loss(emb)
        return total

    def alignment_loss(self, emb: torch.Tensor) -> torch.Tensor:
        """L_ali: over the batch's embedding ``emb`` (default), or over the table (``cl4ctr_full_table``)."""
        if self.full_table:
            return feature_alignment(self.table(), self.field_sizes)
        return batch_alignment(emb)

    def uniformity_loss(self, emb: torch.Tensor) -> torch.Tensor:
        """L_uni: over the batch's embedding ``emb`` (default), or over the table (``cl4ctr_full_table``)."""
        if self.full_table:
            return field_uniformity(self.table(), self.field_sizes)
        return batch_uniformity(emb)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        emb = self.embedding(x_cat, x_num)
        logit = self.dnn(emb.flatten(1)).squeeze(-1)
        aux = self.auxiliary_loss(emb) if self.training else None
        return ModelOutput(logit, aux=aux)
