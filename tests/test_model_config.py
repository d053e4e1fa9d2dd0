"""Model and loss settings in RunConfig: validated with the option's name, passed to the model
that reads them (and only to it), and part of a run's key only where they can change its result."""

import pytest
import torch

from tfbench.config import RunConfig, run_key
from tfbench.errors import ConfigError
from tfbench.models import MODELS, build_model

VOCAB = [7, 5, 3, 9]


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("bad", [
    dict(focal_gamma=-0.5), dict(focal_alpha=2.0), dict(focal_alpha=-0.5), dict(rce_beta=-1), dict(num_cross_layers=0),
    dict(cin_layers=[]), dict(cin_layers=[16, 0]), dict(attention_layers=0), dict(num_heads=0),
    dict(attention_dim=0), dict(attention_dim=41), dict(afn_log_neurons=0), dict(afn_hidden_units=[400, -1]),
    dict(edcn_bridge="sum"), dict(edcn_tau=0.0), dict(edcn_tau=-1.0),
    dict(euler_orders=[]), dict(euler_orders=[4, 0]), dict(cl_weight=-0.1), dict(alignment_weight=-1.0),
    dict(uniformity_weight=-1e-3), dict(dlf_layers=0), dict(dlf_tokens=0), dict(dlf_rank=0), dict(dlf_hidden=0),
])
def test_model_and_loss_settings_are_validated_with_their_names(bad):
    name = next(iter(bad))
    with pytest.raises(ConfigError, match="--" + name.replace("_", "-")):
        RunConfig.from_dict(bad)
    with pytest.raises(ConfigError, match=f"'{name}'"):
        RunConfig.from_dict(bad, source="config file x.yaml")


def test_bad_values_of_the_model_settings_are_refused_and_lists_parsed():
    for bad in (dict(cin_layers="16,x"), dict(num_heads=1.5), dict(attention_scale="maybe"), dict(edcn_tau="warm")):
        with pytest.raises(ConfigError, match="invalid value"):
            RunConfig.from_dict(bad)
    assert RunConfig.from_dict(dict(model="xdeepfm", cin_layers="[8, 4]")).cin_layers == (8, 4)
    assert RunConfig.from_dict(dict(model="xdeepfm", cin_layers="[8, 4]")).to_dict()["cin_layers"] == [8, 4]
    assert RunConfig.from_dict(dict(model="afn+", afn_hidden_units="32")).afn_hidden_units == (32,)
    cfg = RunConfig.from_dict(dict(model="autoint+", attention_scale="yes", num_heads=3, attention_dim=9))
    assert cfg.attention_scale is True and cfg.attention_dim == 9
    assert RunConfig.from_dict(dict(model="eulernet", euler_orders="30,30")).euler_orders == (30, 30)


def test_a_setting_the_model_does_not_read_is_an_error_where_given_explicitly():
    """On the command line (strict) a misrouted setting is an error naming it and the model; in a
    shared study or config base (lenient) it is dropped, but its value is still checked."""
    with pytest.raises(ConfigError, match=r"^--cin-layers is not a setting of model 'dcn'"):
        RunConfig.from_dict(dict(model="dcn", cin_layers="8"), strict=True)
    with pytest.raises(ConfigError, match=r"--ssem is not a setting of model 'deepfm' \(a plug-in setting: add --tf4ctr\)"):
        RunConfig.from_dict(dict(model="deepfm", ssem="GM"), strict={"ssem"})
    lenient = RunConfig.from_dict(dict(model="dcn", cin_layers="8"))
    assert "cin_layers" not in lenient.to_dict() and lenient == RunConfig(model="dcn")
    with pytest.raises(ConfigError, match="--cin-layers"):
        RunConfig.from_dict(dict(model="dcn", cin_layers="8,x"))


# ---------------------------------------------------------------- run keys
# Each model's own settings, written out here (independently of the schemas in tfbench/models/*.py).
OWN = {
    "dcn": {"num_cross_layers"},
    "dcnv2": {"num_cross_layers"},
    "xdeepfm": {"cin_layers"},
    "autoint+": {"attention_layers", "num_heads", "attention_dim", "attention_scale"},
    "afn+": {"afn_log_neurons", "afn_hidden_units"},
    "edcn": {"num_cross_layers", "edcn_bridge", "edcn_tau"},
    "eulernet": {"euler_orders"},
    "cl4ctr": {"cl_weight", "alignment_weight", "uniformity_weight"},
    "dlf": {"dlf_layers", "dlf_tokens", "dlf_rank", "dlf_hidden"},
}
CHANGES = dict(
    cin_layers=[3], attention_layers=1, num_heads=4, attention_dim=8, attention_scale=True, afn_log_neurons=9,
    afn_hidden_units=[5], num_cross_layers=1, edcn_bridge="pointwise_addition", edcn_tau=2.0, euler_orders=[3, 3],
    cl_weight=0.5, alignment_weight=0.1, uniformity_weight=0.2, dlf_layers=2, dlf_tokens=8, dlf_rank=4, dlf_hidden=64,
)
READS_MLP_S = {"tf4ctr", "dualmlp"}
IGNORES_MLP_C = {"edcn", "eulernet"}  # EDCN's deep layers are F·D wide; EulerNet has only Euler layers


@pytest.mark.parametrize("model", sorted(MODELS))
def test_config_keeps_each_model_setting_only_where_it_matters(model):
    base = RunConfig(model=model)
    eff = base.effective_dict()
    # the hand-written table for the models it lists; a model added later: its own schema's names
    declared = set(CHANGES) & set(MODELS[model].settings.model_fields)
    mine = OWN.get(model, declared)
    assert mine == declared, "the model's schema and this table disagree"
    assert set(CHANGES) & set(eff) == mine
    for k, v in CHANGES.items():
        same = run_key("fp", base) == run_key("fp", base.replace(**{k: v}))
        assert same == (k not in mine), k
    assert ("mlp_s" in eff) == (model in READS_MLP_S)
    assert ("mlp_c" in eff) == (model not in IGNORES_MLP_C)


def test_config_keeps_loss_and_cross_settings_only_where_they_matter():
    base = RunConfig(model="dcn")
    eff = base.effective_dict()
    for k in ("focal_gamma", "focal_alpha", "rce_beta", "mlp_s", "alpha", "c", "gamma"):
        assert k not in eff
    assert eff["num_cross_layers"] == 3
    assert base.model_hyperparameters()["num_cross_layers"] == 3
    focal = base.replace(loss="focal")
    assert {"focal_gamma", "focal_alpha"} <= set(focal.effective_dict()) and "rce_beta" not in focal.effective_dict()
    assert "rce_beta" in base.replace(loss="rce").effective_dict()
    # a setting a run does not use cannot change its key; one it uses does
    assert run_key("fp", base) == run_key("fp", base.replace(focal_gamma=5.0, rce_beta=0.9, mlp_s=[7]))
    assert run_key("fp", focal) != run_key("fp", focal.replace(focal_gamma=5.0))
    assert run_key("fp", base) != run_key("fp", base.replace(num_cross_layers=2))
    tf = RunConfig(model="tf4ctr")
    assert "num_cross_layers" not in tf.effective_dict() and "mlp_s" in tf.effective_dict()
    assert "num_cross_layers" not in tf.model_hyperparameters()
    hp = RunConfig(loss="focal", focal_gamma=1.5, focal_alpha=0.3, rce_beta=0.1).loss_hyperparameters()
    assert (hp["focal_gamma"], hp["focal_alpha"], hp["rce_beta"]) == (1.5, 0.3, 0.1)


def test_afn_dropout_applies_to_the_afn_mlp_only_and_keys_stay_stable():
    from tfbench.models.layers import Dropout

    def rates(module):
        return sorted({m.p for m in module.modules() if isinstance(m, Dropout)})

    cfg = RunConfig(model="afn+", dropout=0.2, afn_dropout=0.4, afn_log_neurons=8, afn_hidden_units=(8,), mlp_c=(8,))
    model = build_model("afn+", [5, 6], 0, **cfg.model_hyperparameters())
    assert rates(model.afn_mlp) == [0.4] and rates(model.dnn) == [0.2]
    same = RunConfig(model="afn+", dropout=0.2, afn_log_neurons=8, afn_hidden_units=(8,), mlp_c=(8,))
    assert rates(build_model("afn+", [5, 6], 0, **same.model_hyperparameters()).afn_mlp) == [0.2]
    # at the default (-1) the setting is not part of the key; set, it is
    assert "afn_dropout" not in same.effective_dict() and cfg.effective_dict()["afn_dropout"] == 0.4
    assert run_key("fp", same) != run_key("fp", cfg)
    with pytest.raises(ConfigError, match="afn-dropout must be in"):
        RunConfig.from_dict({"model": "afn+", "afn_dropout": 1.0})


# ---------------------------------------------------------------- settings reach the model
def test_config_hyperparameters_reach_xdeepfm_autoint_afn_edcn():
    raw = dict(
        embedding_dim=4, mlp_c=[8], cin_layers="5,4,3", attention_layers=3, num_heads=3, attention_dim=9,
        attention_scale=True, afn_log_neurons=11, afn_hidden_units=[7, 6], num_cross_layers=4,
        edcn_bridge="concatenation", edcn_tau=0.3,
    )
    built, cfg = {}, {}
    for name in ["xdeepfm", "autoint+", "afn+", "edcn"]:
        cfg[name] = RunConfig.from_dict({**raw, "model": name})
        built[name] = build_model(name, VOCAB, 0, **cfg[name].model_hyperparameters())
    assert [l.weight.shape[0] for l in built["xdeepfm"].cin.layers] == [5, 4, 3]
    ai = built["autoint+"].attention
    assert len(ai) == 3 and all(l.num_heads == 3 and l.output_dim == 9 and l.scale for l in ai)
    af = built["afn+"]
    assert af.log_transform.num_neurons == 11 and af.afn_mlp[0].in_features == 11 * 4
    assert [l.out_features for l in af.afn_mlp if isinstance(l, torch.nn.Linear)] == [7, 6, 1]
    ed = built["edcn"]
    assert len(ed.cross_layers) == 4 and all(b.kind == "concatenation" for b in ed.bridges)
    assert all(r.tau == 0.3 for r in ed.regulations)
    # each model receives only its own settings
    assert "cin_layers" in cfg["xdeepfm"].model_hyperparameters()
    assert "cin_layers" not in cfg["edcn"].model_hyperparameters()
    assert "afn_log_neurons" not in cfg["autoint+"].model_hyperparameters()
    assert "num_cross_layers" in cfg["edcn"].model_hyperparameters()


def test_config_hyperparameters_reach_eulernet_cl4ctr_dlf():
    raw = dict(
        embedding_dim=4, mlp_c=[8], euler_orders="6,5,4", cl_weight=0.5, alignment_weight=0.2,
        uniformity_weight=0.1, dlf_layers=2, dlf_tokens=3, dlf_rank=4, dlf_hidden=7,
    )
    cfg = {name: RunConfig.from_dict({**raw, "model": name}) for name in ["eulernet", "cl4ctr", "dlf", "dnn"]}
    built = {name: build_model(name, VOCAB, 0, **cfg[name].model_hyperparameters()) for name in ["eulernet", "cl4ctr", "dlf"]}
    assert [l.num_out for l in built["eulernet"].layers] == [6, 5, 4]
    cl = built["cl4ctr"]
    assert (cl.cl_weight, cl.alignment_weight, cl.uniformity_weight) == (0.5, 0.2, 0.1)
    dlf = built["dlf"]
    assert len(dlf.layers) == 2 and dlf.layers[0].fmb.weight.shape == (len(VOCAB), 4)
    assert dlf.layers[0].lcb.weight.shape == (len(VOCAB), 3) and dlf.layers[1].fmb.mlp[0].out_features == 7
    assert "euler_orders" in cfg["eulernet"].model_hyperparameters()
    assert "euler_orders" not in cfg["dlf"].model_hyperparameters()
    assert "cl_weight" not in cfg["dnn"].model_hyperparameters()
    assert "dlf_rank" not in cfg["cl4ctr"].model_hyperparameters()
