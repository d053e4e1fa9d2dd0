"""Each interaction branch, trained on its own, learns what a first-order model cannot.

The synthetic teacher puts most of its signal in centred pairwise and three-way terms (see
tfbench/data/synthetic.py), so one-hot logistic regression reaches only LR_AUC on the 20k-row
split. A model whose DNN stream is reduced to a linear map of the embedding (``mlp_c=[]``: an
``MLP`` with no hidden layer) can go beyond that only through its interaction branch (FM, cross
network, CIN, self-attention); a broken branch leaves it near LR_AUC and fails the test.

Thresholds are midway between LR_AUC and the lowest test AUC measured on the CPU over training
seeds 2023 (the default) and 7. With the branch's output monkeypatched to zero, the same runs
measured between 0.55 and 0.56 (see each test).
"""

import pytest
from sklearn.metrics import roc_auc_score
import torch

from tfbench.config import RunConfig
from tfbench.losses import make_objective
from tfbench.models import build_model
from tfbench.runner import build_for, train_settings
from tfbench.train import fit, resolve_device, seed_everything


LR_AUC = 0.554  # one-hot logistic regression (sklearn, C=1) on the same split; see tests/test_data.py

# Small models; 250-row batches (56 steps per epoch), as the branches start from near-zero products
# of embeddings and learn slowly from 14 steps per epoch.
ALONE = dict(
    synthetic_rows=20_000, embedding_dim=4, mlp_s=[32], mlp_c=[32], batch_size=250, epochs=6,
    dropout=0.0, embedding_regularizer=0.0, learning_rate=1e-2, num_cross_layers=2,
    cin_layers=[8, 8], attention_dim=8, num_heads=2,
)


def midway(measured: float) -> float:
    return (LR_AUC + measured) / 2


def train_branch_alone(model_name, data, **overrides):
    """Train ``model_name`` with its DNN stream reduced to a linear map; return (model, test metrics)."""
    cfg = RunConfig.from_dict({**ALONE, **overrides, "model": model_name})
    seed_everything(cfg.seed)
    model = build_model(cfg.model, data.vocab_sizes, 0, **{**cfg.model_hyperparameters(), "mlp_c": []})
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    result = fit(model, data, objective, train_settings(cfg), resolve_device("cpu"))
    return model, result.test


# model -> lowest measured test AUC over seeds 2023/7. Comments: each seed's AUC, then each seed's
# AUC with the branch's output monkeypatched to zero (a scratch script, not part of the suite).
BRANCHES = {
    "deepfm": 0.776,   # FM: 0.776 / 0.777; fm_second_order -> 0: 0.549 / 0.548
    "dcn": 0.730,      # cross network: 0.730 / 0.737; each CrossLayer's x0·(w·xl) + b -> 0: 0.550 / 0.550
    "dcnv2": 0.748,    # cross network v2: 0.748 / 0.760; each layer's x0 ⊙ (W xl + b) -> 0: 0.552 / 0.548
    "xdeepfm": 0.786,  # CIN: 0.786 / 0.801; CIN output -> 0: 0.547 / 0.551
}
# AutoInt+'s self-attention is left out: trained alone like this it learns the interactions for
# seed 7 (0.743) but not for seed 2023 (0.556, also with 10 epochs or lr 3e-3), so no threshold
# separates a working branch from a broken one.


@pytest.mark.parametrize("name", list(BRANCHES))
def test_interaction_branch_alone_learns_synthetic(name, tiny_synthetic):
    _, test = train_branch_alone(name, tiny_synthetic)
    assert test["AUC"] > midway(BRANCHES[name]), test


def test_linear_dnn_stream_alone_stays_first_order(tiny_synthetic):
    # The premise of the tests above: without its hidden layers the DNN stream of DeepFM, with the
    # FM removed, is first order. WideDeep with mlp_c=[] is exactly that (wide + linear deep).
    # Measured 0.549 / 0.548 (seeds 2023 / 7), as the zeroed branches above.
    _, test = train_branch_alone("widedeep", tiny_synthetic)
    assert test["AUC"] < 0.60, test


def stream_aucs(model, split):
    model.eval()
    with torch.no_grad():
        out = model(torch.as_tensor(split.x_cat), torch.as_tensor(split.x_num))
    return roc_auc_score(split.y, out.simple.numpy()), roc_auc_score(split.y, out.complex.numpy())


def test_tf4ctr_both_streams_learn_synthetic(tiny_synthetic):
    # SER + WSF with the Twin Focus loss: each stream is trained by its own auxiliary term, so each
    # logit alone must rank the test split. Measured (seeds 2023 / 7): z_s 0.716 / 0.734,
    # z_c 0.694 / 0.686. With the complex encoder's (or SER's hard embedding's) output zeroed, z_c
    # is constant (AUC 0.5) while the fused AUC stays 0.730 / 0.747: only the stream check sees it.
    cfg = RunConfig.from_dict(dict(
        synthetic_rows=20_000, embedding_dim=8, mlp_s=[64], mlp_c=[64, 64, 64], batch_size=1000, epochs=4,
        dropout=0.0, embedding_regularizer=0.0, learning_rate=3e-3, ssem="SER", dfm="WSF",
    ))
    assert cfg.resolved_loss == "tf"
    seed_everything(cfg.seed)
    model = build_for(cfg, tiny_synthetic)
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    result = fit(model, tiny_synthetic, objective, train_settings(cfg), resolve_device("cpu"))
    assert result.test["AUC"] > midway(0.740), result.test
    simple, complex_ = stream_aucs(model, tiny_synthetic.test)
    assert simple > midway(0.716), simple
    assert complex_ > midway(0.686), complex_
