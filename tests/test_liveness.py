"""A running run stays claimed however long its epoch lasts: a background thread beats every
``beat_seconds``, and a run is taken over only after ``missed_beats`` beats of silence (or when
its process on this host has ended). With a short limit (0.2 s beats, stale after 0.6 s) and an
epoch held open for 2.5 s, the live run is never taken over; a silent one on another host is,
and the takeover is logged. Runs on SQLite and (TFBENCH_TEST_PG_URL) PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest

from tfbench.config import RunConfig, run_key
from tfbench.db import ResultStore, RunInProgress
from tfbench.db.liveness import Liveness
from tfbench.db.store import RunIdentity, _now
from tfbench.errors import ConfigError
from tfbench.runner import execute_run

SHORT = Liveness(beat_seconds=0.2, missed_beats=3)
TINY = dict(synthetic_rows=20_000, embedding_dim=4, mlp_s=[16], mlp_c=[16], batch_size=5000, epochs=1,
            dropout=0.0, embedding_regularizer=0.0)


def identity(cfg, data) -> RunIdentity:
    return RunIdentity(key=run_key(data.fingerprint, cfg), study=None, dataset=cfg.dataset,
                       dataset_fingerprint=data.fingerprint, model=cfg.model, loss=cfg.resolved_loss,
                       seed=cfg.seed, config=cfg.to_dict())


def test_a_run_whose_epoch_outlasts_the_stale_limit_is_not_taken_over_while_it_lives(db_url, tiny_synthetic):
    store = ResultStore(db_url, liveness=SHORT)
    other = ResultStore(db_url, liveness=SHORT)  # another command on the same database
    cfg = RunConfig.from_dict(TINY)
    in_epoch, release = threading.Event(), threading.Event()

    def hold_first_batch(*_):
        in_epoch.set()
        release.wait(30)  # the epoch lasts as long as the test wants

    outcome = {}
    trainer = threading.Thread(target=lambda: outcome.update(
        run=execute_run(cfg, store, dataset=tiny_synthetic, device="cpu", on_batch=hold_first_batch)))
    trainer.start()
    try:
        assert in_epoch.wait(60)
        refused, beats = 0, set()
        t_end = time.monotonic() + 2.5  # > 4 x the 0.6 s stale limit, all inside one epoch
        while time.monotonic() < t_end:
            with pytest.raises(RunInProgress):
                other.claim(identity(cfg, tiny_synthetic))
            refused += 1
            row = other.get_by_key(identity(cfg, tiny_synthetic).key)
            assert _now() - row.heartbeat_at < SHORT.stale_after  # beaten recently, mid-epoch
            beats.add(row.heartbeat_at)
            time.sleep(0.15)
    finally:
        release.set()
        trainer.join(60)
    assert refused >= 10 and len(beats) >= 5  # the beat moved on many times within the one epoch
    row = other.get_by_key(identity(cfg, tiny_synthetic).key)
    assert (row.status, row.attempts, row.epochs_run) == ("done", 1, 1)
    assert outcome["run"].trained


def test_a_silent_run_is_taken_over_after_the_missed_beats_and_the_takeover_is_logged(db_url, tiny_synthetic, caplog):
    store = ResultStore(db_url, liveness=SHORT)
    cfg = RunConfig.from_dict(TINY)
    ident = identity(cfg, tiny_synthetic)
    row = store.claim(ident)
    # its process on another machine went away (a dead pid here would be taken over at once)
    store.set_info(row.id, host="elsewhere", pid=1234, heartbeat_at=_now() - timedelta(seconds=0.3))
    with pytest.raises(RunInProgress):  # 0.3 s of silence: fewer than 3 missed beats
        store.claim(ident)
    time.sleep(0.5)
    with caplog.at_level(logging.WARNING, logger="tfbench.db"):
        again = store.claim(ident)
    assert again.attempts == 2 and again.host != "elsewhere"
    (msg,) = [r.getMessage() for r in caplog.records if r.name == "tfbench.db"]
    assert msg.startswith(f"taking over run {ident.key[:12]} from pid 1234 on elsewhere: no heartbeat for")
    assert "stale after 1s" in msg


def test_two_takeovers_of_one_stale_run_at_once_claim_it_once(db_url, tiny_synthetic):
    """Row lock on PostgreSQL (BEGIN IMMEDIATE on SQLite): the second taker sees the first's claim."""
    store = ResultStore(db_url, liveness=SHORT)
    cfg = RunConfig.from_dict(TINY)
    ident = identity(cfg, tiny_synthetic)
    row = store.claim(ident)
    store.set_info(row.id, host="elsewhere", heartbeat_at=_now() - timedelta(seconds=10))
    stores = [ResultStore(db_url, liveness=SHORT) for _ in range(4)]
    barrier, got = threading.Barrier(4), []

    def take(s):
        barrier.wait()
        try:
            got.append(s.claim(ident).attempts)
        except RunInProgress:
            got.append("refused")

    threads = [threading.Thread(target=take, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got, key=str) == [2, "refused", "refused", "refused"]


def test_default_limit_is_about_a_minute_and_the_environment_sets_it(monkeypatch):
    assert Liveness().stale_after == timedelta(seconds=60)
    monkeypatch.setenv("TFBENCH_HEARTBEAT_SECONDS", "2")
    monkeypatch.setenv("TFBENCH_STALE_BEATS", "5")
    assert Liveness.from_env().stale_after == timedelta(seconds=10)
    monkeypatch.setenv("TFBENCH_STALE_BEATS", "x")
    with pytest.raises(ConfigError, match="TFBENCH_STALE_BEATS='x': expected a whole number"):
        Liveness.from_env()
    monkeypatch.setenv("TFBENCH_STALE_BEATS", "1")
    with pytest.raises(ConfigError, match="at least 2 beats"):
        Liveness.from_env()
