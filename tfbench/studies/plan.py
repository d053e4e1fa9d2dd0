"""Expanding a study into planned runs (dataset × grid cell × seed)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from tfbench.config import RunConfig
from tfbench.errors import ConfigError
from tfbench.studies.spec import DEFAULT_SEEDS, Study


@dataclass(frozen=True)
class PlannedRun:
    study: str
    dataset: str
    cell: tuple[tuple[str, str], ...]   # ((axis, label), ...) in grid order
    seed: int
    config: RunConfig

    @property
    def cell_dict(self) -> dict[str, str]:
        return dict(self.cell)

    def describe(self) -> str:
        cell = " ".join(f"{a}={l}" for a, l in self.cell)
        return f"{self.dataset} {cell} seed={self.seed}"


def parse_seeds(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """'3' → the first three seeds (the study's, continued by the defaults); '2023,2024' → those."""
    if text is None or text == "":
        return tuple(default)
    text = text.strip()
    try:
        if "," not in text:
            n = int(text)
            if n < 1:
                raise ValueError
            pool = list(dict.fromkeys([*default, *DEFAULT_SEEDS]))
            while len(pool) < n:
                pool.append(pool[-1] + 1)
            return tuple(pool[:n])
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--seeds must be a count (e.g. 3) or a list (e.g. 2023,2024), got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must list distinct seeds, got {text!r}")
    return seeds


def expand(
    study: Study,
    datasets: list[str] | None = None,
    seeds: tuple[int, ...] | None = None,
    quick: bool = False,
) -> list[PlannedRun]:
    """Every run of the study, ordered dataset → cell (grid order) → seed."""
    plan: list[PlannedRun] = []
    axes = study.axes
    for dataset in datasets or list(study.datasets):
        base = {**study.base, **study.dataset_settings.get(dataset, {}), "dataset": dataset}
        if quick:
            base.update(study.quick)
            base["quick"] = True
        for labels in itertools.product(*(list(study.grid[a]) for a in axes)):
            values = {a: study.grid[a][l] for a, l in zip(axes, labels)}
            cell = tuple(zip(axes, labels))
            for seed in seeds or study.seeds:
                cfg = RunConfig.from_dict({**base, **values, "seed": seed}, source=f"{study.path}")
                plan.append(PlannedRun(study.name, dataset, cell, seed, cfg))
    return plan
