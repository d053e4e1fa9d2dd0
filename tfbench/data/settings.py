"""Which data a run trains on (read by ``tfbench.data.load_dataset``)."""

from __future__ import annotations

from tfbench.schema import Settings, setting


class DataSettings(Settings):
    dataset: str = setting("synthetic", "A named dataset (see `tfbench datasets`) or a path to a BARS-style folder")
    min_count: int = setting(2, "Values seen fewer times in train map to OOV", ge=1)
    split_seed: int = setting(2023, "Seed of the random 7:2:1 split (datasets without given splits)")
    synthetic_rows: int = setting(100_000, "Rows of the synthetic dataset", ge=1)

    def key_settings(self) -> dict:
        d = super().key_settings()
        if self.dataset != "synthetic":
            d.pop("synthetic_rows")
        return d
