"""Logit-for-logit parity, float64, reference weights mapped onto ours:

* the plain DNN, Wide & Deep, DeepFM, xDeepFM and DualMLP against FuxiCTR 2.3.10's model_zoo
  classes (fixtures in tests/fixtures/parity/fuxictr/);
* the TF4CTR plug-ins (``tf4ctr=True``, Table VIII) against the authors' TF4CTRv2_DeepFM,
  TF4CTRv2_WideDeep and TF4CTRv2_xDeepFM for every SSM × DFM the reference runs
  (tests/fixtures/parity/plugin/; provenance in tests/fixtures/parity/README_plugin.md).

Each fixture holds the reference's state_dict, a batch, eval- and train-mode logits (final, simple,
complex), VF's Gumbel noise and the loss (log loss; for plug-ins the authors' BCE + TFLoss).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tfbench.losses import LogLoss, TwinFocusLoss
from tfbench.models import build_model

FIXTURES = Path(__file__).parent / "fixtures" / "parity"
FUXI = sorted((FIXTURES / "fuxictr").glob("*.npz"))
PLUGIN = sorted((FIXTURES / "plugin").glob("*.npz"))
TOL = dict(rtol=0, atol=1e-5)
SSEM = {"SER": "SER", "GM": "GM", "MoE": "MoE", "none": "Share"}
DFM = {"WSF": "WSF", "VF": "VF", "CF": "CF", "MoEF": "MoEF", "none": "Sum"}


def load(path: Path):
    z = np.load(path)
    params = {k[len("param/"):]: torch.from_numpy(z[k]).double() if z[k].dtype.kind == "f" else torch.from_numpy(z[k])
              for k in z.files if k.startswith("param/")}
    data = {k: z[k] for k in z.files if not k.startswith("param/")}
    return params, data, json.loads(str(data["settings"]))


# ---------------------------------------------------------------- weight mapping
def fields(ref: dict, prefix: str, n: int) -> torch.Tensor:
    """FuxiCTR's per-feature tables ``<prefix>.embedding_layers.f<i>.weight`` stacked as one table."""
    return torch.cat([ref.pop(f"{prefix}.embedding_layers.f{i}.weight") for i in range(n)], dim=0)


def cin_weight(w: torch.Tensor, num_fields: int) -> torch.Tensor:
    """FuxiCTR's CIN Conv1d weight [H_k, m·H_{k-1}, 1] (channel j·H_{k-1} + i: X^0 field j, map i)
    as ours [H_k, H_{k-1}·m] (column i·m + j)."""
    h_k, c, _ = w.shape
    return w[:, :, 0].reshape(h_k, num_fields, c // num_fields).transpose(1, 2).reshape(h_k, c)


def move(ref: dict, ours: dict, src: str, dst: str) -> None:
    """Every ref key under ``src.`` becomes ``dst.`` + the rest of its name."""
    for k in [k for k in ref if k.startswith(src + ".")]:
        ours[dst + k[len(src):]] = ref.pop(k)


def map_ssem(ref: dict, ours: dict, ssm: str, n: int) -> None:
    if ssm == "SER":
        ours["ssem.easy.table.weight"] = fields(ref, "SSM.easy_sample_embedding.embedding_layer", n)
        ours["ssem.hard.table.weight"] = fields(ref, "SSM.hard_sample_embedding.embedding_layer", n)
    elif ssm == "GM":
        ours["ssem.embedding.table.weight"] = fields(ref, "SSM.embedding_layer.embedding_layer", n)
        move(ref, ours, "SSM.gate.mlp", "ssem.gate")
    elif ssm == "MoE":
        ours["ssem.embedding.table.weight"] = fields(ref, "SSM.embedding_layer.embedding_layer", n)
        for e in range(2):
            move(ref, ours, f"SSM.mmoe_layer.experts.{e}.mlp", f"ssem.experts.{e}")
            move(ref, ours, f"SSM.mmoe_layer.gate.{e}.mlp", f"ssem.gates.{e}")
    else:
        ours["ssem.embedding.table.weight"] = fields(ref, "SSM.feature_embedding.embedding_layer", n)


def map_dfm(ref: dict, ours: dict, dfm: str) -> None:
    """The DFM's own layers (its fc1/fc2 heads are mapped by the caller)."""
    if dfm == "WSF":
        ours["fusion.weight"] = ref.pop("DFM.w").reshape(2)
    elif dfm == "VF":
        move(ref, ours, "DFM.pi1", "fusion.select_s")
        move(ref, ours, "DFM.pi2", "fusion.select_c")
    elif dfm == "CF":
        move(ref, ours, "DFM.fc", "fusion.out")
    elif dfm == "MoEF":
        move(ref, ours, "DFM.gate.0", "fusion.gate")
        move(ref, ours, "DFM.MOE", "fusion.experts")


def map_plugin(name: str, ssm: str, dfm: str, ref: dict, n: int, hidden: int) -> dict:
    """The authors' TF4CTRv2_<name> state_dict → ours (``tf4ctr=True``). ``hidden``: the index of
    our DNN's output layer (fc2)."""
    ref, ours = dict(ref), {}
    dnn = "deep" if name == "widedeep" else "dnn"
    if name == "widedeep":
        ours["embedding.table.weight"] = fields(ref, "embedding_layer.embedding_layer", n)
        ours["wide.weights.table.weight"] = fields(ref, "easy_encoder.embedding_layer.embedding_layer", n)
    else:
        map_ssem(ref, ours, ssm, n)
        lr = "easy_encoder.lr_layer" if name == "deepfm" else "lr_layer"
        ours["first_order.weights.table.weight"] = fields(ref, f"{lr}.embedding_layer.embedding_layer", n)
        if f"{lr}.bias" in ref:
            ours["first_order.bias"] = ref.pop(f"{lr}.bias")
    if name == "xdeepfm":
        map_cin(ref, ours, "easy_encoder", n)
    move(ref, ours, "hard_encoder.mlp", dnn)
    move(ref, ours, "DFM.fc2", f"{dnn}.{hidden}")
    move(ref, ours, "DFM.fc1", "simple_head")
    map_dfm(ref, ours, dfm)
    assert not ref, f"unmapped reference weights: {sorted(ref)}"
    return {plugin_name(name, k): v for k, v in ours.items()}


# The plug-in is a composition (tfbench.models.tf4ctr_plugin.TF4CTRPlugin) of the host's parts:
# the mapping above names them as in the plain host model; these prefixes place them in it.
PLUGIN_PARTS = [("ssem.", "bottom."), ("embedding.", "bottom.embedding."), ("first_order.", "explicit.first_order."),
                ("wide.", "explicit.wide."), ("cin.", "explicit.cin."), ("cin_head.", "explicit.cin_head."),
                ("deep.", "dnn.")]


def plugin_name(host: str, key: str) -> str:
    for old, new in PLUGIN_PARTS:
        if key.startswith(old):
            return new + key[len(old):]
    return key


def map_cin(ref: dict, ours: dict, prefix: str, n: int) -> None:
    """The reference CIN's layers ``{prefix}.cin_layer.layer_K`` and head ``{prefix}.fc`` → ours."""
    for k in [k for k in ref if k.startswith(f"{prefix}.cin_layer.")]:
        layer = int(re.search(r"layer_(\d+)", k).group(1)) - 1
        w = ref.pop(k)
        ours[f"cin.layers.{layer}.{k.rsplit('.', 1)[1]}"] = cin_weight(w, n) if w.dim() == 3 else w
    move(ref, ours, f"{prefix}.fc", "cin_head")


def map_fuxictr(name: str, ref: dict, n: int, cin: int = 0) -> dict:
    """FuxiCTR 2.3.10 model_zoo state_dict → ours (plain model)."""
    ref, ours = dict(ref), {}
    ours["embedding.table.weight"] = fields(ref, "embedding_layer.embedding_layer", n)
    lr = {"widedeep": "lr_layer", "deepfm": "fm.lr_layer", "xdeepfm": "lr_layer"}.get(name)
    first = "wide" if name == "widedeep" else "first_order"
    if lr:
        ours[f"{first}.weights.table.weight"] = fields(ref, f"{lr}.embedding_layer.embedding_layer", n)
        if f"{lr}.bias" in ref:
            ours[f"{first}.bias"] = ref.pop(f"{lr}.bias")
    if name == "xdeepfm":
        map_cin(ref, ours, "cin", n)
    src = {"dnn": {"mlp.mlp": "dnn"}, "widedeep": {"dnn.mlp": "deep"}, "deepfm": {"mlp.mlp": "dnn"},
           "xdeepfm": {"dnn.mlp": "dnn"}, "dualmlp": {"mlp1.mlp": "stream_s", "mlp2.mlp": "stream_c"}}[name]
    for s, d in src.items():
        move(ref, ours, s, d)
    assert not ref, f"unmapped reference weights: {sorted(ref)}"
    return ours


def load_into(model: torch.nn.Module, weights: dict) -> None:
    own = model.state_dict()
    assert set(weights) == set(own), (sorted(set(own) - set(weights)), sorted(set(weights) - set(own)))
    for k, v in weights.items():
        assert own[k].shape == v.shape, (k, own[k].shape, v.shape)
    model.load_state_dict(weights)


# ---------------------------------------------------------------- building ours from a fixture
def ours_for_fuxictr(path: Path):
    ref, data, s = load(path)
    name = path.stem.split("_")[0]
    hp = dict(embedding_dim=s["embedding_dim"], dropout=0.0, batch_norm=bool(s.get("batch_norm", False)))
    if name == "xdeepfm":
        hp.update(mlp_c=s["dnn_hidden_units"], cin_layers=s["cin_hidden_units"])
    elif name == "dualmlp":
        hp.update(mlp_s=s["mlp1_hidden_units"], mlp_c=s["mlp2_hidden_units"])
    else:
        hp.update(mlp_c=s["hidden_units"])
    model = build_model(name, s["vocab"], 0, **hp).double()
    load_into(model, map_fuxictr(name, ref, len(s["vocab"])))
    return model, data


def ours_for_plugin(path: Path):
    ref, data, s = load(path)
    name = path.stem.split("_")[0]
    hp = dict(embedding_dim=s["embedding_dim"], dropout=0.0, batch_norm=bool(s["batch_norm"]),
              mlp_c=s["hard_hidden_units"], tf4ctr=True, ssem=SSEM[s["SSM"]], dfm=DFM[s["DFM"]])
    if name == "xdeepfm":
        hp["cin_layers"] = s["cin_hidden_units"]
    model = build_model(name, s["vocab"], 0, **hp).double()
    hidden = len(list(model.dnn)) - 1
    load_into(model, map_plugin(name, s["SSM"], s["DFM"], ref, len(s["vocab"]), hidden))
    return model, data, s


class HeldGumbel:
    """Makes our VF use a recorded Gumbel noise (whichever way VotingFusion draws it)."""

    def __init__(self, monkeypatch, model):
        self.noise = None
        fusion = model.fusion
        if hasattr(fusion, "gumbel_noise"):
            monkeypatch.setattr(fusion, "gumbel_noise", lambda pi: self.noise)
        monkeypatch.setattr(F, "gumbel_softmax", lambda logits, tau=1.0, hard=False, dim=-1: ((logits + self.noise) / tau).softmax(dim))


def run(model, x, train: bool):
    model.train(train)
    with torch.set_grad_enabled(train):
        return model(torch.from_numpy(x), None)


def close(actual: torch.Tensor, expected: np.ndarray) -> float:
    a = actual.detach().double().reshape(-1).numpy()
    torch.testing.assert_close(torch.from_numpy(a), torch.from_numpy(np.asarray(expected, dtype=np.float64).reshape(-1)), **TOL)
    return float(np.abs(a - expected).max())


# ---------------------------------------------------------------- A: plain baselines vs FuxiCTR
@pytest.mark.parametrize("path", FUXI, ids=[p.stem for p in FUXI])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_plain_baseline_matches_fuxictr(path, mode):
    model, d = ours_for_fuxictr(path)
    out = run(model, d["x"], mode == "train")
    close(out.logit, d[f"{mode}_logit"])
    if f"{mode}_z_s" in d:
        close(out.simple, d[f"{mode}_z_s"])
        close(out.complex, d[f"{mode}_z_c"])
    else:
        assert out.simple is None and out.complex is None
    if mode == "train":
        loss = LogLoss()(out, torch.from_numpy(d["y"]))
        assert abs(loss.item() - float(d["loss"])) < 1e-5


def test_there_is_a_fixture_per_plain_baseline():
    assert {p.stem.split("_")[0] for p in FUXI} == {"dnn", "widedeep", "deepfm", "xdeepfm", "dualmlp"}


# ---------------------------------------------------------------- B: plug-ins vs the authors' code
@pytest.mark.parametrize("path", PLUGIN, ids=[p.stem for p in PLUGIN])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_plugin_matches_the_authors(path, mode, monkeypatch):
    model, d, s = ours_for_plugin(path)
    held = HeldGumbel(monkeypatch, model) if s["DFM"] == "VF" else None
    if held is not None:
        held.noise = torch.from_numpy(d[f"{mode}_gumbel"])
    out = run(model, d["x"], mode == "train")
    if held is not None and mode == "eval":
        # the authors draw Gumbel noise in eval mode too; ours evaluates with the deterministic
        # softmax(π/τ) by default, which is their computation with the noise at 0
        close(out.logit, d["eval0_logit"])
    else:
        close(out.logit, d[f"{mode}_logit"])
    close(out.simple, d[f"{mode}_z_s"])
    close(out.complex, d[f"{mode}_z_c"])
    if mode == "train":
        loss = TwinFocusLoss(alpha=s["alpha"], c=s["c"], gamma=s["gamma"])(out, torch.from_numpy(d["y"]))
        assert abs(loss.item() - float(d["loss"])) < 1e-5


def test_the_reference_runs_and_fails_where_recorded():
    """Fixtures exist exactly for the option pairs the authors' code runs; the others fail there."""
    failures = json.loads((FIXTURES / "plugin" / "reference_failures.json").read_text())
    have = {p.stem for p in PLUGIN}
    assert not have & set(failures)
    # DeepFM and Wide & Deep: VF's W_hs is sized by the 1-dim simple encoder; xDeepFM: only SER
    # gives the CIN field embeddings (the others hand it flat vectors)
    assert {k for k in failures if k.startswith("deepfm")} == {f"deepfm_{s}_VF" for s in SSEM}
    assert {k for k in failures if k.startswith("widedeep")} == {"widedeep_SER_VF"}
    assert {k for k in failures if k.startswith("xdeepfm")} == {f"xdeepfm_{s}_{f}" for s in ("GM", "MoE", "none") for f in DFM}
    assert {f"deepfm_{s}_{f}" for s in SSEM for f in DFM if f != "VF"} <= have
    assert {f"xdeepfm_SER_{f}" for f in DFM} | {f"widedeep_SER_{f}" for f in DFM if f != "VF"} <= have


def test_the_authors_deepfm_fm_term_is_one_number_per_batch():
    """The authors' FM reads the SSEM's flat easy vector [B, F·d_es]: its second-order term is
    0.5·Σ_b[(Σ_k h_bk)² − Σ_k h_bk²], summed over the batch and added to every row. Ours does the
    same by default: the logits of a row depend on the rest of its batch."""
    model, d, _ = ours_for_plugin(FIXTURES / "plugin" / "deepfm_SER_WSF.npz")
    model.eval()
    x = torch.from_numpy(d["x"])
    with torch.no_grad():
        full = model(x, None).simple
        half = model(x[:4], None).simple
    assert not torch.allclose(full[:4], half)
    h_es, _ = model.bottom(x, None)
    s = h_es.sum(1)
    fm2 = 0.5 * (s.pow(2) - h_es.pow(2).sum(1)).sum()
    expected = model.simple_head((model.explicit.first_order(x, None) + fm2).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(full, expected)


# ---------------------------------------------------------------- the fixtures are sensitive
@pytest.mark.parametrize("path", FUXI + PLUGIN, ids=[f"{p.parent.name}-{p.stem}" for p in FUXI + PLUGIN])
def test_every_mapped_weight_moves_the_checked_outputs(path, monkeypatch):
    """A random change (N(0, 0.1²) per entry) of any one parameter tensor moves the logits the parity
    tests compare by more than their tolerance, so every mapped weight is checked by them."""
    if path.parent.name == "fuxictr":
        model, d = ours_for_fuxictr(path)
        noise = None
    else:
        model, d, s = ours_for_plugin(path)
        noise = torch.from_numpy(d["train_gumbel"]) if s["DFM"] == "VF" else None
        if noise is not None:
            HeldGumbel(monkeypatch, model).noise = noise

    def outputs():  # eval and train mode (a Linear bias before a BatchNorm is cancelled in train mode)
        outs = [run(model, d["x"], train) for train in (False, True)]
        return torch.cat([t.detach().reshape(-1) for o in outs for t in (o.logit, o.simple, o.complex) if t is not None])

    base = outputs()
    gen = torch.Generator().manual_seed(0)
    for name, p in model.named_parameters():
        delta = 0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype)
        with torch.no_grad():
            p.add_(delta)
        moved = (outputs() - base).abs().max().item()
        with torch.no_grad():
            p.sub_(delta)
        assert moved > 1e-5, f"{name} does not reach the outputs"
