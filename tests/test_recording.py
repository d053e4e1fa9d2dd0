"""What runs record beyond their metrics (tfbench.train.record): difficulty bands, prediction
histograms, gradient norms of z_s and z_c, timings. Each is checked against an independent
recount (numpy on the model's own predictions, autograd on the same batch), and a run that
records nothing keeps its key and stores nothing extra."""

import math

import numpy as np
import pytest
import torch

from tfbench.config import RunConfig, run_key
from tfbench.db import ResultStore
from tfbench.db.schema import BandRow, GradStepRow, HistogramRow, RunRow, TimingRow
from tfbench.losses import make_objective
from tfbench.runner import build_for, execute_run, train_settings
from tfbench.train import fit, resolve_device, seed_everything
from tfbench.train.loop import predict_logits
from tfbench.train.placement import place_splits

from conftest import train_once

TINY = dict(synthetic_rows=20_000, embedding_dim=4, mlp_s=[16], mlp_c=[16, 16], batch_size=1000, epochs=3,
            patience=3, dropout=0.0, embedding_regularizer=0.0, learning_rate=1e-2)


def recount(logits: torch.Tensor, y: torch.Tensor, a: float, b: float, bins: int) -> dict:
    """float64 numpy: {(label): (misclassified, poorly, well, histogram)} from raw logits."""
    z = logits.double().numpy()
    p = 1.0 / (1.0 + np.exp(-z))
    label = y.numpy() > 0.5
    out = {}
    for cls in (0, 1):
        d = np.abs(cls - p[label == cls])
        hist, _ = np.histogram(p[label == cls], bins=bins, range=(0.0, 1.0))
        out[cls] = (int((d >= b).sum()), int(((d >= a) & (d < b)).sum()), int((d < a).sum()), tuple(int(h) for h in hist))
    return out


def test_recorded_bands_and_histograms_match_a_recount_of_the_predictions(tiny_synthetic):
    cfg = RunConfig.from_dict({**TINY, "record_bands": "train,valid,test", "band_thresholds": "0.25,0.55",
                               "histogram_bins": 20})
    seed_everything(cfg.seed)
    model = build_for(cfg, tiny_synthetic)
    splits = place_splits(tiny_synthetic, cfg.train, torch.device("cpu"))
    checked = []

    def on_epoch(record):   # called right after the evaluation that recorded these counts
        assert {(b.split, b.label) for b in record.bands} == {(s, c) for s in ("train", "valid", "test") for c in (0, 1)}
        for band in record.bands:
            split = splits[band.split]
            expected = recount(predict_logits(model, split, 4096), split.y, 0.25, 0.55, 20)[band.label]
            assert (band.misclassified, band.poorly, band.well, band.histogram) == expected, (band.split, band.label)
            assert band.epoch == record.epoch
        checked.append(record.epoch)

    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    fit(model, tiny_synthetic, objective, train_settings(cfg), resolve_device("cpu"), on_epoch=on_epoch)
    assert checked == [1, 2, 3]


def test_bands_spread_over_all_three_bands_on_a_trained_model(tiny_synthetic):
    # the recount test above is only worth something if the bands are not all in one place
    cfg = RunConfig.from_dict({**TINY, "record_bands": "valid"})
    result = train_once(cfg, tiny_synthetic)
    last = result.history[-1].bands
    for band in ("misclassified", "poorly", "well"):
        assert sum(getattr(b, band) for b in last) > 100, (band, last)
    n_valid = len(tiny_synthetic.valid.y)
    assert sum(b.misclassified + b.poorly + b.well for b in last) == n_valid
    assert sum(sum(b.histogram) for b in last) == n_valid


def test_recording_does_not_change_what_is_trained(tiny_synthetic):
    plain = RunConfig.from_dict({**TINY, "dropout": 0.1, "dfm": "VF"})   # noise from dropout and VF
    recording = RunConfig.from_dict({**TINY, "dropout": 0.1, "dfm": "VF", "record_bands": "train,valid,test",
                                     "record_grad_steps": 25, "time_inference_passes": 2})
    a, b = train_once(plain, tiny_synthetic), train_once(recording, tiny_synthetic)
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]
    assert a.test == b.test and a.valid == b.valid
    assert all(not r.bands and not r.grad_steps for r in a.history) and not a.timings
    assert sum(len(r.grad_steps) for r in b.history) == 25


def test_gradient_norms_of_the_first_step_equal_autograd_on_the_same_batch(tiny_synthetic):
    cfg = RunConfig.from_dict({**TINY, "record_grad_steps": 3})
    seed_everything(cfg.seed)
    model = build_for(cfg, tiny_synthetic)
    reference = build_for(cfg, tiny_synthetic)
    reference.load_state_dict(model.state_dict())
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    result = fit(model, tiny_synthetic, objective, train_settings(cfg), resolve_device("cpu"))
    steps = [g for r in result.history for g in r.grad_steps]
    assert [g.step for g in steps] == [1, 2, 3] and [g.epoch for g in steps] == [1, 1, 1]

    # the loop's first batch: the first batch_size rows of its first permutation
    train = tiny_synthetic.train
    perm = torch.randperm(len(train.y), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.batch_size]
    x_cat = torch.as_tensor(train.x_cat)[perm]
    x_num = torch.as_tensor(train.x_num)[perm]
    y = torch.as_tensor(train.y, dtype=torch.float32)[perm]
    reference.train()
    out = reference(x_cat, x_num)
    loss = objective(out, y)
    g_s, g_c = torch.autograd.grad(loss, [out.simple, out.complex])
    assert steps[0].loss == pytest.approx(float(loss.detach()), rel=1e-6)
    assert steps[0].grad_z_s == pytest.approx(float(g_s.norm()), rel=1e-5)
    assert steps[0].grad_z_c == pytest.approx(float(g_c.norm()), rel=1e-5)
    assert steps[0].grad_z_s != pytest.approx(steps[0].grad_z_c, rel=1e-3)   # two different streams


def test_gradient_recording_refuses_a_single_stream_model(tiny_synthetic):
    from tfbench.train import TrainingError

    cfg = RunConfig.from_dict({**TINY, "model": "dnn", "record_grad_steps": 2})
    with pytest.raises(TrainingError, match="two-stream"):
        train_once(cfg, tiny_synthetic)


def test_recordings_are_stored_removed_with_their_run_and_keep_plain_keys(tiny_synthetic, tmp_path):
    store = ResultStore(f"sqlite:///{tmp_path / 'r.db'}")
    plain = RunConfig.from_dict({**TINY, "epochs": 2})
    recording = RunConfig.from_dict({**TINY, "epochs": 2, "record_bands": "valid,test", "record_grad_steps": 4,
                                     "time_inference_passes": 3})
    fp = tiny_synthetic.fingerprint
    # band settings shape nothing while no band is recorded: not in the key then
    assert run_key(fp, RunConfig.from_dict({**TINY, "epochs": 2, "histogram_bins": 7})) == run_key(fp, plain)
    assert run_key(fp, recording) != run_key(fp, plain)

    p = execute_run(plain, store, dataset=tiny_synthetic, device="cpu").row
    r = execute_run(recording, store, dataset=tiny_synthetic, device="cpu").row
    assert p.test_auc == r.test_auc
    for frame in (store.bands, store.histograms, store.grad_steps, store.timings):
        assert frame([p.id]).empty
    bands = store.bands([r.id])
    assert len(bands) == 2 * 2 * 2                                  # epochs × splits × classes
    n_valid, n_test = len(tiny_synthetic.valid.y), len(tiny_synthetic.test.y)
    totals = bands.assign(n=bands.misclassified + bands.poorly + bands.well).groupby(["epoch", "split"]).n.sum()
    assert set(totals.xs("valid", level="split")) == {n_valid} and set(totals.xs("test", level="split")) == {n_test}
    hist = store.histograms([r.id])
    assert len(hist) == 2 * 2 * 2 * 50 and set(hist.bins) == {50}
    assert list(store.grad_steps([r.id]).step) == [1, 2, 3, 4]
    timings = store.timings([r.id])
    assert list(timings.phase) == ["train_first_epoch"] + ["inference_valid"] * 3
    assert list(timings.rows) == [len(tiny_synthetic.train.y)] + [n_valid] * 3
    assert (timings.seconds > 0).all()

    # a forced rerun replaces the recordings (no duplicates), deleting the run removes them
    execute_run(recording, store, dataset=tiny_synthetic, device="cpu", force=True)
    assert len(store.bands([r.id])) == 8 and len(store.timings([r.id])) == 4
    with store.Session.begin() as s:
        s.delete(s.get(RunRow, r.id))
    with store.Session() as s:
        for table in (BandRow, HistogramRow, GradStepRow, TimingRow):
            assert s.query(table).count() == 0, table.__tablename__


def test_recording_settings_are_validated_in_one_line():
    from tfbench.errors import ConfigError

    for values, message in [
        ({"record_bands": "valid,valid"}, "--record-bands names a split twice"),
        ({"band_thresholds": "0.6,0.3"}, "--band-thresholds must be two distances"),
        ({"histogram_bins": 0}, "--histogram-bins must be in [1, 1000]"),
        ({"record_grad_steps": -1}, "--record-grad-steps must be >= 0"),
    ]:
        with pytest.raises(ConfigError) as e:
            RunConfig.from_dict(values, source="option")
        assert message in str(e.value) and "\n" not in str(e.value)
    assert math.isclose(RunConfig.from_dict({}).train.band_thresholds[1], 0.6)
