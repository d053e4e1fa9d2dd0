"""The typed, validated configuration of one run.

Everything a run depends on is one flat, frozen ``RunConfig``: the CLI, YAML config files and
(later) study files and tuners all produce it, and the training core receives it resolved.
Flat keys keep the CLI, YAML files and the database's JSON in one vocabulary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from tfbench.errors import ConfigError
from tfbench.losses import LOSSES
from tfbench.models import (
    BRIDGE_CHOICES, DFM_CHOICES, IGNORES_MLP_C, IGNORES_MLP_S, MODEL_SETTINGS, MODELS, SSEM_CHOICES,
    PLUGIN_FM_CHOICES, TF4CTR_PLUGIN_MODELS, VF_EVAL_CHOICES,
)

MONITORS = ("AUC", "gAUC", "AUC+gAUC", "logloss")
# Settings added after results existed: left out of the run key at these (behaviour-preserving)
# defaults, so earlier runs keep their keys.
KEY_OMITS_DEFAULT = {
    "attention_layer_norm": False, "afn_dropout": -1.0, "eval_steps": 0, "vf_eval": "softmax", "fuxictr_head": False,
    "cl4ctr_full_table": False, "plugin_fm": "authors",
}
# Settings that are lists of layer widths ('400,400' on the command line, a list in YAML and JSON).
UNIT_LISTS = ("mlp_s", "mlp_c", "cin_layers", "afn_hidden_units", "euler_orders")


@dataclass(frozen=True)
class RunConfig:
    # data
    dataset: str = "synthetic"          # a named dataset or a path to a BARS-style folder
    min_count: int = 2
    split_seed: int = 2023
    synthetic_rows: int = 100_000
    # model
    model: str = "tf4ctr"
    ssem: str = "SER"
    dfm: str = "WSF"
    embedding_dim: int = 16
    mlp_s: tuple[int, ...] = (400,)
    mlp_c: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.2
    batch_norm: bool = True
    vf_tau: float = 0.8
    vf_eval: str = "softmax"            # tf4ctr, VF at evaluation: softmax (deterministic) or gumbel (the authors')
    plugin_fm: str = "authors"          # deepfm --tf4ctr: FM term as the authors' class (authors: one batch-level number) or per row (fields)
    # deepfm, widedeep, xdeepfm: TF4CTR plug-in (Table VIII): SSEM (ssem) at the bottom, DFM (dfm) on top,
    # explicit part = simple encoder, DNN = complex encoder; the loss defaults to tf
    tf4ctr: bool = False
    num_cross_layers: int = 3           # dcn, dcnv2, edcn
    cin_layers: tuple[int, ...] = (16, 16)  # xdeepfm: feature maps per CIN layer
    attention_layers: int = 2           # autoint+: interacting layers
    num_heads: int = 2                  # autoint+: attention heads per layer
    attention_dim: int = 40             # autoint+: width of an interacting layer (all heads)
    attention_scale: bool = False       # autoint+: divide scores by sqrt(head size)
    attention_layer_norm: bool = False  # autoint+: LayerNorm in every interacting layer
    afn_log_neurons: int = 1200         # afn+: logarithmic neurons
    afn_hidden_units: tuple[int, ...] = (400, 400, 400)  # afn+: the MLP after the log layer
    afn_dropout: float = -1.0           # afn+: dropout of that MLP (-1: the run's dropout)
    edcn_bridge: str = "hadamard_product"  # edcn: bridge module
    edcn_tau: float = 1.0               # edcn: temperature of the regulation gates
    euler_orders: tuple[int, ...] = (52,)  # eulernet: order vectors per Euler layer (FuxiCTR's Frappe config)
    # dcn, dcnv2, edcn, afn+: FuxiCTR's one output layer over the streams instead of one head per
    # stream (z_s, z_c: its parts, the bias halved between them)
    fuxictr_head: bool = False
    cl_weight: float = 1.0              # cl4ctr: α, weight of the contrastive loss
    alignment_weight: float = 0.01      # cl4ctr: β, weight of feature alignment
    uniformity_weight: float = 0.01     # cl4ctr: γ, weight of field uniformity
    cl4ctr_full_table: bool = False     # cl4ctr: L_ali/L_uni over the whole table (authors' compute_cl_loss_all), not the batch
    dlf_layers: int = 3                 # dlf: DLF layers
    dlf_tokens: int = 32                # dlf: tokens of each block (linear-compress, FM, first-order-aware)
    dlf_rank: int = 24                  # dlf: rank of the FM blocks' inner-product compression
    dlf_hidden: int = 512               # dlf: hidden units of the FM blocks' MLPs
    # loss ("" = the model's default: tf for tf4ctr and --tf4ctr runs, logloss otherwise)
    loss: str = ""
    alpha: float = 0.25
    c: float = 0.8
    gamma: float = 1.0
    focal_gamma: float = 2.0            # focal: γ_f
    focal_alpha: float = -1.0           # focal: α ∈ [0, 1], or −1 for no class weighting
    rce_beta: float = 0.25              # rce: β of the weight p_t^β
    # training
    epochs: int = 100
    batch_size: int = 10_000
    learning_rate: float = 1e-3
    embedding_regularizer: float = 0.01
    net_regularizer: float = 0.0
    clip_norm: float = 10.0
    patience: int = 2
    # evaluate (and apply patience and the lr decay) every this many optimizer steps instead of
    # after every pass over the train split (0); every count in epochs then counts these rounds
    eval_steps: int = 0
    monitor: str = "AUC"
    lr_decay: float = 0.1
    min_lr: float = 1e-6
    seed: int = 2023
    # a shrunken smoke run (`tfbench run --quick`): part of the key, never mixed with full runs in reports
    quick: bool = False
    # False for tuning runs: the test split is never evaluated, so model selection cannot peek at it
    # (part of the key when False, so a tuning run is never reused as a reported run)
    evaluate_test: bool = True

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "option") -> "RunConfig":
        """Build from flat keys, coercing types; unknown keys and bad values raise ConfigError."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"{source}: unknown setting '{key}'")
            kwargs[name] = _coerce(name, value, known[name].type, source)
        cfg = cls(**kwargs)
        cfg.validate(source)
        return cfg

    def replace(self, **changes) -> "RunConfig":
        return RunConfig.from_dict({**self.to_dict(), **changes})

    @property
    def resolved_loss(self) -> str:
        return self.loss or ("tf" if self.uses_tf4ctr_modules else "logloss")

    @property
    def uses_tf4ctr_modules(self) -> bool:
        """TF4CTR itself, or a baseline with the TF4CTR plug-in (SSEM + DFM)."""
        return self.model == "tf4ctr" or self.tf4ctr

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for name in UNIT_LISTS:
            d[name] = list(getattr(self, name))
        return d

    def effective_dict(self) -> dict[str, Any]:
        """The settings that can change the result: those irrelevant to this model/loss are dropped,
        so that e.g. a DualMLP run does not get a new key when --ssem changes."""
        d = self.to_dict()
        d["loss"] = self.resolved_loss
        if not self.uses_tf4ctr_modules:
            for k in ("ssem", "dfm", "vf_tau", "vf_eval"):
                d.pop(k)
        elif self.dfm != "VF":
            d.pop("vf_tau")
            d.pop("vf_eval")
        if not self.tf4ctr:
            d.pop("tf4ctr")  # keeps the keys of plain runs independent of this flag's existence
            d.pop("plugin_fm")
        for name, default in KEY_OMITS_DEFAULT.items():
            if d.get(name) == default:   # settings added later: at their default, old keys stay valid
                d.pop(name)
        for name, models in MODEL_SETTINGS.items():
            if self.model not in models:
                d.pop(name, None)
        if self.model in IGNORES_MLP_S:
            d.pop("mlp_s")
        if self.model in IGNORES_MLP_C:
            d.pop("mlp_c")
        if d["loss"] != "tf":
            for k in ("alpha", "c", "gamma"):
                d.pop(k)
        if d["loss"] != "focal":
            for k in ("focal_gamma", "focal_alpha"):
                d.pop(k)
        if d["loss"] != "rce":
            d.pop("rce_beta")
        if self.dataset != "synthetic":
            d.pop("synthetic_rows")
        if not self.quick:
            d.pop("quick")  # keeps the keys of full runs independent of this flag's existence
        if self.evaluate_test:
            d.pop("evaluate_test")  # likewise for every run that is not a tuning trial
        return d

    def model_hyperparameters(self) -> dict[str, Any]:
        hp = dict(
            embedding_dim=self.embedding_dim, mlp_s=self.mlp_s, mlp_c=self.mlp_c,
            dropout=self.dropout, batch_norm=self.batch_norm,
        )
        if self.model == "tf4ctr":
            hp.update(ssem=self.ssem, dfm=self.dfm, vf_tau=self.vf_tau)
        elif self.tf4ctr:
            hp.update(tf4ctr=True, ssem=self.ssem, dfm=self.dfm, vf_tau=self.vf_tau)
        hp.update({name: getattr(self, name) for name, models in MODEL_SETTINGS.items() if self.model in models})
        return hp

    def loss_hyperparameters(self) -> dict[str, Any]:
        return dict(
            alpha=self.alpha, c=self.c, gamma=self.gamma, focal_gamma=self.focal_gamma,
            focal_alpha=self.focal_alpha, rce_beta=self.rce_beta,
        )

    # ------------------------------------------------------------------ validation
    def validate(self, source: str = "option") -> None:
        def bad(opt: str, why: str):
            where = f"--{opt.replace('_', '-')}" if source == "option" else f"{source}: '{opt}'"
            raise ConfigError(f"{where} {why}")

        if self.model not in MODELS:
            bad("model", f"is '{self.model}', not a known model ({', '.join(sorted(MODELS))})")
        if self.tf4ctr and self.model not in TF4CTR_PLUGIN_MODELS:
            bad("tf4ctr", f"works only with the models {', '.join(TF4CTR_PLUGIN_MODELS)}, not '{self.model}'")
        if self.loss and self.loss not in LOSSES:
            bad("loss", f"is '{self.loss}', not a known loss ({', '.join(sorted(LOSSES))})")
        if self.ssem not in SSEM_CHOICES:
            bad("ssem", f"is '{self.ssem}', must be one of {', '.join(SSEM_CHOICES)}")
        if self.dfm not in DFM_CHOICES:
            bad("dfm", f"is '{self.dfm}', must be one of {', '.join(DFM_CHOICES)}")
        if self.plugin_fm not in PLUGIN_FM_CHOICES:
            bad("plugin_fm", f"is '{self.plugin_fm}', must be one of {', '.join(PLUGIN_FM_CHOICES)}")
        if self.vf_eval not in VF_EVAL_CHOICES:
            bad("vf_eval", f"is '{self.vf_eval}', must be one of {', '.join(VF_EVAL_CHOICES)}")
        if self.monitor not in MONITORS:
            bad("monitor", f"is '{self.monitor}', must be one of {', '.join(MONITORS)}")
        if not 0.0 <= self.c <= 1.0:
            bad("c", f"must be in [0, 1], got {self.c}")
        if not 0.0 <= self.alpha <= 1.0:
            bad("alpha", f"must be in [0, 1], got {self.alpha}")
        if not self.gamma >= 0.0:
            bad("gamma", f"must be >= 0, got {self.gamma}")
        if not self.focal_gamma >= 0.0:
            bad("focal_gamma", f"must be >= 0, got {self.focal_gamma}")
        if not (self.focal_alpha == -1.0 or 0.0 <= self.focal_alpha <= 1.0):
            bad("focal_alpha", f"must be in [0, 1], or -1 for no class weighting, got {self.focal_alpha}")
        if not self.rce_beta >= 0.0:
            bad("rce_beta", f"must be >= 0, got {self.rce_beta}")
        for name in ("num_cross_layers", "attention_layers", "num_heads", "attention_dim", "afn_log_neurons",
                     "dlf_layers", "dlf_tokens", "dlf_rank", "dlf_hidden"):
            if getattr(self, name) < 1:
                bad(name, f"must be >= 1, got {getattr(self, name)}")
        if self.attention_dim % self.num_heads:
            bad("attention_dim", f"must be a multiple of num_heads ({self.num_heads}), got {self.attention_dim}")
        if self.edcn_bridge not in BRIDGE_CHOICES:
            bad("edcn_bridge", f"is '{self.edcn_bridge}', must be one of {', '.join(BRIDGE_CHOICES)}")
        if not 0.0 <= self.dropout < 1.0:
            bad("dropout", f"must be in [0, 1), got {self.dropout}")
        if not (self.afn_dropout == -1.0 or 0.0 <= self.afn_dropout < 1.0):
            bad("afn_dropout", f"must be in [0, 1), or -1 for the run's dropout, got {self.afn_dropout}")
        if self.embedding_dim < 2:
            bad("embedding_dim", f"must be >= 2, got {self.embedding_dim}")
        for name in ("min_count", "synthetic_rows", "epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                bad(name, f"must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "vf_tau", "clip_norm", "edcn_tau"):
            if not getattr(self, name) > 0:
                bad(name, f"must be > 0, got {getattr(self, name)}")
        for name in ("embedding_regularizer", "net_regularizer", "min_lr", "cl_weight", "alignment_weight",
                     "uniformity_weight"):
            if not getattr(self, name) >= 0:
                bad(name, f"must be >= 0, got {getattr(self, name)}")
        if self.eval_steps < 0:
            bad("eval_steps", f"must be >= 0 (0: evaluate after every pass), got {self.eval_steps}")
        if not 0.0 < self.lr_decay <= 1.0:
            bad("lr_decay", f"must be in (0, 1], got {self.lr_decay}")
        for name in UNIT_LISTS:
            units = getattr(self, name)
            if not units or any(u < 1 for u in units):
                bad(name, f"must be a non-empty list of positive layer widths, got {list(units)}")


def _coerce(name: str, value: Any, typ: Any, source: str) -> Any:
    where = f"--{name.replace('_', '-')}" if source == "option" else f"{source}: '{name}'"
    try:
        if name in UNIT_LISTS:
            return parse_units(value)
        if typ in ("bool", bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("true", "1", "yes", "on"):
                    return True
                if low in ("false", "0", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if typ in ("int", int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if typ in ("float", float):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} has an invalid value {value!r}") from None


def parse_units(value: Any) -> tuple[int, ...]:
    """'400,400' or '[400, 400]' or [400, 400] → (400, 400)."""
    if isinstance(value, str):
        text = value.strip().strip("[]()")
        parts = [p for p in text.replace(" ", "").split(",") if p]
        return tuple(int(p) for p in parts)
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A flat YAML mapping of RunConfig keys (validated when merged)."""
    from tfbench.yamlfile import read_yaml

    p = Path(path)
    data = read_yaml(p, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping of settings, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(RunConfig)}
    for key in data:
        if str(key).replace("-", "_") not in known:
            raise ConfigError(f"config file {p}: unknown setting '{key}'")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def run_key(dataset_fingerprint: str, config: RunConfig) -> str:
    """Content key of a run: the dataset's content fingerprint, every result-relevant setting, the seed."""
    settings = config.effective_dict()
    settings.pop("dataset")  # the fingerprint identifies the data; a path's spelling must not
    payload = json.dumps(
        {"dataset": dataset_fingerprint, "config": settings, "v": 1},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]
