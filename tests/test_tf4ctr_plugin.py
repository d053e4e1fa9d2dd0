"""TF4CTR plugged into DeepFM, Wide & Deep and xDeepFM (--tf4ctr, paper Table VIII), and the
`tfbench models --params` table."""

import itertools
import re

import pytest
import torch
from typer.testing import CliRunner

from tfbench.cli.main import FRAPPE_VOCAB_SIZES, app
from tfbench.config import RunConfig, run_key
from tfbench.errors import ConfigError
from tfbench.losses import make_objective
from tfbench.models import (
    DFM_CHOICES, MODELS, SSEM_CHOICES, build_model, count_parameters, embedding_modules, own_settings,
)
from tfbench.models.interactions import fm_second_order
from tfbench.models.tf4ctr import SeparateEmbeddings
from tfbench.models.tf4ctr_plugin import TF4CTRPlugin, easy_fields, mlp_stream
from tfbench.runner import build_for, train_settings
from tfbench.train import fit, resolve_device, seed_everything

from conftest import field_batch


VOCAB = [7, 5, 3, 9]
PLUGIN = ["deepfm", "widedeep", "xdeepfm"]
SMALL = dict(embedding_dim=4, mlp_c=[8, 6], dropout=0.0, batch_norm=False, cin_layers=[3, 2])


def batch(n=6, seed=0):
    return field_batch(VOCAB, n, seed)


def plugged(name, ssem="SER", dfm="WSF", num_numeric=0, **kw):
    torch.manual_seed(0)
    return build_model(name, VOCAB, num_numeric, **own_settings(name, {**SMALL, **kw, "tf4ctr": True, "ssem": ssem, "dfm": dfm})).eval()


def field_inputs(m, x):
    """The plug-in's bottom outputs as field embeddings [B, F, ·] (easy, hard)."""
    h_es, h_hs = m.bottom(x, None)
    return easy_fields(h_es, x.shape[1]), easy_fields(h_hs, x.shape[1])


# ---------------------------------------------------------------- structure
# (value-for-value parity with the authors' classes: tests/test_parity_plugin.py)
@pytest.mark.parametrize("name", PLUGIN)
@pytest.mark.parametrize("ssem,dfm", list(itertools.product(SSEM_CHOICES, DFM_CHOICES)))
def test_every_ssem_and_dfm_gives_three_logits_and_trains_every_table(name, ssem, dfm):
    m = plugged(name, ssem, dfm, num_numeric=2, batch_norm=True).train()
    with torch.no_grad():  # away from the 1e-4 init, so that the values below differ across rows
        for e in embedding_modules(m):
            e.table.weight.normal_()
    x, x_num = batch(), torch.rand(6, 2)
    seen = {}
    hook = m.fusion.register_forward_hook(lambda module, args, output: seen.update(args=args, output=output))
    out = m(x, x_num)
    hook.remove()
    # the DFM block (module docstring of tfbench/models/tf4ctr_plugin.py), on this forward pass's
    # own values: z_s = fc1(h_s) (Wide & Deep with WSF: h_s itself), z_c = the DNN's output layer
    # on h_c, logit = DFM(h_s, h_c, z_s, z_c), plus xDeepFM's first-order term outside the DFM
    h_s, h_c, z_s, z_c = seen["args"]
    assert z_s is out.simple and z_c is out.complex
    fc1 = m.simple_head
    torch.testing.assert_close(out.simple, h_s.squeeze(-1) if fc1 is None else fc1(h_s).squeeze(-1))
    fc2 = list(m.dnn)[-1]
    torch.testing.assert_close(out.complex, fc2(h_c).squeeze(-1))
    outside = m.explicit.first_order(x, x_num) if name == "xdeepfm" else 0.0
    torch.testing.assert_close(out.logit, seen["output"] + outside)
    assert out.simple.std() > 0 and out.complex.std() > 0
    make_objective("tf")(out, torch.tensor([1.0, 0, 1, 0, 0, 1])).backward()
    if name == "widedeep":
        assert not hasattr(m, "ssem")  # the authors' Wide & Deep plug-in has no SSEM
    else:
        assert not hasattr(m, "embedding")  # the SSEM replaces the shared embedding
    assert all(e.table.weight.grad is not None and e.table.weight.grad.abs().sum() > 0 for e in embedding_modules(m))
    assert {id(e) for e in m.embedding_tables()} == {id(e) for e in embedding_modules(m)}


def test_widedeep_ignores_ssem_as_the_authors_class_does():
    x = batch()
    outs = [plugged("widedeep", ssem, "CF")(x, None) for ssem in SSEM_CHOICES]
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            if a is not None:
                torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", PLUGIN)
def test_wsf_starts_as_the_mean_of_the_two_logits_and_sum_adds_them(name):
    x = batch()
    m = plugged(name, "SER", "WSF")
    out = m(x, None)
    outside = m.explicit.first_order(x, None) if name == "xdeepfm" else 0.0  # xDeepFM's linear term is outside the DFM
    torch.testing.assert_close(out.logit, 0.5 * out.simple + 0.5 * out.complex + outside)
    m = plugged(name, "GM", "Sum")
    out = m(x, None)
    outside = m.explicit.first_order(x, None) if name == "xdeepfm" else 0.0
    torch.testing.assert_close(out.logit, out.simple + out.complex + outside)


@pytest.mark.parametrize("ssem,easy_dim", [("SER", 2), ("GM", 4), ("MoE", 4), ("Share", 4)])
def test_deepfm_streams(ssem, easy_dim):
    m = plugged("deepfm", ssem)
    x = batch()
    h_es, h_hs = m.bottom(x, None)
    assert h_es.shape == (6, len(VOCAB) * easy_dim) and h_hs.shape == (6, len(VOCAB) * 4)
    out = m(x, None)
    # simple: fc1 on the FM, whose second-order term is the authors' (flat vector, summed over the batch)
    fm2 = 0.5 * (h_es.sum(1).pow(2) - h_es.pow(2).sum(1)).sum()
    torch.testing.assert_close(out.simple, m.simple_head((m.explicit.first_order(x, None) + fm2).unsqueeze(-1)).squeeze(-1))
    torch.testing.assert_close(out.complex, m.dnn(h_hs).squeeze(-1))
    # plugin_fm="fields": the per-row FM over the field embeddings of the easy input
    f = plugged("deepfm", ssem, plugin_fm="fields")
    emb_es, _ = field_inputs(f, x)
    assert emb_es.shape == (6, len(VOCAB), easy_dim)
    z = f.explicit.first_order(x, None) + fm_second_order(emb_es)
    torch.testing.assert_close(f(x, None).simple, f.simple_head(z.unsqueeze(-1)).squeeze(-1))
    with pytest.raises(ConfigError, match="plugin-fm is 'bogus', must be one of authors, fields"):
        plugged("deepfm", ssem, plugin_fm="bogus")


def test_xdeepfm_and_widedeep_streams():
    x = batch()
    m = plugged("xdeepfm", "GM", "CF")
    emb_es, emb_hs = field_inputs(m, x)
    out = m(x, None)
    h_s = m.explicit.cin_head(m.explicit.cin(emb_es))
    h_c, z_c = mlp_stream(m.dnn, emb_hs.flatten(1))
    torch.testing.assert_close(out.simple, m.simple_head(h_s).squeeze(-1))
    torch.testing.assert_close(out.complex, z_c)
    torch.testing.assert_close(out.logit, m.fusion.out(torch.cat([h_s, h_c], -1)).squeeze(-1) + m.explicit.first_order(x, None))
    wd = plugged("widedeep", "SER", "WSF")
    out = wd(x, None)
    torch.testing.assert_close(out.simple, wd.explicit.wide(x, None))  # WSF: z_s is the wide term itself
    torch.testing.assert_close(out.complex, wd.dnn(wd.bottom.embedding(x).flatten(1)).squeeze(-1))
    wd = plugged("widedeep", "SER", "MoEF")
    torch.testing.assert_close(wd(x, None).simple, wd.simple_head(wd.explicit.wide(x, None).unsqueeze(-1)).squeeze(-1))


def test_ser_widths_of_the_encoders():
    m = plugged("xdeepfm")
    assert isinstance(m.bottom, SeparateEmbeddings)
    assert m.bottom.easy.table.weight.shape == (sum(VOCAB), 2) and m.bottom.hard.table.weight.shape == (sum(VOCAB), 4)
    assert m.dnn[0].in_features == len(VOCAB) * 4
    # the CIN's head projects its 3 + 2 pooled maps to the DNN's width; fc1 reads that
    assert m.explicit.cin_head.weight.shape == (6, 5) and m.simple_head.weight.shape == (1, 6)
    assert m.explicit.first_order.bias is None
    wd = plugged("widedeep")
    assert wd.explicit.wide.bias is None and wd.simple_head is None and wd.bottom.embedding.table.weight.shape == (sum(VOCAB), 4)
    assert plugged("deepfm").simple_head.weight.shape == (1, 1)


@pytest.mark.parametrize("name", ["deepfm", "xdeepfm"])
def test_the_explicit_encoder_sees_the_easy_input_and_the_dnn_the_hard_input(name):
    m = plugged(name, "SER")
    x = batch()
    before = m(x, None)
    with torch.no_grad():
        m.bottom.easy.table.weight.normal_()
    easy_changed = m(x, None)
    assert not torch.allclose(easy_changed.simple, before.simple)
    torch.testing.assert_close(easy_changed.complex, before.complex)
    with torch.no_grad():
        m.bottom.hard.table.weight.normal_()
    hard_changed = m(x, None)
    torch.testing.assert_close(hard_changed.simple, easy_changed.simple)
    assert not torch.allclose(hard_changed.complex, easy_changed.complex)


def identity_head(head):
    with torch.no_grad():
        head.weight.zero_()
        head.weight[0, 0] = 1.0
        head.bias.zero_()


@pytest.mark.parametrize("name", PLUGIN)
def test_share_and_sum_with_identity_heads_is_the_plain_model(name):
    """With one shared embedding, a plain sum, fc1 the identity (and, for xDeepFM, the CIN's
    projection carrying the plain CIN head in its first row) the plug-in is the baseline itself."""
    torch.manual_seed(1)
    plain = build_model(name, VOCAB, 2, **own_settings(name, SMALL)).eval()
    tf = plugged(name, "Share", "Sum", num_numeric=2, **({"plugin_fm": "fields"} if name == "deepfm" else {}))
    # the plug-in composes the host's parts: bottom (the shared embedding), explicit part, DNN
    parts = [("embedding.", "bottom.embedding."), ("deep.", "dnn."), ("dnn.", "dnn.")]
    state = {}
    for k, v in plain.state_dict().items():
        new = next((n + k[len(o):] for o, n in parts if k.startswith(o)), "explicit." + k)
        state[new] = v
    if name == "xdeepfm":
        w = torch.zeros_like(tf.explicit.cin_head.weight)
        w[0] = state["explicit.cin_head.weight"][0]
        b = torch.zeros_like(tf.explicit.cin_head.bias)
        b[0] = state["explicit.cin_head.bias"][0]
        state["explicit.cin_head.weight"], state["explicit.cin_head.bias"] = w, b
    identity_head(tf.simple_head)
    state.update({f"simple_head.{k}": v for k, v in tf.simple_head.state_dict().items()})
    tf.load_state_dict(state)
    x, x_num = batch(), torch.rand(6, 2)
    a, b = plain(x, x_num), tf(x, x_num)
    torch.testing.assert_close(a.logit, b.logit)
    torch.testing.assert_close(a.complex, b.complex)
    # xDeepFM's plain z_s holds the first-order term, the plug-in's (the authors' y_sim) does not
    lr = plain.first_order(x, x_num) if name == "xdeepfm" else 0.0
    torch.testing.assert_close(a.simple, b.simple + lr)


# ---------------------------------------------------------------- configuration
def test_tf4ctr_only_for_the_three_baselines():
    for model in ("dcn", "dnn", "tf4ctr", "dualmlp"):
        with pytest.raises(ConfigError, match=rf"--tf4ctr .*'{re.escape(model)}'"):
            RunConfig.from_dict({"model": model, "tf4ctr": True})
    for model in PLUGIN:
        RunConfig.from_dict({"model": model, "tf4ctr": True})
    r = CliRunner().invoke(app, ["train", "--model", "dcn", "--tf4ctr"])
    assert r.exit_code == 2 and "--tf4ctr" in r.output and "dcn" in r.output


@pytest.mark.parametrize("name", PLUGIN)
def test_loss_defaults_to_tf_and_the_key_keeps_the_plugin_settings(name):
    on = RunConfig(model=name, tf4ctr=True)
    assert on.resolved_loss == "tf"
    assert RunConfig(model=name, tf4ctr=True, loss="logloss").resolved_loss == "logloss"
    assert RunConfig(model=name).resolved_loss == "logloss"
    eff = on.effective_dict()
    assert eff["tf4ctr"] is True and eff["ssem"] == "SER" and eff["dfm"] == "WSF" and eff["loss"] == "tf"
    assert "vf_tau" not in eff and "vf_tau" in on.replace(dfm="VF").effective_dict()
    hp = on.model_hyperparameters()
    assert (hp["tf4ctr"], hp["ssem"], hp["dfm"]) == (True, "SER", "WSF")
    assert run_key("fp", on) != run_key("fp", RunConfig(model=name))
    assert run_key("fp", on) != run_key("fp", on.replace(ssem="GM"))
    off = RunConfig(model=name)
    assert not {"tf4ctr", "ssem", "dfm", "vf_tau"} & set(off.effective_dict())
    assert "tf4ctr" not in off.model_hyperparameters()
    # the plug-in settings cannot change a plain run's key
    assert run_key("fp", off) == run_key("fp", off.replace(ssem="MoE", dfm="CF"))


def test_plain_run_keys_are_unchanged_by_the_new_field():
    # computed before --tf4ctr existed
    expected = {
        "deepfm": "93aff551d66016d05668c8a8", "widedeep": "291786d855864b029bd01d9f",
        "xdeepfm": "df056c7d057254adc45e258e", "tf4ctr": "431a02cda8046c0d3192de47",
    }
    for model, key in expected.items():
        assert run_key("fp", RunConfig(model=model)) == key
        assert "tf4ctr" not in RunConfig(model=model).effective_dict()


# ---------------------------------------------------------------- training
TINY = dict(
    synthetic_rows=20_000, embedding_dim=4, mlp_c=[32, 32], batch_size=1000, epochs=3, dropout=0.0,
    embedding_regularizer=0.0, learning_rate=1e-2, cin_layers=[8, 8], tf4ctr=True,
)


# Lowest test AUC over training seeds 2023 and 7 with TINY (CPU); one-hot logistic regression
# reaches 0.554 on the same split. Each test asserts the midway point.
PLUGIN_MEASURED_AUC = {"deepfm": 0.694, "widedeep": 0.630, "xdeepfm": 0.733}  # plug-ins as the authors' classes; seed 2023 / 7: 0.694/0.736, 0.630/0.721, 0.733/0.734


@pytest.mark.parametrize("name", PLUGIN)
def test_every_plugged_baseline_learns_synthetic(name, tiny_synthetic):
    cfg = RunConfig.from_dict({**TINY, "model": name})
    assert cfg.resolved_loss == "tf"
    seed_everything(cfg.seed)
    model = build_for(cfg, tiny_synthetic)
    assert isinstance(model, TF4CTRPlugin) and (name == "widedeep" or isinstance(model.bottom, SeparateEmbeddings))
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    result = fit(model, tiny_synthetic, objective, train_settings(cfg), resolve_device("cpu"))
    assert result.test["AUC"] > (0.554 + PLUGIN_MEASURED_AUC[name]) / 2, result.test


# ---------------------------------------------------------------- CLI
def test_cli_trains_deepfm_with_tf4ctr(isolated):
    args = ["train", "--model", "deepfm", "--tf4ctr", "--ssem", "SER", "--dfm", "WSF", "--synthetic-rows", "2000",
            "--embedding-dim", "4", "--mlp-c", "8", "--batch-size", "500", "--epochs", "1"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    from tfbench.db import ResultStore

    (row,) = ResultStore(isolated).list_runs()
    assert row.model == "deepfm" and row.loss == "tf"
    assert row.config["tf4ctr"] is True and row.config["ssem"] == "SER" and row.config["dfm"] == "WSF"
    r = CliRunner().invoke(app, ["runs"])
    assert r.exit_code == 0 and "deepfm tf4ctr SER+WSF" in r.output


def test_models_params_lists_every_model_with_its_count():
    r = CliRunner().invoke(app, ["models", "--params"])
    assert r.exit_code == 0, r.output
    counts = {}
    for line in r.output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if len(cells) >= 2 and cells[-1].isdigit():
            counts[cells[0]] = int(cells[-1])
    assert set(MODELS) | {f"{m} --tf4ctr" for m in PLUGIN} <= set(counts)
    paper = dict(embedding_dim=16, mlp_c=[400, 400, 400], mlp_s=[400], batch_norm=True, dropout=0.2)
    assert counts["dcn"] == count_parameters(build_model("dcn", FRAPPE_VOCAB_SIZES, 0, **own_settings("dcn", paper), num_cross_layers=3))
    tf_deepfm = build_model("deepfm", FRAPPE_VOCAB_SIZES, 0, **own_settings("deepfm", paper), tf4ctr=True, ssem="SER", dfm="WSF")
    assert counts["deepfm --tf4ctr"] == count_parameters(tf_deepfm)
    # SER adds a half-width easy table; WSF two scalars; fc1 a weight and a bias
    assert counts["deepfm --tf4ctr"] == counts["deepfm"] + sum(FRAPPE_VOCAB_SIZES) * 8 + 2 + 2
    # Wide & Deep: no SSEM, WSF's two scalars only
    assert counts["widedeep --tf4ctr"] == counts["widedeep"] + 2


def test_plugin_settings_reach_the_plugins_and_stay_out_of_default_keys():
    from tfbench.config import RunConfig
    from tfbench.models.tf4ctr import VotingFusion
    on = RunConfig(model="deepfm", tf4ctr=True, dfm="VF")
    assert on.model_hyperparameters()["plugin_fm"] == "authors"
    assert "plugin_fm" not in on.effective_dict() and "vf_eval" not in on.effective_dict()
    fields = on.replace(plugin_fm="fields")
    assert fields.effective_dict()["plugin_fm"] == "fields"
    assert "plugin_fm" not in RunConfig(model="deepfm", plugin_fm="fields").effective_dict()   # plain DeepFM ignores it
    assert "plugin_fm" not in on.replace(model="xdeepfm", plugin_fm="fields").effective_dict()
    m = build_model("xdeepfm", [5, 7, 3], 0, **on.replace(model="xdeepfm", vf_eval="gumbel", embedding_dim=4,
                                                            mlp_c=(6,), cin_layers=(3,)).model_hyperparameters())
    assert next(f for f in m.modules() if isinstance(f, VotingFusion)).eval_mode == "gumbel"
    with pytest.raises(ConfigError, match="plugin_fm"):
        RunConfig.from_dict(dict(model="deepfm", tf4ctr=True, plugin_fm="rows"), source="config")
