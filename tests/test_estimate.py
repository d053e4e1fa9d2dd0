"""`tfbench run STUDY --dry-run --estimate --workers W`: wall time predicted from stored runs
(seconds per sample and epochs of each model, from any dataset), checked against sums done by
hand here."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tfbench.config import RunConfig
from tfbench.studies.estimate import estimate
from tfbench.studies.plan import PlannedRun

FRAPPE_TRAIN = 202_027  # the paper's Table III / tfbench's catalogue
KKBOX_TRAIN = 5_901_932


def stored(model, sps, epochs, status="done", tf4ctr=False):
    return SimpleNamespace(model=model, samples_per_second=sps, epochs_run=epochs, status=status,
                           config={"tf4ctr": tf4ctr})


def planned(dataset, model, seed=2023, **cfg):
    return PlannedRun(study="s", dataset=dataset, cell=(("model", model),), seed=seed,
                      config=RunConfig.from_dict(dict(dataset=dataset, model=model, seed=seed, **cfg)))


ROWS = [stored("dnn", 1000.0, 4), stored("dnn", 3000.0, 6), stored("dnn", 10.0, 1, status="failed"),
        stored("dcn", 500.0, 10), stored("dcn", 500.0, 10, tf4ctr=True)]


def test_cost_is_seconds_per_sample_times_rows_times_epochs_and_workers_take_the_longest_first():
    dnn_sps = (1 / 1000 + 1 / 3000) / 2  # median of two; the failed run is left out
    plan = [planned("frappe", "dnn"), planned("kkbox", "dnn"), planned("frappe", "dcn"),
            planned("frappe", "dnn")]  # the last one is the first again: counted once
    est = estimate(plan, ROWS, workers=2)
    frappe_dnn, kkbox_dnn, frappe_dcn = (dnn_sps * FRAPPE_TRAIN * 5, dnn_sps * KKBOX_TRAIN * 5,
                                         (1 / 500) * FRAPPE_TRAIN * 10)
    assert est.runs == 3
    assert est.run_seconds == pytest.approx(frappe_dnn + kkbox_dnn + frappe_dcn)
    assert est.wall_seconds == pytest.approx(max(kkbox_dnn, frappe_dnn + frappe_dcn))
    assert estimate(plan, ROWS, workers=1).wall_seconds == pytest.approx(est.run_seconds)
    assert est.unmeasured == set()


def test_steps_epochs_a_cap_on_epochs_and_an_unmeasured_model():
    plan = [planned("frappe-nfm", "dnn", eval_steps=21, batch_size=1000, epochs=3),  # fewer epochs than measured
            planned("frappe", "xdeepfm", epochs=100)]
    est = estimate(plan, ROWS, workers=4)
    dnn_sps = (1 / 1000 + 1 / 3000) / 2
    median_model = (sorted([dnn_sps, 1 / 500, 1 / 500])[1], sorted([5, 10, 10])[1])  # dnn, dcn, dcn+tf
    assert est.unmeasured == {"xdeepfm"}
    assert est.run_seconds == pytest.approx(dnn_sps * 21 * 1000 * 3 + median_model[0] * FRAPPE_TRAIN * median_model[1])


def test_no_stored_timings_is_refused():
    with pytest.raises(ValueError, match="no done runs with timings"):
        estimate([planned("frappe", "dnn")], [stored("dnn", 1000.0, 4, status="failed")], workers=1)
