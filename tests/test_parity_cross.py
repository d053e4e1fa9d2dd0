"""Logit-for-logit parity of dcn, dcnv2, edcn, autoint+, afn+ and eulernet with FuxiCTR 2.3.10's
model_zoo classes (DCN, DCNv2, EDCN, AutoInt, AFN, EulerNet).

Each fixture under tests/fixtures/parity/fuxictr_cross/ holds a tiny reference model's parameters,
an input batch, the reference's logits in eval and in train mode (dropout 0, BatchNorm on batch
statistics), their log loss on fixed labels, and the parts that the reference's output layer sums
(see tests/fixtures/parity/README_cross.md; generator: tests/fixtures/parity/generators/gen_cross.py,
run in the lab, never here). Each test builds our model with the same settings, maps the
reference's weights onto it (the ``map_*`` functions below) and compares in float64.

How our two streams correspond to the reference's parts (fc = the reference's output layer,
"w_a·a" = the slice of fc's weight on the part a of its input, b = fc's bias):
  dcn, dcnv2  z_s = w_x·x_L + b,  z_c = w_h·h_L          (fuxictr_head: b/2 each)
  edcn        z_s = w_c·c_L + b,  z_c = w_h·h_L + w_f·f_L (fuxictr_head: b/2 each)
  autoint+    z_s = fc(attention output),  z_c = the DNN's output (the reference sums the same two)
  afn+        z_s = a·z_afn + c,  z_c = b·z_dnn           (fc = Linear(2, 1) with weight (a, b),
                                                           bias c; fuxictr_head: c/2 each)
  eulernet    single stream: logit = reg(r_L) + reg(p_L), as the reference
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tfbench.models import build_model, own_settings

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "fuxictr_cross"
TOL = 1e-5


def load(name: str) -> dict:
    with np.load(FIXTURES / f"{name}.npz") as z:
        data = {k: z[k] for k in z.files}
    data["config"] = json.loads(str(data["config"]))
    data["sd"] = {k[3:]: torch.from_numpy(np.array(v)) for k, v in data.items() if k.startswith("sd/")}
    return data


def rename(ref: dict, rules: list[tuple[str, str]]) -> dict:
    """The reference's tensors whose key starts with a rule's prefix, under our prefix
    (BatchNorm's num_batches_tracked included; every reference key must be claimed)."""
    out, claimed = {}, set()
    for key, value in ref.items():
        for src, dst in rules:
            if key.startswith(src):
                out[dst + key[len(src):]] = value
                claimed.add(key)
                break
    return out, claimed


def embedding_table(ref: dict, prefix: str, fields: int) -> torch.Tensor:
    return torch.cat([ref[f"{prefix}.embedding_layer.embedding_layers.f{i}.weight"] for i in range(fields)])


def finish(ours: dict, claimed: set, ref: dict, extra: set = frozenset()) -> dict:
    unclaimed = set(ref) - claimed - set(extra)
    unclaimed = {k for k in unclaimed if not k.startswith("embedding_layer")}
    assert not unclaimed, f"reference tensors not mapped: {sorted(unclaimed)}"
    return ours


def map_dcn(ref: dict, cfg: dict, fields: int, fuxictr_head: bool) -> dict:
    dnn = "dnn.mlp." if "dnn.mlp.0.weight" in ref else "parallel_dnn.mlp."
    cross = "crossnet.cross_net." if any(k.startswith("crossnet.cross_net.") for k in ref) else "crossnet.cross_layers."
    rules = [(dnn, "dnn.")]
    if cross == "crossnet.cross_net.":   # CrossNet: CrossInteraction(weight: Linear(d, 1, no bias), bias)
        rules.append((cross, "cross.layers."))
    out, claimed = rename(ref, rules)
    if cross == "crossnet.cross_layers.":  # CrossNetV2: Linear(d, d) per layer
        for key, value in ref.items():
            if key.startswith(cross):
                i, what = key[len(cross):].split(".")
                out[f"cross.layers.{i}.linear.{what}"] = value
                claimed.add(key)
    out["embedding.table.weight"] = embedding_table(ref, "embedding_layer", fields)
    w, b = ref["fc.weight"], ref["fc.bias"]
    d = out["embedding.table.weight"].shape[1] * fields
    if fuxictr_head:
        out["fc.weight"], out["fc.bias"] = w, b
    else:
        n_dnn = len({k.split(".")[1] for k in out if k.startswith("dnn.")})
        last = max(int(k.split(".")[1]) for k in out if k.startswith("dnn.")) + 2  # after the last ReLU
        out["cross_head.weight"], out["cross_head.bias"] = w[:, :d], b
        out[f"dnn.{last}.weight"], out[f"dnn.{last}.bias"] = w[:, d:], torch.zeros_like(b)
        assert n_dnn
    return finish(out, claimed | {"fc.weight", "fc.bias"}, ref)


def map_edcn(ref: dict, cfg: dict, fields: int, fuxictr_head: bool) -> dict:
    out, claimed = rename(ref, [("dense_layers.", "deep_layers."), ("cross_layers.", "cross_layers."),
                                ("bridge_modules.", "bridges.")])
    out = {k.replace(".mlp.0.", ".0.").replace(".concat_pooling.", ".concat."): v for k, v in out.items()}
    for key, value in ref.items():
        if key.startswith("regulation_modules."):
            i, rest = key[len("regulation_modules."):].split(".", 1)
            rest = {"g1": "cross_logits", "g2": "deep_logits"}.get(rest, rest)
            rest = rest.replace("bn1.", "bn_cross.").replace("bn2.", "bn_deep.")
            out[f"regulations.{i}.{rest}"] = value
            claimed.add(key)
    out["embedding.table.weight"] = embedding_table(ref, "embedding_layer", fields)
    d = out["embedding.table.weight"].shape[1] * fields
    w, b = ref["fc.weight"], ref["fc.bias"]
    if fuxictr_head:
        out["fc.weight"], out["fc.bias"] = w, b
    else:
        out["cross_head.weight"], out["cross_head.bias"] = w[:, :d], b
        out["deep_head.weight"], out["deep_head.bias"] = w[:, d:2 * d], torch.zeros_like(b)
        out["bridge_head.weight"] = w[:, 2 * d:]
    return finish(out, claimed | {"fc.weight", "fc.bias"}, ref)


def map_autoint(ref: dict, cfg: dict, fields: int, fuxictr_head: bool) -> dict:
    out, claimed = rename(ref, [("dnn.mlp.", "dnn."), ("fc.", "attention_head.")])
    for key, value in ref.items():
        if key.startswith("self_attention."):
            i, rest = key[len("self_attention."):].split(".", 1)
            rest = {"W_q.weight": "query.weight", "W_k.weight": "key.weight", "W_v.weight": "value.weight",
                    "W_res.weight": "residual.weight"}.get(rest, rest)
            out[f"attention.{i}.{rest}"] = value
            claimed.add(key)
    out["embedding.table.weight"] = embedding_table(ref, "embedding_layer", fields)
    return finish(out, claimed, ref)


def map_afn(ref: dict, cfg: dict, fields: int, fuxictr_head: bool) -> dict:
    out, claimed = rename(ref, [("dense_layer.mlp.", "afn_mlp."), ("dnn.mlp.", "dnn."),
                                ("coefficient_W.", "log_transform.weight."),
                                ("log_batch_norm.", "log_transform.log_bn."),
                                ("exp_batch_norm.", "log_transform.exp_bn.")])
    out["embedding.table.weight"] = embedding_table(ref, "embedding_layer", fields)
    out["dnn_embedding.table.weight"] = embedding_table(ref, "embedding_layer2", fields)
    (a, b_), c = ref["fc.weight"][0], ref["fc.bias"]
    if fuxictr_head:
        out["fc.weight"], out["fc.bias"] = ref["fc.weight"], c
    else:  # fold fc = (a, b; c) into the two output layers: z_s = a·z_afn + c, z_c = b·z_dnn
        for prefix, scale, shift in (("afn_mlp.", a, c), ("dnn.", b_, 0.0)):
            last = max(int(k.split(".")[1]) for k in out if k.startswith(prefix))
            out[f"{prefix}{last}.weight"] = out[f"{prefix}{last}.weight"] * scale
            out[f"{prefix}{last}.bias"] = out[f"{prefix}{last}.bias"] * scale + shift
    return finish(out, claimed | {"fc.weight", "fc.bias"}, ref)


def map_eulernet(ref: dict, cfg: dict, fields: int, fuxictr_head: bool) -> dict:
    out, claimed = {}, set()
    for key, value in ref.items():
        if key.startswith("Euler_interaction_layers."):
            i, rest = key[len("Euler_interaction_layers."):].split(".", 1)
            if rest in ("bias_lam", "bias_theta"):
                value = value[0]                       # [1, D, F_out] → [D, F_out]
            rest = {"inter_orders": "orders"}.get(rest, rest).replace("im.", "implicit.")
            if rest.startswith("norm_") and not cfg["layer_norm"]:
                claimed.add(key)                       # built but unused by the reference
                continue
            out[f"layers.{i}.{rest}"] = value
            claimed.add(key)
    out["mu"] = ref["mu"][0]                           # [1, F, 1] → [F, 1]
    out["head.weight"], out["head.bias"] = ref["reg.weight"], ref["reg.bias"]
    out["embedding.table.weight"] = embedding_table(ref, "embedding_layer", fields)
    return finish(out, claimed | {"mu", "reg.weight", "reg.bias"}, ref)


def build(model: str, cfg: dict, vocab: list[int], fuxictr_head: bool):
    hp = dict(embedding_dim=cfg["embedding_dim"], dropout=0.0)
    if model in ("dcn", "dcnv2"):
        hp.update(mlp_c=cfg.get("dnn_hidden_units") or cfg["parallel_dnn_hidden_units"],
                  batch_norm=cfg["batch_norm"], num_cross_layers=cfg["num_cross_layers"], fuxictr_head=fuxictr_head)
    elif model == "edcn":
        hp.update(batch_norm=cfg["batch_norm"], num_cross_layers=cfg["num_cross_layers"],
                  edcn_bridge=cfg["bridge_type"], edcn_tau=float(cfg["temperature"]), fuxictr_head=fuxictr_head)
    elif model == "autoint+":
        hp.update(mlp_c=cfg["dnn_hidden_units"], batch_norm=cfg["batch_norm"], attention_layers=cfg["attention_layers"],
                  num_heads=cfg["num_heads"], attention_dim=cfg["attention_dim"], attention_scale=cfg["use_scale"],
                  attention_layer_norm=cfg["layer_norm"])
    elif model == "afn+":
        hp.update(mlp_c=cfg["dnn_hidden_units"], batch_norm=cfg["batch_norm"], afn_log_neurons=cfg["logarithmic_neurons"],
                  afn_hidden_units=cfg["afn_hidden_units"], afn_dropout=0.0, fuxictr_head=fuxictr_head)
    elif model == "eulernet":
        assert cfg["layer_norm"], "our EulerNet always has its LayerNorms (FuxiCTR's Frappe config)"
        hp.update(euler_orders=cfg["shape"])
    return build_model(model, vocab, 0, **hp).double()


MAPPERS = {"dcn": map_dcn, "dcnv2": map_dcn, "edcn": map_edcn, "autoint+": map_autoint, "afn+": map_afn,
           "eulernet": map_eulernet}


def expected_streams(model: str, parts: dict, fuxictr_head: bool):
    """(z_s, z_c) that our streams must equal, from the reference's parts (module docstring)."""
    if model == "eulernet":
        return None
    if model == "autoint+":
        return parts["attention"], parts["dnn"]
    simple = {"dcn": "cross", "dcnv2": "cross", "edcn": "cross", "afn+": "afn"}[model]
    complex_ = [k for k in parts if k not in (simple, "bias")]
    bias = parts["bias"]
    s_bias, c_bias = (bias / 2, bias / 2) if fuxictr_head else (bias, 0.0)
    return parts[simple] + s_bias, sum(parts[k] for k in complex_) + c_bias


CASES = [
    ("dcn", "dcn"), ("dcn_bn", "dcn"), ("dcnv2_bn", "dcnv2"),
    ("edcn", "edcn"), ("edcn_bn", "edcn"), ("edcn_concat", "edcn"),
    ("autoint", "autoint+"), ("autoint_ln_bn", "autoint+"),
    ("afn", "afn+"), ("afn_bn", "afn+"),
    ("eulernet", "eulernet"), ("eulernet_2l", "eulernet"),
]
HEADED = ("dcn", "dcnv2", "edcn", "afn+")


def params():
    for fixture, model in CASES:
        yield pytest.param(fixture, model, False, id=f"{fixture}")
        if model in HEADED:
            yield pytest.param(fixture, model, True, id=f"{fixture}-fuxictr_head")


def max_logit_diff(fixture: str, model: str, fuxictr_head: bool) -> dict:
    """Largest |ours − reference| per compared quantity, eval and train mode."""
    data = load(fixture)
    vocab = [int(v) for v in data["vocab"]]
    ours = build(model, data["config"], vocab, fuxictr_head)
    state = MAPPERS[model](data["sd"], data["config"], len(vocab), fuxictr_head)
    ours.load_state_dict({k: v.to(ours.state_dict()[k].dtype) for k, v in state.items()}, strict=True)
    x = torch.from_numpy(data["x"]).long()
    y = torch.from_numpy(data["y"]).double()
    diffs = {}
    for mode in ("eval", "train"):
        ours.load_state_dict({k: v.to(ours.state_dict()[k].dtype) for k, v in state.items()}, strict=True)
        ours.train(mode == "train")
        with torch.no_grad():
            out = ours(x, None)
        ref_logit = torch.from_numpy(data[f"logit_{mode}"])
        diffs[f"logit_{mode}"] = (out.logit - ref_logit).abs().max().item()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out.logit, y).item()
        diffs[f"loss_{mode}"] = abs(loss - float(data[f"loss_{mode}"]))
        parts = {k.split("/", 1)[1]: torch.from_numpy(v) for k, v in data.items() if k.startswith(f"part_{mode}/")}
        streams = expected_streams(model, parts, fuxictr_head)
        if streams is None:
            assert out.simple is None and out.complex is None
        else:
            diffs[f"z_s_{mode}"] = (out.simple - streams[0]).abs().max().item()
            diffs[f"z_c_{mode}"] = (out.complex - streams[1]).abs().max().item()
    return diffs


@pytest.mark.parametrize("fixture, model, fuxictr_head", list(params()))
def test_parity_with_fuxictr(fixture, model, fuxictr_head):
    diffs = max_logit_diff(fixture, model, fuxictr_head)
    bad = {k: v for k, v in diffs.items() if not v <= TOL}
    assert not bad, f"{fixture} ({model}, fuxictr_head={fuxictr_head}) differs from FuxiCTR: {bad}"


def test_fixtures_are_nontrivial():
    """The fixtures' logits vary across the batch and eval differs from train where BatchNorm is used."""
    for fixture, _model in CASES:
        data = load(fixture)
        assert np.ptp(data["logit_eval"]) > 1e-2, fixture
        if data["config"].get("batch_norm"):
            assert np.abs(data["logit_eval"] - data["logit_train"]).max() > 1e-3, fixture


def test_fuxictr_head_is_keyed_only_where_set_and_read():
    from tfbench.config import RunConfig, run_key

    for model in ("dcn", "dcnv2", "edcn", "afn+"):
        base = RunConfig(model=model)
        assert "fuxictr_head" not in base.effective_dict()          # default: earlier keys stay valid
        assert run_key("fp", base) != run_key("fp", base.replace(fuxictr_head=True))
        assert base.replace(fuxictr_head=True).model_hyperparameters()["fuxictr_head"] is True
    for model in ("autoint+", "eulernet", "deepfm", "tf4ctr"):
        base = RunConfig(model=model)
        assert run_key("fp", base) == run_key("fp", base.replace(fuxictr_head=True))


@pytest.mark.parametrize("model", HEADED)
def test_fuxictr_head_streams_sum_to_the_logit(model):
    torch.manual_seed(0)
    kw = dict(embedding_dim=4, mlp_c=[6], afn_log_neurons=3, afn_hidden_units=[5], num_cross_layers=2)
    m = build_model(model, [5, 7, 6], 0, **own_settings(model, kw), fuxictr_head=True).eval()
    out = m(torch.tensor([[0, 1, 2], [4, 6, 5]]), None)
    torch.testing.assert_close(out.simple + out.complex, out.logit)
