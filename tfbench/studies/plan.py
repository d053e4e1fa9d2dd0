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


MAX_SEED_COUNT = 100


def parse_seeds(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """'3' → the first three seeds (the study's, continued by the defaults); '2023,2024' → those;
    '2023,' → the seed 2023 alone (a bare number is a count, at most ``MAX_SEED_COUNT``)."""
    if text is None or text == "":
        return tuple(default)
    text = text.strip()
    try:
        if "," not in text:
            n = int(text)
            if n < 1:
                raise ValueError
            if n > MAX_SEED_COUNT:
                # `--seeds 2023` meant as "seed 2023" would otherwise plan 2,023 runs per cell
                raise ConfigError(
                    f"--seeds {n} is a count of {n} seeds (at most {MAX_SEED_COUNT}); "
                    f"for the single seed {n}, write --seeds {n},"
                )
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
    """Every run of the study, ordered dataset → cell (grid order) → seed (none for an analytic study)."""
    plan: list[PlannedRun] = []
    if not study.trains:   # no grid: the product of no axes would be one empty cell per dataset
        return plan
    axes = study.axes
    for dataset in datasets or list(study.datasets):
        for labels in itertools.product(*(list(study.grid[a]) for a in axes)):
            cell = tuple(zip(axes, labels))
            for seed in seeds or study.seeds:
                plan.append(PlannedRun(study.name, dataset, cell, seed, run_config(study, dataset, dict(cell), seed, quick)))
    return plan


def run_config(study: Study, dataset: str, cell: dict[str, str], seed: int, quick: bool = False) -> RunConfig:
    """The configuration of one run of the study: base < dataset settings < cell settings < quick
    < the cell's grid values < the seed."""
    settings = {**study.base, **study.dataset_settings.get(dataset, {}), **study.settings_for(dataset, cell)}
    if quick:
        settings.update(study.quick)
        settings["quick"] = True
    settings.update({axis: study.grid[axis][label] for axis, label in cell.items()})
    settings.update(dataset=dataset, seed=seed)
    return RunConfig.from_dict(settings, source=f"{study.path}")


def select_cells(study: Study, plan: list[PlannedRun], only: list[str] | None) -> list[PlannedRun]:
    """Keep the runs whose cell matches every ``AXIS=LABEL[,LABEL…]`` filter.

    Several filters on different axes all have to match; labels compare case-insensitively
    (``model=autoint+`` selects ``AutoInt+``). An unknown axis or label is an error that lists
    what the study has, so a typo never silently selects nothing.
    """
    if not only:
        return plan
    wanted: dict[str, set[str]] = {}
    for text in only:
        axis, sep, labels = text.partition("=")
        axis = axis.strip()
        if not sep or not axis or not labels.strip():
            raise ConfigError(f"--only {text!r}: expected AXIS=LABEL[,LABEL...], e.g. model=DCN,EDCN")
        if axis not in study.grid:
            raise ConfigError(f"--only {text!r}: study {study.name} has no axis {axis!r} "
                              f"(axes: {', '.join(study.axes)})")
        by_lower = {label.lower(): label for label in study.grid[axis]}
        for label in (x.strip() for x in labels.split(",") if x.strip()):
            if label.lower() not in by_lower:
                raise ConfigError(f"--only {text!r}: axis {axis!r} of study {study.name} has no label "
                                  f"{label!r} (labels: {', '.join(study.grid[axis])})")
            wanted.setdefault(axis, set()).add(by_lower[label.lower()])
    return [p for p in plan if all(p.cell_dict[a] in labels for a, labels in wanted.items())]


def seed_batches(plan: list[PlannedRun], size: int) -> list[list[PlannedRun]]:
    """The runs in groups of at most ``size`` whose configurations differ only in the seed (one
    study, dataset and cell), in plan order: what ``tfbench run --seed-batch`` trains together."""
    from tfbench.seed_batch_runs import seed_batch_key

    if size < 1:
        raise ConfigError(f"--seed-batch must be at least 1, got {size}")
    cells: dict[tuple, list[PlannedRun]] = {}
    for item in plan:
        cells.setdefault((item.study, seed_batch_key(item.config)), []).append(item)
    return [runs[i: i + size] for runs in cells.values() for i in range(0, len(runs), size)]
