"""Logit-for-logit parity of GDCN (tfbench.models.gdcn.GDCN) with FuxiCTR 2.3.10's model_zoo class
GDCNP (model_zoo/GDCN/src/GDCN.py, the paper's parallel GDCN-P).

Each fixture under tests/fixtures/parity/fuxictr_cross/ (gdcn, gdcn_bn) holds a tiny reference
model's parameters, an input batch, the reference's logits in eval and in train mode (dropout 0,
BatchNorm on batch statistics), their log loss on fixed labels, and the parts that the
reference's output layer sums (see tests/fixtures/parity/README_cross.md; generator:
tests/fixtures/parity/generators/gen_gdcn.py, run in the lab, never here). Each test builds our
model through the registry (``build_model("gdcn", …)``) with the same settings, maps the reference's
weights onto it (``map_gdcn``) and compares in float64.

Our two streams and the reference's parts (fc = the reference's output layer over [c_L ‖ h_L],
w_c, w_h its slices, b its bias):
  z_s = w_c·c_L + b,  z_c = w_h·h_L          (fuxictr_head: b/2 each)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tfbench.errors import ConfigError
from tfbench.models import build_model

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "fuxictr_cross"
TOL = 1e-5
CASES = ("gdcn", "gdcn_bn")


def load(name: str) -> dict:
    with np.load(FIXTURES / f"{name}.npz") as z:
        data = {k: z[k] for k in z.files}
    data["config"] = json.loads(str(data["config"]))
    data["sd"] = {k[3:]: torch.from_numpy(np.array(v)) for k, v in data.items() if k.startswith("sd/")}
    return data


def map_gdcn(ref: dict, fields: int, fuxictr_head: bool) -> dict:
    """The reference's state_dict under our names; every reference tensor must be claimed.

    Reference: embedding_layer.embedding_layer.embedding_layers.f<i>.weight (one table per field),
    cross_net.w.<l>.weight (W_l), cross_net.b.<l> (b_l), cross_net.wg.<l>.weight (W_g,l),
    dnn.mlp.* (MLP_Block: Linear, [BatchNorm], ReLU per hidden layer), fc (Linear(d + h_L, 1)).
    """
    out, claimed = {}, set()
    prefix = "embedding_layer.embedding_layer.embedding_layers."
    out["embedding.table.weight"] = torch.cat([ref[f"{prefix}f{i}.weight"] for i in range(fields)])
    claimed |= {f"{prefix}f{i}.weight" for i in range(fields)}
    for key, value in ref.items():
        if key.startswith("cross_net."):
            _, what, i, *rest = key.split(".")
            ours = {"w": "cross.weight", "b": "cross.bias", "wg": "gate.weight"}[what]
            out[f"cross.layers.{i}.{ours}"] = value
        elif key.startswith("dnn.mlp."):
            out["dnn." + key[len("dnn.mlp."):]] = value
        else:
            continue
        claimed.add(key)
    d = out["embedding.table.weight"].shape[1] * fields
    w, b = ref["fc.weight"], ref["fc.bias"]
    if fuxictr_head:
        out["fc.weight"], out["fc.bias"] = w, b
    else:
        # the last hidden layer's Linear or BatchNorm, then its ReLU, then our output layer
        last = max(int(k.split(".")[1]) for k in out if k.startswith("dnn.")) + 2
        out["cross_head.weight"], out["cross_head.bias"] = w[:, :d], b
        out[f"dnn.{last}.weight"], out[f"dnn.{last}.bias"] = w[:, d:], torch.zeros_like(b)
    claimed |= {"fc.weight", "fc.bias"}
    unclaimed = set(ref) - claimed
    assert not unclaimed, f"reference tensors not mapped: {sorted(unclaimed)}"
    return out


def build(cfg: dict, vocab: list[int], fuxictr_head: bool):
    return build_model("gdcn", vocab, 0, embedding_dim=cfg["embedding_dim"], mlp_c=cfg["dnn_hidden_units"], dropout=0.0,
                batch_norm=cfg["batch_norm"], num_cross_layers=cfg["num_cross_layers"],
                fuxictr_head=fuxictr_head).double()


def max_logit_diff(fixture: str, fuxictr_head: bool) -> dict:
    """Largest |ours − reference| per compared quantity, eval and train mode."""
    data = load(fixture)
    vocab = [int(v) for v in data["vocab"]]
    ours = build(data["config"], vocab, fuxictr_head)
    state = map_gdcn(data["sd"], len(vocab), fuxictr_head)
    x = torch.from_numpy(data["x"]).long()
    y = torch.from_numpy(data["y"]).double()
    diffs = {}
    for mode in ("eval", "train"):
        ours.load_state_dict({k: v.to(ours.state_dict()[k].dtype) for k, v in state.items()}, strict=True)
        ours.train(mode == "train")
        with torch.no_grad():
            out = ours(x, None)
        diffs[f"logit_{mode}"] = (out.logit - torch.from_numpy(data[f"logit_{mode}"])).abs().max().item()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out.logit, y).item()
        diffs[f"loss_{mode}"] = abs(loss - float(data[f"loss_{mode}"]))
        parts = {k.split("/", 1)[1]: torch.from_numpy(v) for k, v in data.items() if k.startswith(f"part_{mode}/")}
        bias = parts["bias"]
        s_bias, c_bias = (bias / 2, bias / 2) if fuxictr_head else (bias, 0.0)
        diffs[f"z_s_{mode}"] = (out.simple - (parts["cross"] + s_bias)).abs().max().item()
        diffs[f"z_c_{mode}"] = (out.complex - (parts["dnn"] + c_bias)).abs().max().item()
    return diffs


@pytest.mark.parametrize("fuxictr_head", [False, True], ids=["", "fuxictr_head"])
@pytest.mark.parametrize("fixture", CASES)
def test_parity_with_fuxictr(fixture, fuxictr_head):
    diffs = max_logit_diff(fixture, fuxictr_head)
    bad = {k: v for k, v in diffs.items() if not v <= TOL}
    assert not bad, f"{fixture} (gdcn, fuxictr_head={fuxictr_head}) differs from FuxiCTR GDCNP: {bad}"


def test_fixtures_are_nontrivial():
    """The logits vary across the batch, both streams carry signal, the gates are not saturated
    to 0 or 1 everywhere, and eval differs from train where BatchNorm is used."""
    for fixture in CASES:
        data = load(fixture)
        assert np.ptp(data["logit_eval"]) > 1e-2, fixture
        assert np.ptp(data["part_eval/cross"]) > 1e-2 and np.ptp(data["part_eval/dnn"]) > 1e-2, fixture
        if data["config"]["batch_norm"]:
            assert np.abs(data["logit_eval"] - data["logit_train"]).max() > 1e-3, fixture
        ours = build(data["config"], [int(v) for v in data["vocab"]], False)
        ours.load_state_dict(map_gdcn(data["sd"], len(data["vocab"]), False), strict=True)
        gates = []
        ours.cross.layers[0].gate.register_forward_hook(lambda _m, _a, o: gates.append(torch.sigmoid(o)))
        with torch.no_grad():
            ours.eval()(torch.from_numpy(data["x"]).long(), None)
        g = gates[0]
        assert ((g > 0.05) & (g < 0.95)).float().mean() > 0.3, fixture


def test_streams_sum_to_the_logit_and_default_builds():
    torch.manual_seed(0)
    x = torch.tensor([[0, 1, 2], [4, 6, 5]])
    for head in (False, True):
        m = build_model("gdcn", [5, 7, 6], 0, embedding_dim=4, mlp_c=[6], num_cross_layers=2, fuxictr_head=head).eval()
        out = m(x, None)
        torch.testing.assert_close(out.simple + out.complex, out.logit)
    m = build_model("gdcn", [5, 7, 6], 0)
    assert len(m.cross.layers) == 3 and m.dnn.output_dim == 1   # the defaults: 3 gated cross layers
    with pytest.raises(ConfigError, match=r"--num-cross-layers must be >= 1, got 0"):
        build_model("gdcn", [5, 7, 6], 0, num_cross_layers=0)
