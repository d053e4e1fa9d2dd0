"""Training from host-kept (memory-mapped) splits gives what training from device-resident ones gives.

The resident path (tested in test_training.py) is the reference: with the same seed, a run whose
splits stay on the host and reach the device in blocks must see the same batches in the same
order, so its per-epoch losses, validation history and test metrics must equal the resident
run's.
"""

from __future__ import annotations

import dataclasses
import random
import warnings

import numpy as np
import pytest
import torch

from tfbench.config import RunConfig
from tfbench.data import load_dataset
from tfbench.data.types import EncodedDataset, Split
from tfbench.losses import make_objective
from tfbench.runner import build_for, train_settings
from tfbench.train import fit, seed_everything
from tfbench.train.loop import (
    DeviceSplit, HostSplit, TrainingError, TrainSettings, evaluate, place_splits, split_bytes, to_device,
)

from test_datasets_named import CRITEO_HEADER, filler, write_split_files
from test_stream_prep import heavy_criteo_row

CPU = torch.device("cpu")
SMALL = dict(embedding_dim=8, mlp_s=[32], mlp_c=[32, 32], batch_size=900, epochs=3, dropout=0.1, dfm="VF",
             learning_rate=3e-3, embedding_regularizer=0.01, monitor="AUC+gAUC")


def memmapped(ds: EncodedDataset, folder) -> EncodedDataset:
    """The same dataset with every array saved as .npy and opened read-only memory-mapped."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = {}
    for name, split in ds.splits().items():
        arrays = {}
        for key in ("x_cat", "x_num", "y", "group"):
            a = getattr(split, key)
            if a is None or a.size == 0:
                arrays[key] = a
                continue
            np.save(folder / f"{name}.{key}.npy", a)
            arrays[key] = np.load(folder / f"{name}.{key}.npy", mmap_mode="r")
        splits[name] = Split(**arrays)
    return dataclasses.replace(ds, train=splits["train"], valid=splits["valid"], test=splits["test"])


def run(cfg: RunConfig, data: EncodedDataset, **settings):
    seed_everything(cfg.seed)
    model = build_for(cfg, data)
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    return fit(model, data, objective, train_settings(cfg).model_copy(update=settings), CPU)


def assert_same_run(a, b):
    assert [r.train_loss for r in a.history] == pytest.approx([r.train_loss for r in b.history], abs=1e-6, rel=0)
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]  # in fact bit for bit on the CPU
    for ra, rb in zip(a.history, b.history):
        assert ra.valid.keys() == rb.valid.keys()
        for k in ra.valid:
            assert ra.valid[k] == pytest.approx(rb.valid[k], abs=1e-6, rel=0), k
        assert (ra.learning_rate, ra.improved) == (rb.learning_rate, rb.improved)
    assert a.best_epoch == b.best_epoch
    assert a.test.keys() == b.test.keys() and {"AUC", "logloss"} <= a.test.keys()
    for k in a.test:
        assert a.test[k] == pytest.approx(b.test[k], abs=1e-6, rel=0), k


def test_memmapped_host_splits_train_like_resident_ones(tiny_synthetic, tmp_path):
    data = memmapped(tiny_synthetic, tmp_path / "mm")
    assert isinstance(data.train.x_cat, np.memmap) and len(data.train) % SMALL["batch_size"] != 0
    cfg = RunConfig.from_dict({**SMALL, "synthetic_rows": 20_000})
    resident = run(cfg, data, host_splits="device")
    # 2 batches per block: many blocks, a last block with the partial batch; eval blocks of 2 batches too
    host = run(cfg, data, host_splits="host", host_block_rows=2 * 900, eval_batch_size=3000)
    host_eval_resident = run(cfg, data, host_splits="device", eval_batch_size=3000)
    assert_same_run(resident, host)
    assert_same_run(host_eval_resident, host)
    assert resident.test["AUC"] > 0.65 and "gAUC" in host.test  # it learned; groups streamed too
    other_seed = run(cfg.replace(seed=7), data, host_splits="host", host_block_rows=1800)
    assert [r.train_loss for r in other_seed.history] != [r.train_loss for r in host.history]


def test_streamed_criteo_cache_trains_the_same_from_host_and_device(tmp_path):
    rng = random.Random(21)
    rows = {s: filler(rng, n, heavy_criteo_row) for s, n in (("train", 2400), ("valid", 500), ("test", 500))}
    write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset("criteo", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", min_count=10, stream=True)
    assert isinstance(data.train.x_cat, np.memmap)
    cfg = RunConfig.from_dict({**SMALL, "dataset": "criteo", "batch_size": 256, "epochs": 2, "monitor": "AUC",
                               "min_count": 10})
    resident = run(cfg, data, host_splits="device")
    host = run(cfg, data, host_splits="host", host_block_rows=700)  # 2 batches per block
    assert_same_run(resident, host)


def test_host_batches_gather_the_permuted_rows():
    rng = np.random.default_rng(0)
    split = Split(x_cat=rng.integers(0, 50, (1000, 4)), x_num=rng.random((1000, 2), dtype=np.float32),
                  y=(rng.random(1000) < 0.3).astype(np.float32))
    host = HostSplit(split, CPU)
    rows = rng.permutation(1000)[:333]
    x_cat, x_num, y = host.gather(rows)
    np.testing.assert_array_equal(x_cat, split.x_cat[rows])
    np.testing.assert_array_equal(x_num, split.x_num[rows])
    np.testing.assert_array_equal(y, split.y[rows])


def test_auto_placement_by_free_memory_and_the_override(tiny_synthetic, monkeypatch):
    monkeypatch.delenv("TFBENCH_HOST_SPLITS", raising=False)
    sizes = {name: split_bytes(s) for name, s in tiny_synthetic.splits().items()}
    assert sizes["train"] == len(tiny_synthetic.train) * (8 * tiny_synthetic.train.x_cat.shape[1] + 4 + 8)
    monkeypatch.setattr("tfbench.train.placement.free_device_memory", lambda device: 2 * sizes["train"] + sizes["valid"] // 2)
    # budget = 0.5 * free = train + valid / 4: train fits and leaves valid / 4, too little for valid and test
    placed = place_splits(tiny_synthetic, TrainSettings(), CPU)
    assert isinstance(placed["train"], DeviceSplit)
    assert isinstance(placed["valid"], HostSplit) and isinstance(placed["test"], HostSplit)
    placed = place_splits(tiny_synthetic, TrainSettings(device_memory_fraction=0.2, evaluate_test=False), CPU)
    assert isinstance(placed["train"], HostSplit) and isinstance(placed["valid"], DeviceSplit) and "test" not in placed
    monkeypatch.setenv("TFBENCH_HOST_SPLITS", "host")
    assert all(isinstance(p, HostSplit) for p in place_splits(tiny_synthetic, TrainSettings(), CPU).values())
    assert all(isinstance(p, DeviceSplit)
               for p in place_splits(tiny_synthetic, TrainSettings(host_splits="device"), CPU).values())
    monkeypatch.setenv("TFBENCH_HOST_SPLITS", "gpu")
    with pytest.raises(TrainingError, match="expected one of auto, host, device"):
        place_splits(tiny_synthetic, TrainSettings(), CPU)


def test_streamed_evaluation_equals_resident(tiny_synthetic):
    cfg = RunConfig.from_dict({**SMALL, "synthetic_rows": 20_000})
    seed_everything(3)
    model = build_for(cfg, tiny_synthetic)
    valid = tiny_synthetic.valid
    resident = evaluate(model, to_device(valid, CPU), batch_size=1000)
    streamed = evaluate(model, HostSplit(valid, CPU, block_rows=2500), batch_size=1000)  # blocks of 2 batches
    assert resident == streamed
