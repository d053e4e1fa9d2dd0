"""A sampler whose random draws are seeded per trial number.

Seeding once per process made two samplers with the same seed (the workers of two `tune`
commands sharing a study, or a study continued by a second command) draw the same points: the
later trial then silently reused the earlier one's run, and a second ``--sampler random``
command repeated the first one's trials. Trial numbers are handed out by the database, so seeding
each trial's draws by (seed, trial number) keeps concurrent and continued trials apart while a
command run alone still draws the same points every time.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import optuna


def trial_seed(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """Delegates every call to a sampler made afresh for each trial by ``make(trial_seed(seed,
    trial.number))``. TPE, random and grid sampling keep no state between trials other than their
    random generator (the history is read from the study), so a fresh inner sampler per trial
    changes nothing but where the random numbers come from."""

    def __init__(self, make: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self._make, self._seed = make, seed
        self._inner = make(seed)

    def before_trial(self, study, trial) -> None:
        self._inner = self._make(trial_seed(self._seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()
