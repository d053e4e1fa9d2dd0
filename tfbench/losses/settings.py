"""The losses' settings; each loss reads only its own (and only those enter a run's key)."""

from __future__ import annotations

from pydantic import field_validator

from tfbench.losses.core import LOSSES
from tfbench.schema import Settings, setting

# the settings each loss reads
LOSS_READS = {"tf": ("alpha", "c", "gamma"), "focal": ("focal_gamma", "focal_alpha"), "rce": ("rce_beta",), "logloss": ()}


class LossSettings(Settings):
    loss: str = setting("", "Loss: tf, logloss, focal, rce ('': tf for tf4ctr and --tf4ctr runs, logloss otherwise)")
    alpha: float = setting(0.25, "Twin Focus α", ge=0.0, le=1.0)
    c: float = setting(0.8, "Twin Focus c", ge=0.0, le=1.0)
    gamma: float = setting(1.0, "Twin Focus γ", ge=0.0)
    focal_gamma: float = setting(2.0, "Focal loss γ_f", ge=0.0)
    focal_alpha: float = setting(-1.0, "Focal loss α for positives (1−α for negatives); -1: no class weighting")
    rce_beta: float = setting(0.25, "R-CE β of the weight p_t^β", ge=0.0)

    @field_validator("loss")
    @classmethod
    def _known(cls, v: str) -> str:
        if v and v not in LOSSES:
            raise ValueError(f"is '{v}', not a known loss ({', '.join(sorted(LOSSES))})")
        return v

    @field_validator("focal_alpha")
    @classmethod
    def _alpha_or_minus_one(cls, v: float) -> float:
        if not (v == -1.0 or 0.0 <= v <= 1.0):
            raise ValueError(f"must be in [0, 1], or -1 for no class weighting, got {v}")
        return v

    def resolved(self, two_stream_default: bool) -> str:
        return self.loss or ("tf" if two_stream_default else "logloss")

    def parameters(self) -> dict[str, float]:
        return {k: v for k, v in self.flat().items() if k != "loss"}

    def key_settings_for(self, loss: str) -> dict:
        """The resolved loss's name and the settings it reads."""
        return {"loss": loss, **{k: getattr(self, k) for k in LOSS_READS.get(loss, ())}}
