"""Parity of CL4CTR, DLF, the Focal loss and R-CE with the public reference code, in float64.

The fixtures under tests/fixtures/parity/{cl4ctr,dlf,losses}/ were written by
tests/fixtures/parity/generators/gen_cl4ctr_dlf_losses.py, which runs the references (see
tests/fixtures/parity/README_cl4ctr_dlf_losses.md for repositories, commits and settings). Each
test maps the reference's weights onto a tfbench model (or feeds the same logits and labels to a
tfbench loss) and asserts agreement within 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tfbench.losses.core import FocalLoss, ReweightedCE
from tfbench.models import build_model
from tfbench.models.output import ModelOutput

FIXTURES = Path(__file__).parent / "fixtures" / "parity"
TOL = dict(rtol=0.0, atol=1e-5)


def load(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / name) as f:
        return {k: f[k] for k in f.files}


def t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def close(ours: torch.Tensor, ref) -> None:
    torch.testing.assert_close(ours.detach(), t(ref), **TOL)


def copy_(param: torch.Tensor, value: np.ndarray) -> None:
    assert tuple(param.shape) == value.shape, (tuple(param.shape), value.shape)
    with torch.no_grad():
        param.copy_(t(value))


def load_sequential(ours: nn.Sequential, ref: dict[str, np.ndarray], prefix: str) -> None:
    """Copy the reference's Linear/BatchNorm layers under ``prefix`` (numbered as in its
    nn.Sequential, Dropout modules included) onto ours in order."""
    indices = sorted({int(k[len(prefix):].split(".")[0]) for k in ref if k.startswith(prefix)})
    mine = [m for m in ours if isinstance(m, (nn.Linear, nn.BatchNorm1d))]
    assert len(mine) == len(indices), (prefix, len(mine), indices)
    for m, i in zip(mine, indices):
        for name in ("weight", "bias", "running_mean", "running_var"):
            if hasattr(m, name) and getattr(m, name) is not None:
                copy_(getattr(m, name), ref[f"{prefix}{i}.{name}"])


# ---------------------------------------------------------------- CL4CTR (cl4ctr/cl4ctr BasicCL4CTR)
def cl4ctr_model(ref, **kw):
    sizes = [int(v) for v in ref["field_dims"]]
    m = build_model("cl4ctr", sizes, 0, embedding_dim=ref["embedding"].shape[1], mlp_c=(8, 6), dropout=0.0, batch_norm=True,
               encoder_dropout=0.0, mask_ratio=float(ref["pratio"]), **kw).double()
    copy_(m.embedding.table.weight, ref["embedding"])
    enc = {k[len("encoder."):]: t(v) for k, v in ref.items() if k.startswith("encoder.")}
    m.encoder.load_state_dict(enc)
    for p in ("projector1", "projector2"):
        copy_(getattr(m, p).weight, ref[f"{p}.weight"])
        copy_(getattr(m, p).bias, ref[f"{p}.bias"])
    load_sequential(m.dnn, ref, "mlp.")
    masks = iter([])

    def mask(emb):  # the reference's two random masks, as it drew them
        return emb * t(next(masks)) / (1.0 - m.mask_ratio)

    def reset_masks():
        nonlocal masks
        masks = iter([ref["mask1"], ref["mask2"]])

    m.mask = mask
    m.reset_masks = reset_masks
    return m


@pytest.fixture(scope="module")
def cl_ref():
    return load("cl4ctr/cl4ctr_tiny.npz")


def test_cl4ctr_dnn_logits_match_reference_in_eval_and_train(cl_ref):
    m = cl4ctr_model(cl_ref)
    x = torch.as_tensor(cl_ref["x"])
    close(m.embedding(x), cl_ref["emb"])
    m.eval()
    out = m(x)
    close(out.logit, cl_ref["logit_eval"])
    assert out.aux is None
    m.train()
    m.reset_masks()
    close(m(x).logit, cl_ref["logit_train"])


def test_cl4ctr_contrastive_loss_matches_reference(cl_ref):
    m = cl4ctr_model(cl_ref).train()
    m.reset_masks()
    close(m.contrastive_loss(m.embedding(torch.as_tensor(cl_ref["x"]))), cl_ref["cl"])


def test_cl4ctr_batch_alignment_and_uniformity_match_reference(cl_ref):
    m = cl4ctr_model(cl_ref)
    emb = m.embedding(torch.as_tensor(cl_ref["x"]))
    close(m.alignment_loss(emb), cl_ref["ali_batch"])
    close(m.uniformity_loss(emb), cl_ref["uni_batch"])


@pytest.mark.parametrize("alpha,beta,key", [(1.0, 0.01, "total_batch"), (0.5, 0.3, "total_batch_a05_b03")])
def test_cl4ctr_aux_is_the_reference_compute_cl_loss(cl_ref, alpha, beta, key):
    m = cl4ctr_model(cl_ref, cl_weight=alpha, alignment_weight=beta, uniformity_weight=beta).train()
    m.reset_masks()
    close(m(torch.as_tensor(cl_ref["x"])).aux, cl_ref[key])


def test_cl4ctr_full_table_terms_match_reference_compute_all(cl_ref):
    m = cl4ctr_model(cl_ref, cl4ctr_full_table=True)
    emb = m.embedding(torch.as_tensor(cl_ref["x"]))
    close(m.alignment_loss(emb), cl_ref["ali_all"])
    # exact cosine here; the reference's +1e-4 in the denominator is negligible on a table of large norm
    copy_(m.embedding.table.weight, cl_ref["embedding"] * 1e4)
    close(m.uniformity_loss(emb), cl_ref["uni_all_big_table"])


# ---------------------------------------------------------------- DLF (Keffee/DLF DLFLayer, DLF.forward)
def dlf_model(ref):
    sizes = [int(v) for v in ref["field_dims"]]
    m = build_model("dlf", sizes, 0, embedding_dim=ref["embedding"].shape[1], mlp_c=(ref["head.0.weight"].shape[0],), dropout=0.0,
            batch_norm=True, dlf_layers=2, dlf_tokens=ref["layers.0.lcb.weight"].shape[1],
            dlf_rank=ref["layers.0.fmb.weight"].shape[1], dlf_hidden=ref["layers.0.fmb.mlp.0.weight"].shape[0]).double()
    copy_(m.embedding.table.weight, ref["embedding"])
    for i, layer in enumerate(m.layers):
        p = f"layers.{i}."
        copy_(layer.lcb.weight, ref[p + "lcb.weight"])
        for block in ("fmb", "fmb_x0"):
            ours = getattr(layer, block)
            copy_(ours.weight, ref[f"{p}{block}.weight"])
            copy_(ours.norm.weight, ref[f"{p}{block}.norm.weight"])
            copy_(ours.norm.bias, ref[f"{p}{block}.norm.bias"])
            load_sequential(ours.mlp, ref, f"{p}{block}.mlp.")
        copy_(layer.norm.weight, ref[p + "norm.weight"])
        copy_(layer.norm.bias, ref[p + "norm.bias"])
        for ours, theirs in ((layer.residual, "residual_projection"), (layer.x0_projection, "x0_change_projection")):
            assert (ours is None) == (p + theirs + ".weight" not in ref), (i, theirs)
            if ours is not None:
                copy_(ours.weight, ref[p + theirs + ".weight"])
    load_sequential(m.head, ref, "head.")
    return m


@pytest.fixture(scope="module")
def dlf_ref():
    return load("dlf/dlf_tiny.npz")


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_dlf_logits_match_reference(dlf_ref, mode):
    m = dlf_model(dlf_ref)
    m.train(mode == "train")
    close(m(torch.as_tensor(dlf_ref["x"])).logit, dlf_ref[f"logit_{mode}"])


def test_dlf_in_layer_mlps_have_batch_norm_by_default():
    m = build_model("dlf", [5, 7], 0, dropout=0.0, embedding_dim=4, mlp_c=(6,), batch_norm=False, dlf_layers=1, dlf_tokens=2, dlf_rank=2,
            dlf_hidden=3)
    assert any(isinstance(x, nn.BatchNorm1d) for x in m.layers[0].fmb.mlp)
    assert not any(isinstance(x, nn.BatchNorm1d) for x in m.head)


# ---------------------------------------------------------------- losses
@pytest.fixture(scope="module")
def loss_ref():
    return load("losses/focal_rce.npz")


def loss_and_grad(objective, ref):
    z = t(ref["logits"]).requires_grad_(True)
    loss = objective(ModelOutput(z), t(ref["labels"]))
    loss.backward()
    return loss, z.grad


@pytest.mark.parametrize("i", range(5))
def test_focal_loss_matches_torchvision_sigmoid_focal_loss(loss_ref, i):
    alpha, gamma = float(loss_ref[f"focal{i}_alpha"]), float(loss_ref[f"focal{i}_gamma"])
    loss, grad = loss_and_grad(FocalLoss(gamma=gamma, alpha=None if alpha < 0 else alpha), loss_ref)
    close(loss, loss_ref[f"focal{i}_loss"])
    close(grad, loss_ref[f"focal{i}_grad"])


@pytest.mark.parametrize("i", range(4))
def test_rce_matches_denoisingrec_loss_function(loss_ref, i):
    loss, grad = loss_and_grad(ReweightedCE(beta=float(loss_ref[f"rce{i}_beta"])), loss_ref)
    close(loss, loss_ref[f"rce{i}_loss"])
    close(grad, loss_ref[f"rce{i}_grad"])


# ---------------------------------------------------------------- the departure's setting
def test_cl4ctr_full_table_setting_reaches_the_model_and_stays_out_of_default_keys():
    from tfbench.config import RunConfig, run_key

    base = RunConfig(model="cl4ctr")
    assert "cl4ctr_full_table" not in base.effective_dict()
    full = base.replace(cl4ctr_full_table=True)
    assert full.effective_dict()["cl4ctr_full_table"] is True
    assert run_key("fp", base) != run_key("fp", full)
    assert "cl4ctr_full_table" not in RunConfig(model="dnn", cl4ctr_full_table=True).effective_dict()
    assert build_model("cl4ctr", [3, 4], 0, **full.replace(mlp_c=(4,), embedding_dim=4).model_hyperparameters()).full_table
    assert not build_model("cl4ctr", [3, 4], 0, **base.replace(mlp_c=(4,), embedding_dim=4).model_hyperparameters()).full_table
