"""A run is stored as `done` only when its metrics are real (issue #17): an undefined validation
monitor is refused before training, a diverged model fails its run, an interrupted run is
`interrupted` (and resumable), and each run records the threads it trained with."""

import dataclasses

import numpy as np
import pytest
import torch

from tfbench.config import RunConfig
from tfbench.db import ResultStore
from tfbench.errors import ConfigError
from tfbench.runner import execute_run
from tfbench.train import TrainingError

from conftest import train_once

TINY = dict(synthetic_rows=20_000, embedding_dim=4, mlp_s=[16], mlp_c=[16, 16], batch_size=2000, epochs=2,
            dropout=0.0, embedding_regularizer=0.0)


def _with_valid(data, **changes):
    return dataclasses.replace(data, valid=dataclasses.replace(data.valid, **changes))


def _store(tmp_path) -> ResultStore:
    return ResultStore(f"sqlite:///{tmp_path / 'r.db'}")


@pytest.mark.parametrize("label,what", [(0.0, "only negatives"), (1.0, "only positives")])
def test_a_one_class_validation_split_is_refused_before_training(tiny_synthetic, tmp_path, label, what):
    data = _with_valid(tiny_synthetic, y=np.full_like(tiny_synthetic.valid.y, label))
    batches = []
    store = _store(tmp_path)
    with pytest.raises(TrainingError) as e:
        execute_run(RunConfig.from_dict(TINY), store, dataset=data, device="cpu",
                    on_batch=lambda *a: batches.append(a))
    assert str(e.value) == (f"the valid split has {what} ({len(data.valid.y)} rows): the monitor AUC (an AUC) "
                            "is undefined on it")
    assert batches == []                                  # refused before the first step
    assert [r.status for r in store.list_runs()] == ["failed"]


def test_a_logloss_monitor_accepts_a_one_class_validation_split(tiny_synthetic):
    data = _with_valid(tiny_synthetic, y=np.zeros_like(tiny_synthetic.valid.y))
    result = train_once(RunConfig.from_dict({**TINY, "epochs": 1, "monitor": "logloss"}), data)
    assert result.best_epoch == 1 and np.isfinite(result.valid["logloss"])


def test_a_gauc_monitor_without_user_field_or_mixed_users_is_refused_before_training(tiny_synthetic):
    cfg = RunConfig.from_dict({**TINY, "monitor": "gAUC"})
    with pytest.raises(TrainingError, match="needs a user field for gAUC, which this dataset does not have"):
        train_once(cfg, _with_valid(tiny_synthetic, group=None))
    # every user holds one class only: each user = one row
    one_row_users = np.arange(len(tiny_synthetic.valid.y), dtype=np.int64)
    with pytest.raises(TrainingError, match="no user of the valid split has both classes"):
        train_once(cfg, _with_valid(tiny_synthetic, group=one_row_users))
    # the same split with its real users trains
    assert train_once(RunConfig.from_dict({**TINY, "epochs": 1, "monitor": "gAUC"}), tiny_synthetic).best_epoch == 1


def test_a_diverged_model_fails_its_run_instead_of_scoring_nan(tiny_synthetic, tmp_path):
    store = _store(tmp_path)
    cfg = RunConfig.from_dict({**TINY, "model": "dnn", "epochs": 1, "learning_rate": 1e30})
    with pytest.raises(TrainingError, match=r"not finite after epoch 1|training loss became nan in epoch 1"):
        execute_run(cfg, store, dataset=tiny_synthetic, device="cpu")
    (row,) = store.list_runs()
    assert row.status == "failed" and row.test_auc is None


def test_non_finite_predictions_are_refused_even_when_the_loss_looks_finite(tiny_synthetic):
    from tfbench.train.loop import finite_logits

    logits = torch.tensor([0.5, float("nan"), 1.0, float("inf")])
    with pytest.raises(TrainingError) as e:
        finite_logits(logits, "valid", 3)
    assert str(e.value) == ("2 of 4 predictions on the valid split are not finite after epoch 3 "
                            "(the model diverged; try a lower learning rate)")
    assert finite_logits(logits[[0, 2]], "test", None) is not None


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_settings_are_refused(value):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"learning_rate": value}, source="option")
    assert str(e.value).startswith("--learning-rate must be a finite number, got")


def test_an_interrupted_run_is_interrupted_not_failed_and_resumes(tiny_synthetic, tmp_path):
    store = _store(tmp_path)
    cfg = RunConfig.from_dict(TINY)

    def interrupt(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute_run(cfg, store, dataset=tiny_synthetic, device="cpu", on_epoch=interrupt)
    (row,) = store.list_runs()
    assert row.status == "interrupted" and "resumable" in row.error
    assert store.list_runs(status="failed") == []
    outcome = execute_run(cfg, store, dataset=tiny_synthetic, device="cpu")
    assert outcome.trained and outcome.row.status == "done" and outcome.row.attempts == 2


def test_each_run_records_its_thread_count(tiny_synthetic, tmp_path):
    store = _store(tmp_path)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        row = execute_run(RunConfig.from_dict({**TINY, "epochs": 1}), store, dataset=tiny_synthetic, device="cpu").row
    finally:
        torch.set_num_threads(before)
    assert row.threads == 1
