"""Logit-for-logit parity of ``tf4ctr`` with the authors' TF4CTRv2 (salmon1802/TF4CTR).

Each fixture under tests/fixtures/parity/tf4ctr/ holds a tiny reference model's weights, an input
batch, its logits (final, z_s, z_c) in eval and train mode, the Gumbel noise VF drew, and the
authors' loss (BCE + TFLoss) on fixed labels; see tests/fixtures/parity/README.md and the generator
tests/fixtures/parity/generators/gen_tf4ctr.py (run in a lab venv with the authors' code, never
here). We build our model from the same settings through RunConfig, map the weights, run in
float64 and compare.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tfbench.config import RunConfig
from tfbench.losses import TwinFocusLoss
from tfbench.models import build_model
from tfbench.models.tf4ctr import VotingFusion

FIXTURES = Path(__file__).parent / "fixtures" / "parity" / "tf4ctr"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.npz"))
ATOL = 1e-5


def load(name: str) -> tuple[dict, dict]:
    with np.load(FIXTURES / f"{name}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    settings = json.loads(str(arrays.pop("settings")))
    index = json.loads(str(arrays.pop("ref_index")))
    flat, state, at = arrays.pop("ref_flat"), {}, 0
    for key, shape, dtype in index:
        n = int(np.prod(shape))
        state[key] = torch.from_numpy(flat[at:at + n].reshape(shape).astype(np.int64 if dtype == "int64" else np.float64))
        at += n
    assert at == flat.size
    arrays["ref_state"] = state
    return arrays, settings


# reference state_dict key (regex) -> our key (format); embeddings are per-field tables, ours one table
_RULES = [
    (r"SSM\.easy_sample_embedding\.embedding_layer\.embedding_layers\.(\w+)\.weight", "ssem.easy.table.weight"),
    (r"SSM\.hard_sample_embedding\.embedding_layer\.embedding_layers\.(\w+)\.weight", "ssem.hard.table.weight"),
    (r"SSM\.embedding_layer\.embedding_layer\.embedding_layers\.(\w+)\.weight", "ssem.embedding.table.weight"),
    (r"SSM\.feature_embedding\.embedding_layer\.embedding_layers\.(\w+)\.weight", "ssem.embedding.table.weight"),
    (r"SSM\.gate\.mlp\.(.+)", "ssem.gate.{0}"),
    (r"SSM\.mmoe_layer\.experts\.(\d+)\.mlp\.(.+)", "ssem.experts.{0}.{1}"),
    (r"SSM\.mmoe_layer\.gate\.(\d+)\.mlp\.(.+)", "ssem.gates.{0}.{1}"),
    (r"easy_encoder\.mlp\.(.+)", "simple_encoder.{0}"),
    (r"hard_encoder\.mlp\.(.+)", "complex_encoder.{0}"),
    (r"DFM\.fc1\.(.+)", "simple_head.{0}"),
    (r"DFM\.fc2\.(.+)", "complex_head.{0}"),
    (r"DFM\.w", "fusion.weight"),             # WSF: [2, 1] -> [2]
    (r"DFM\.pi1\.(.+)", "fusion.select_s.{0}"),  # VF
    (r"DFM\.pi2\.(.+)", "fusion.select_c.{0}"),
    (r"DFM\.fc\.(.+)", "fusion.out.{0}"),         # CF
    (r"DFM\.gate\.0\.(.+)", "fusion.gate.{0}"),   # MoEF
    (r"DFM\.MOE\.(.+)", "fusion.experts.{0}"),
]


def map_reference_state(ref_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' TF4CTRv2 state_dict as ours. MLP_Block's Sequential and our MLP put the same
    layers at the same positions (Linear, BatchNorm, activation, dropout), so MLP indices carry over;
    the per-field embedding tables (feature-map order) stack into our one offset table."""
    ours: dict[str, torch.Tensor] = {}
    tables: dict[str, list[torch.Tensor]] = {}
    for key, value in ref_state.items():
        for pattern, target in _RULES:
            m = re.fullmatch(pattern, key)
            if m:
                break
        else:
            raise KeyError(f"no mapping for reference key {key}")
        if target.endswith("table.weight"):
            tables.setdefault(target, []).append(value)  # dict order = feature order
        elif target == "fusion.weight":
            ours[target] = value.reshape(-1)
        else:
            ours[target.format(*m.groups())] = value
    for target, parts in tables.items():
        ours[target] = torch.cat(parts, dim=0)
    return ours


def build_ours(settings: dict, **overrides) -> torch.nn.Module:
    cfg = RunConfig.from_dict(dict(
        model="tf4ctr", ssem=settings["ssem"], dfm=settings["dfm"], embedding_dim=settings["embedding_dim"],
        mlp_s=settings["mlp_s"], mlp_c=settings["mlp_c"], dropout=settings["dropout"],
        batch_norm=settings["batch_norm"], vf_tau=settings["vf_tau"], **overrides,
    ))
    model = build_model("tf4ctr", settings["vocab_sizes"], 0, **cfg.model_hyperparameters())
    return model.double()


def prepared(name: str, **overrides):
    arrays, settings = load(name)
    model = build_ours(settings, **overrides)
    model.load_state_dict(map_reference_state(arrays["ref_state"]), strict=True)
    return model, arrays, settings


class FixedNoise:
    """Stands in for VotingFusion.gumbel_noise: hands out the noise the reference drew."""

    def __init__(self):
        self.noise: torch.Tensor | None = None
        self.calls = 0

    def __call__(self, pi):
        assert self.noise is not None and self.noise.shape == pi.shape
        self.calls += 1
        return self.noise


def with_noise(model, monkeypatch) -> FixedNoise:
    fixed = FixedNoise()
    if isinstance(model.fusion, VotingFusion):
        monkeypatch.setattr(model.fusion, "gumbel_noise", fixed)
    return fixed


def run(model, arrays, mode: str, fixed: FixedNoise):
    x = torch.from_numpy(arrays["x"])
    if f"{mode}_gumbel" in arrays:
        fixed.noise = torch.from_numpy(arrays[f"{mode}_gumbel"])
    model.train(mode == "train")
    with torch.set_grad_enabled(mode == "train"):
        return model(x)


def max_diff(out, arrays, mode: str) -> float:
    return max(
        float((got.detach() - torch.from_numpy(arrays[f"{mode}_{k}"])).abs().max())
        for got, k in ((out.logit, "logit"), (out.simple, "z_s"), (out.complex, "z_c"))
    )


def test_fixtures_cover_every_ssem_and_dfm():
    assert NAMES == sorted(f"{s}_{d}" for s in ("SER", "GM", "MoE", "Share") for d in ("WSF", "VF", "CF", "MoEF", "Sum"))


@pytest.mark.parametrize("name", NAMES)
def test_eval_logits_match_reference(name, monkeypatch):
    # VF: the authors draw Gumbel noise at evaluation too; vf_eval=gumbel is that behaviour
    overrides = {"vf_eval": "gumbel"} if name.endswith("_VF") else {}
    model, arrays, _ = prepared(name, **overrides)
    fixed = with_noise(model, monkeypatch)
    out = run(model, arrays, "eval", fixed)
    assert max_diff(out, arrays, "eval") < ATOL
    assert fixed.calls == (1 if name.endswith("_VF") else 0)


@pytest.mark.parametrize("name", NAMES)
def test_train_logits_and_twin_focus_loss_match_reference(name, monkeypatch):
    """Train mode (BatchNorm on batch statistics, dropout 0) with our default settings, and the
    authors' add_loss: BCE(final) + α·L_easy + (1−α)·L_hard on the same pass."""
    model, arrays, settings = prepared(name)
    fixed = with_noise(model, monkeypatch)
    out = run(model, arrays, "train", fixed)
    assert max_diff(out, arrays, "train") < ATOL
    assert fixed.calls == (1 if name.endswith("_VF") else 0)
    y = torch.from_numpy(arrays["y"])
    loss = TwinFocusLoss(alpha=settings["alpha"], c=settings["c"], gamma=settings["gamma"])
    assert abs(float(loss.auxiliary(out, y).detach()) - float(arrays["loss_tf"])) < ATOL
    assert abs(float(loss(out, y).detach()) - float(arrays["loss_total"])) < ATOL


@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("_VF")])
def test_vf_default_evaluation_is_the_deterministic_softmax(name, monkeypatch):
    """Ours by default (vf_eval=softmax): no noise at evaluation, weights softmax(π/τ); z_s, z_c
    are the reference's all the same, the fused logit differs from the noisy reference one."""
    model, arrays, settings = prepared(name)
    fixed = with_noise(model, monkeypatch)
    out = run(model, arrays, "eval", fixed)
    assert fixed.calls == 0
    zs, zc = torch.from_numpy(arrays["eval_z_s"]), torch.from_numpy(arrays["eval_z_c"])
    assert torch.allclose(out.simple, zs, atol=ATOL) and torch.allclose(out.complex, zc, atol=ATOL)
    # p = softmax(π/τ) from our selection logits (whose weights are the reference's pi1, pi2)
    with torch.no_grad():
        h_es, h_hs = model.ssem(torch.from_numpy(arrays["x"]), None)
        h_s, h_c = model.simple_encoder(h_es), model.complex_encoder(h_hs)
        pi = torch.cat([model.fusion.select_s(h_s), model.fusion.select_c(h_c)], dim=-1)
        p = torch.softmax(pi / settings["vf_tau"], dim=-1)
    assert torch.allclose(out.logit, p[:, 0] * zs + p[:, 1] * zc, atol=ATOL)
    assert not torch.allclose(out.logit, torch.from_numpy(arrays["eval_logit"]), atol=1e-3)


def test_vf_gumbel_noise_is_drawn_as_torch_gumbel_softmax():
    """Our own draw (so the noise can be injected) uses the RNG exactly as F.gumbel_softmax does."""
    fusion = VotingFusion(3, 3, tau=0.8)
    pi = torch.randn(5, 2, dtype=torch.float64)
    torch.manual_seed(7)
    ours = torch.softmax((pi + fusion.gumbel_noise(pi)) / 0.8, dim=-1)
    torch.manual_seed(7)
    assert torch.equal(ours, torch.nn.functional.gumbel_softmax(pi, tau=0.8))


def test_vf_eval_setting_and_run_key():
    base = RunConfig(model="tf4ctr", dfm="VF")
    assert "vf_eval" not in base.effective_dict()  # the default keeps stored run keys
    assert base.replace(vf_eval="gumbel").effective_dict()["vf_eval"] == "gumbel"
    assert "vf_eval" not in base.replace(dfm="WSF", vf_eval="gumbel").effective_dict()
    assert "vf_eval" not in RunConfig(model="dualmlp", vf_eval="gumbel").effective_dict()
    assert base.replace(vf_eval="gumbel").model_hyperparameters()["vf_eval"] == "gumbel"
    assert "vf_eval" not in RunConfig(model="dualmlp").model_hyperparameters()
    with pytest.raises(Exception, match="vf-eval"):
        RunConfig.from_dict({"model": "tf4ctr", "vf_eval": "noisy"})


def test_cli_takes_vf_eval(isolated):
    from typer.testing import CliRunner

    from tfbench.cli.main import app

    result = CliRunner().invoke(app, ["train", "--dfm", "VF", "--vf-eval", "noisy"])
    assert result.exit_code == 2 and "--vf-eval is 'noisy', must be one of softmax, gumbel" in result.output
