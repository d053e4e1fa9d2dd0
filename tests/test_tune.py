"""`tfbench tune` with Optuna: trials are tfbench runs in the same database, pruning, continuing,
parallel workers, crash recovery, search-space validation, export, and the dashboard."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from conftest import alive
from tfbench.cli.main import app
from tfbench.db import ResultStore
from tfbench.studies import load_study
from tfbench.tune.space import load_space
from tfbench.tune.storage import optuna_storage

# A small, fast base for every trial: 4,000 synthetic rows, tiny encoders.
TINY = {"synthetic_rows": 4000, "epochs": 4, "batch_size": 500, "embedding_dim": 4, "mlp_c": [16, 16], "mlp_s": [8]}
# A continuous space, so that two trials never propose the same run.
LR_SPACE = {"models": ["tf4ctr"], "params": {"learning_rate": {"low": 0.0005, "high": 0.005, "log": True},
                                             "alpha": {"low": 0.05, "high": 0.6}}}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def one_line_error(result):
    out = result.output.strip()
    assert result.exit_code == 2, out
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out
    return lines[0]


def trials_of(db, name):
    return optuna.load_study(study_name=name, storage=db).trials


def cli_env(db, cache):
    env = dict(os.environ, TFBENCH_DB=db, TFBENCH_CACHE_DIR=str(cache), OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return env


# ------------------------------------------------------------------------------------ spaces
def test_repository_spaces_load_and_cover_every_model():
    from tfbench.models import MODELS
    from tfbench.tune.space import list_spaces, space_for_model

    spaces = [load_space(p) for p in list_spaces()]
    assert {s.name for s in spaces} >= {"tf4ctr", "dualmlp"}
    for model in MODELS:
        assert model in space_for_model(model).models
    tf = space_for_model("tf4ctr")
    # the list for TF4CTR: α, c, γ, SSEM, DFM, MLP_s shape, dropout, embedding regulariser, lr
    assert {p.name for p in tf.params} == {"alpha", "c", "gamma", "ssem", "dfm", "mlp_s", "dropout",
                                           "embedding_regularizer", "learning_rate"}
    by_name = {p.name: p for p in tf.params}
    assert by_name["alpha"].grid_values(tf.path) == pytest.approx([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65])
    assert by_name["gamma"].grid_values(tf.path) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "params, needles",
    [
        ({"learning_rat": {"low": 0.001, "high": 0.01}}, ["params.learning_rat", "unknown parameter"]),
        ({"alpha": {"low": 0.5, "high": 0.2}}, ["params.alpha", "empty range"]),
        ({"ssem": {"choices": []}}, ["params.ssem", "empty choices"]),
        ({"c": {"low": 0.5, "high": 1.5}}, ["params.c", "1.5"]),
        ({"dfm": {"choices": ["WSF", "XX"]}}, ["params.dfm", "XX"]),
        ({"alpha": {"low": 0.1, "hi": 0.2}}, ["params.alpha", "'hi'"]),
        ({"seed": {"low": 1, "high": 5}}, ["params.seed", "fixed"]),
        ({"num_cross_layers": {"low": 1.5, "high": 4}}, ["params.num_cross_layers", "integer"]),
    ],
)
def test_bad_space_file_gives_one_line_error_naming_file_and_key(isolated, tmp_path, params, needles):
    path = write(tmp_path / "bad_space.yaml", {"models": ["tf4ctr"], "params": params})
    line = one_line_error(invoke("tune", "--space", path, "--trials", "1"))
    assert "bad_space.yaml" in line
    for needle in needles:
        assert needle in line, line
    assert not Path(isolated.removeprefix("sqlite:///")).exists() or not ResultStore(isolated).list_runs()


def test_grid_sampler_needs_steps_and_walks_the_whole_grid_once(isolated, tmp_path):
    cfg = write(tmp_path / "tiny.yaml", TINY)
    bad = write(tmp_path / "float.yaml", {"models": ["tf4ctr"], "params": {"alpha": {"low": 0.1, "high": 0.3}}})
    line = one_line_error(invoke("tune", "--space", bad, "--sampler", "grid", "--config", cfg))
    assert "float.yaml" in line and "params.alpha" in line and "step" in line

    space = write(tmp_path / "grid.yaml", {"models": ["tf4ctr"], "params": {
        "alpha": {"low": 0.2, "high": 0.4, "step": 0.2}, "dfm": {"choices": ["WSF", "Sum"]}}})
    r = invoke("tune", "--space", space, "--sampler", "grid", "--pruner", "none", "--trials", "10",
               "--config", cfg, "--name", "g")
    assert r.exit_code == 0, r.output
    trials = trials_of(isolated, "g")
    combos = {(round(t.params["alpha"], 6), t.params["dfm"]) for t in trials}
    assert len(trials) == 4 and combos == {(0.2, "WSF"), (0.2, "Sum"), (0.4, "WSF"), (0.4, "Sum")}


# ------------------------------------------------------------------------------------ tune end to end
def test_tune_records_trials_as_runs_continues_exports_and_run_trains_the_export(isolated, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path / "tiny.yaml", TINY)
    r = invoke("tune", "--dataset", "synthetic", "--model", "tf4ctr", "--trials", "8", "--pruner", "median",
               "--config", cfg)
    assert r.exit_code == 0, r.output
    assert "the study has 8 trials" in r.output

    trials = trials_of(isolated, "tf4ctr-synthetic")
    assert len(trials) == 8
    states = {t.state for t in trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    store = ResultStore(isolated)
    for t in trials:
        row = store.get_by_key(t.user_attrs["run_key"])
        assert row.optuna_study == "tf4ctr-synthetic" and row.optuna_trial == t.number
        assert row.config["evaluate_test"] is False
        assert row.test_auc is None and row.test_logloss is None  # the test split is never evaluated
        for k, v in t.user_attrs["settings"].items():
            assert row.config[k] == pytest.approx(v), k
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert row.status == "done" and t.value == row.valid_auc
            # every epoch's validation AUC was reported to the trial (the pruner's input)
            assert {e.epoch: e.valid_auc for e in row.epochs} == pytest.approx(t.intermediate_values)
        else:
            assert row.status == "pruned" and len(row.epochs) == max(t.intermediate_values) < TINY["epochs"]

    # `tfbench runs` tells the same story as the dashboard
    listing = invoke("runs", "--study", "tf4ctr-synthetic")
    assert listing.exit_code == 0 and listing.output.count("tf4ctr-synthetic #") == 8

    # the same command continues the study
    r2 = invoke("tune", "--dataset", "synthetic", "--model", "tf4ctr", "--trials", "2", "--pruner", "median",
                "--config", cfg)
    assert r2.exit_code == 0, r2.output
    assert len(trials_of(isolated, "tf4ctr-synthetic")) == 10

    # ... but not with other fixed settings
    cfg2 = write(tmp_path / "tiny2.yaml", {**TINY, "epochs": 5})
    line = one_line_error(invoke("tune", "--trials", "1", "--config", cfg2))
    assert "tf4ctr-synthetic" in line and "--name" in line

    # best: the highest validation AUC among complete trials
    complete = [t for t in trials_of(isolated, "tf4ctr-synthetic") if t.state == optuna.trial.TrialState.COMPLETE]
    top = max(complete, key=lambda t: t.value)
    b = invoke("tune", "best", "tf4ctr-synthetic", "--export", "studies/tuned.yaml")
    assert b.exit_code == 0, b.output
    assert f"best trial {top.number} of 10" in b.output and f"{top.value:.6f}" in b.output

    study = load_study("studies/tuned.yaml")
    assert study.seeds == (2023, 2024, 2025, 2026, 2027) and study.datasets == ("synthetic",)
    assert study.base["learning_rate"] == pytest.approx(top.user_attrs["settings"]["learning_rate"])
    assert "evaluate_test" not in study.base
    run = invoke("run", "tuned", "--seeds", "1")
    assert run.exit_code == 0, run.output
    (link, row), = store.study_runs("tuned")
    assert row.status == "done" and row.test_auc is not None  # the export trains with the test split
    # same settings as the best trial's run, apart from the test evaluation
    best_row = store.get_by_key(top.user_attrs["run_key"])
    assert row.valid_auc == pytest.approx(best_row.valid_auc, abs=1e-12)


def test_pruned_trials_are_recorded_as_pruned_not_failed(isolated, tmp_path, monkeypatch):
    import tfbench.tune.tuner as tuner

    # A pruner that stops every trial at its first report makes pruning deterministic.
    monkeypatch.setattr(tuner, "_pruner", lambda req: optuna.pruners.ThresholdPruner(lower=1.01))
    cfg = write(tmp_path / "tiny.yaml", TINY)
    r = invoke("tune", "--trials", "3", "--config", cfg, "--name", "p")
    assert r.exit_code == 0, r.output
    trials = trials_of(isolated, "p")
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED] * 3
    store = ResultStore(isolated)
    rows = [store.get_by_key(r.key) for r in store.list_runs()]
    assert [r.status for r in rows] == ["pruned"] * 3
    assert all(len(r.epochs) == 1 and "pruned" in r.error for r in rows)
    assert invoke("runs", "--status", "pruned").output.count("pruned") >= 3


def test_tfbench_and_optuna_tables_coexist_and_old_databases_are_migrated(isolated, tmp_path):
    cfg = write(tmp_path / "tiny.yaml", TINY)
    space = write(tmp_path / "lr.yaml", LR_SPACE)
    assert invoke("tune", "--trials", "2", "--config", cfg, "--space", space, "--name", "both").exit_code == 0
    path = isolated.removeprefix("sqlite:///")
    tables = set(sa.inspect(sa.create_engine(isolated)).get_table_names())
    assert {"tfb_runs", "tfb_epochs", "tfb_study_runs", "studies", "trials", "alembic_version"} <= tables
    # Optuna alone (a plain URL, none of tfbench's code) loads the study.
    study = optuna.load_study(study_name="both", storage=f"sqlite:///{path}")
    assert len(study.trials) == 2 and study.user_attrs["model"] == "tf4ctr"
    with sqlite3.connect(path) as con:
        (version,) = con.execute("select version_num from alembic_version").fetchone()
    assert version == optuna.storages.RDBStorage(f"sqlite:///{path}").get_current_version()

    # a database from before the tuning columns existed gets them (and their index) added on open
    old = tmp_path / "old.db"
    ResultStore(f"sqlite:///{old}")
    with sqlite3.connect(old) as con:
        con.execute("drop table tfb_alembic_version")  # a database from before Alembic has none
        con.execute("drop index ix_tfb_runs_optuna_study")
        con.execute("alter table tfb_runs drop column optuna_study")
        con.execute("alter table tfb_runs drop column optuna_trial")
    ResultStore(f"sqlite:///{old}")
    with sqlite3.connect(old) as con:
        cols = {r[1] for r in con.execute("pragma table_info(tfb_runs)")}
        indexes = {r[1] for r in con.execute("pragma index_list(tfb_runs)")}
    assert {"optuna_study", "optuna_trial"} <= cols and "ix_tfb_runs_optuna_study" in indexes


# ------------------------------------------------------------------------------------ concurrency
def test_a_study_whose_attributes_are_still_being_written_is_waited_for_not_refused(isolated, tmp_path):
    """A second command opening a study that the first created a moment ago must not compare
    half-written attributes (the first writes them one row at a time): it waits for the
    completion mark. Here the "first command" is frozen half-way and finishes 0.5 s later."""
    import threading

    from tfbench.config import RunConfig
    from tfbench.tune.tuner import TuneRequest, _study_attrs, open_study

    space = write(tmp_path / "lr.yaml", {"models": ["tf4ctr"], "params": {"alpha": {"low": 0.05, "high": 0.6}}})
    req = TuneRequest(name="half", base=RunConfig(dataset="synthetic", model="tf4ctr"), space=load_space(space))
    storage = optuna_storage(ResultStore(isolated).url, heartbeat_s=None)
    first = optuna.create_study(study_name="half", storage=storage, direction="maximize")
    attrs = _study_attrs(req)
    first.set_user_attr("dataset", attrs["dataset"])           # the first command, half-way
    rest = threading.Timer(0.5, lambda: [first.set_user_attr(k, v) for k, v in attrs.items() if k != "dataset"])
    rest.start()
    try:
        study = open_study(req, storage)                       # the second command
    finally:
        rest.join()
    assert study.user_attrs["space_fingerprint"] == req.space.fingerprint


def _draws(url, sampler, trials, space: Path, commands=1, seed=2023):
    """Ask ``trials`` trials from each of ``commands`` studies opened as separate `tune` commands
    with the same settings would open them, interleaved, and return each one's points."""
    from tfbench.config import RunConfig
    from tfbench.tune.tuner import TuneRequest, open_study

    req = TuneRequest(name="s", base=RunConfig(dataset="synthetic", model="tf4ctr", seed=seed),
                      space=load_space(space), sampler=sampler, trials=trials)
    studies = [open_study(req, optuna_storage(url, heartbeat_s=None)) for _ in range(commands)]
    points = [[] for _ in studies]
    for _ in range(trials):
        for study, got in zip(studies, points):
            trial = study.ask()
            got.append(tuple(round(v, 12) if isinstance(v, float) else v for v in req.space.suggest(trial).values()))
            study.tell(trial, 0.5)
    return points


def test_grid_commands_sharing_a_study_split_the_grid_between_them(tmp_path):
    grid = {"models": ["tf4ctr"], "params": {"alpha": {"low": 0.2, "high": 0.8, "step": 0.2},
                                             "dfm": {"choices": ["WSF", "Sum"]}}}
    # 6 of the 8 points (exhausting the grid stops a study, which needs an optimize loop)
    a, b = _draws(f"sqlite:///{tmp_path / 'g.db'}", "grid", 3, write(tmp_path / "grid.yaml", grid), commands=2)
    assert len(set(a) | set(b)) == 6


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_commands_sharing_a_study_draw_different_points_and_one_command_is_reproducible(tmp_path, sampler):
    # Two commands on one study at once: same seed, yet no point drawn twice (before, both drew
    # the same start-up points and the later trial silently reused the earlier one's run).
    space = write(tmp_path / "lr.yaml", LR_SPACE)
    a, b = _draws(f"sqlite:///{tmp_path / 'two.db'}", sampler, 3, space, commands=2)
    assert len(set(a) | set(b)) == 6
    # A study continued by a second command draws new points (random used to repeat the first's).
    url = f"sqlite:///{tmp_path / 'cont.db'}"
    first, second = _draws(url, sampler, 3, space)[0], _draws(url, sampler, 3, space)[0]
    assert len(set(first) | set(second)) == 6
    # The same command alone on a fresh database draws the same points; another seed other points.
    again = _draws(f"sqlite:///{tmp_path / 'again.db'}", sampler, 3, space)[0]
    other = _draws(f"sqlite:///{tmp_path / 'other.db'}", sampler, 3, space, seed=7)[0]
    assert again == first and not set(other) & set(first)


def test_two_tune_commands_and_jobs_share_one_sqlite_database(isolated, tmp_path):
    cfg = write(tmp_path / "tiny.yaml", TINY)
    space = write(tmp_path / "lr.yaml", LR_SPACE)
    base = [sys.executable, "-m", "tfbench.cli.main", "tune", "--config", str(cfg), "--space", str(space),
            "--name", "par", "--pruner", "none"]
    env = cli_env(isolated, tmp_path / "cache")
    # warm the dataset cache so that both commands start training at once (another seed: no run to reuse)
    assert invoke("tune", "--trials", "1", "--config", cfg, "--space", space, "--name", "warm", "--seed", "7").exit_code == 0
    procs = [subprocess.Popen(base + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for args in (["--trials", "4", "--jobs", "2"], ["--trials", "3"])]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
        assert "locked" not in out.lower() and "Traceback" not in out, out
    trials = trials_of(isolated, "par")
    assert len(trials) == 7
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    rows = [r for r in ResultStore(isolated).list_runs() if r.optuna_study == "par"]
    assert sorted(r.optuna_trial for r in rows) == list(range(7))
    assert all(r.status == "done" for r in rows)


def test_killing_a_jobs_2_tune_command_ends_its_workers_too(isolated, tmp_path):
    # As with `tfbench run --jobs 2`: the workers of a SIGKILLed `tune --jobs 2` must not go on
    # training trials as orphans.
    cfg = write(tmp_path / "slow.yaml", {**TINY, "epochs": 40, "patience": 40, "batch_size": 100})
    space = write(tmp_path / "lr.yaml", LR_SPACE)
    cmd = [sys.executable, "-m", "tfbench.cli.main", "tune", "--config", str(cfg), "--space", str(space),
           "--name", "orphans", "--trials", "2", "--jobs", "2", "--pruner", "none"]
    proc = subprocess.Popen(cmd, env=cli_env(isolated, tmp_path / "cache"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = isolated.removeprefix("sqlite:///")
    workers: list[int] = []
    deadline = time.time() + 300
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.3)
        try:
            with sqlite3.connect(path, timeout=30) as con:
                workers = [pid for (pid,) in con.execute("select pid from tfb_runs where status='running'")]
        except sqlite3.OperationalError:   # tables not made yet
            pass
    assert len(workers) == 2 and proc.pid not in workers
    proc.kill()
    proc.wait(timeout=30)
    deadline = time.time() + 15
    while time.time() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    assert not any(alive(p) for p in workers), "workers outlived the tune command"


def test_worker_killed_mid_trial_is_failed_by_heartbeat_and_retried(isolated, tmp_path):
    # Long enough trials (many small batches, no early stop) to be killed in the middle of one.
    cfg = write(tmp_path / "slow.yaml", {**TINY, "epochs": 40, "patience": 40, "batch_size": 100})
    space = write(tmp_path / "lr.yaml", LR_SPACE)
    cmd = [sys.executable, "-m", "tfbench.cli.main", "tune", "--config", str(cfg), "--space", str(space),
           "--name", "crash", "--trials", "1", "--heartbeat", "1", "--pruner", "none"]
    env = cli_env(isolated, tmp_path / "cache")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = isolated.removeprefix("sqlite:///")
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            with sqlite3.connect(path) as con:
                n = con.execute("select count(*) from tfb_epochs").fetchone()[0]
        except sqlite3.OperationalError:
            n = 0
        if n >= 2:
            break
    assert proc.poll() is None, "the trial finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (t0,) = trials_of(isolated, "crash")
    assert t0.state == optuna.trial.TrialState.RUNNING  # nobody has noticed yet
    time.sleep(2.5)  # the grace period is twice the heartbeat

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    first, retry = trials_of(isolated, "crash")
    assert first.state == optuna.trial.TrialState.FAIL
    assert retry.state == optuna.trial.TrialState.COMPLETE
    assert retry.system_attrs["failed_trial"] == first.number and retry.params == first.params
    # the killed trial's run was taken over and finished by the retry (same settings, same key)
    rows = ResultStore(isolated).list_runs()
    assert [r.status for r in rows] == ["done"] and rows[0].attempts == 2
    assert rows[0].key == retry.user_attrs["run_key"] and rows[0].optuna_trial == retry.number


# ------------------------------------------------------------------------------------ dashboard
def test_dashboard_serves_the_study_list_over_http_and_stops_cleanly(isolated, tmp_path):
    storage = optuna_storage(isolated, heartbeat_s=None)
    study = optuna.create_study(study_name="shown-on-dashboard", storage=storage, direction="maximize")
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.75))
    del storage

    cmd = [sys.executable, "-m", "tfbench.cli.main", "dashboard", "--db", isolated, "--port", "0"]
    proc = subprocess.Popen(cmd, env=cli_env(isolated, tmp_path / "cache"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        url = f"http://127.0.0.1:{m.group(1)}/api/studies"
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=60) as resp:
                    body = json.load(resp)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        names = [s["study_name"] for s in body["study_summaries"]]
        assert names == ["shown-on-dashboard"]
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    assert "dashboard stopped" in rest and "Traceback" not in rest


def test_dashboard_refuses_a_port_in_use(isolated):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        line = one_line_error(invoke("dashboard", "--port", s.getsockname()[1]))
    assert "cannot listen on 127.0.0.1" in line


def test_tune_best_of_unknown_study(isolated):
    line = one_line_error(invoke("tune", "best", "nope"))   # no database: none is created
    assert line.startswith("error: no results database at ") and isolated in line
    ResultStore(isolated)                                   # a tfbench database without tuning studies
    line = one_line_error(invoke("tune", "best", "nope"))
    assert line == f"error: no tuning study named 'nope': the results database {isolated} holds no tuning studies"


def test_start_from_base_evaluates_the_base_settings_first_and_only_once(isolated, tmp_path):
    cfg = write(tmp_path / "tiny.yaml", {**TINY, "alpha": 0.25, "learning_rate": 0.001})
    space = write(tmp_path / "lr.yaml", LR_SPACE)
    args = ["tune", "--config", cfg, "--space", space, "--name", "ref", "--pruner", "none", "--start-from-base"]
    assert invoke(*args, "--trials", "2").exit_code == 0
    assert invoke(*args, "--trials", "1").exit_code == 0
    trials = trials_of(isolated, "ref")
    assert len(trials) == 3
    assert trials[0].params == {"learning_rate": 0.001, "alpha": 0.25}
    assert [t.params for t in trials].count({"learning_rate": 0.001, "alpha": 0.25}) == 1
    row = ResultStore(isolated).get_by_key(trials[0].user_attrs["run_key"])
    assert row.config["learning_rate"] == 0.001 and row.config["alpha"] == 0.25 and row.config["mlp_c"] == [16, 16]

    outside = write(tmp_path / "out.yaml", {**TINY, "alpha": 0.7})
    line = one_line_error(invoke("tune", "--config", outside, "--space", space, "--start-from-base", "--name", "x"))
    assert "lr.yaml" in line and "params.alpha" in line and "0.7" in line
