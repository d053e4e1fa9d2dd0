"""Interrupted runs (issue #17): Ctrl-C and SIGTERM store the run as `interrupted` (resumable, not
failed), print one line saying so, and exit 130 / 143; `tfbench run --jobs 2` leaves no worker
behind; rerunning the same command resumes."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import yaml
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.db import ResultStore
from tfbench.db.store import _pid_alive

ARGS = ["--synthetic-rows", "20000", "--embedding-dim", "4", "--mlp-s", "32", "--mlp-c", "32,32",
        "--batch-size", "100", "--epochs", "3", "--patience", "3"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _rows(db_url: str) -> list[tuple]:
    try:
        with sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=30) as con:
            return con.execute("select key, status, pid, (select count(*) from tfb_epochs e where e.run_id = r.id) "
                               "from tfb_runs r order by id").fetchall()
    except sqlite3.OperationalError:
        return []  # the tables are not there yet


def _start(db_url, *command):
    env = {**os.environ, "TFBENCH_DB": db_url, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tfbench.cli.main", *command], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(db_url, proc, ready, what):
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        rows = _rows(db_url)
        if ready(rows):
            return rows
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"{what} never happened: {proc.communicate()[1][-2000:]}")


def test_sigterm_mid_training_stores_interrupted_says_so_and_the_rerun_resumes(isolated):
    proc = _start(isolated, "train", *ARGS)
    _wait_for(isolated, proc, lambda rows: rows and rows[0][1] == "running" and rows[0][3] >= 1,
              "a running run with one epoch")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    (row,) = ResultStore(isolated).list_runs()
    assert proc.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == (f"interrupted (SIGTERM): run {row.key} stored as interrupted; "
                                               "rerun the same command to resume")
    assert "Traceback" not in stderr
    assert row.status == "interrupted" and row.test_auc is None
    assert ResultStore(isolated).list_runs(status="failed") == []
    r = invoke("train", *ARGS)
    assert r.exit_code == 0, r.output
    row = ResultStore(isolated).find(str(row.id))
    assert row.status == "done" and row.attempts == 2


def test_ctrl_c_prints_one_line_and_exits_130(isolated, monkeypatch):
    import tfbench.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tfbench.runner, "fit", interrupted)
    r = invoke("train", *ARGS[:8], "--epochs", "1")
    (row,) = ResultStore(isolated).list_runs()
    assert r.exit_code == 130 and row.status == "interrupted"
    assert r.stderr.strip().splitlines()[-1] == (f"interrupted (Ctrl-C): run {row.key} stored as interrupted; "
                                                 "rerun the same command to resume")


def test_sigterm_of_a_study_with_two_jobs_stops_its_workers_and_stores_their_runs_interrupted(isolated, tmp_path):
    study = tmp_path / "two.yaml"
    study.write_text(yaml.safe_dump({
        "name": "two", "title": "two runs", "kind": "table", "datasets": ["synthetic"], "seeds": [2023],
        "base": {"model": "dnn", "synthetic_rows": 8000, "embedding_dim": 4, "mlp_c": [32, 32], "batch_size": 100,
                 "epochs": 100, "patience": 100},  # neither run can end before the SIGTERM
        "grid": {"dropout": [0.0, 0.1]}, "layout": {"rows": "dropout"},
    }))
    proc = _start(isolated, "run", study, "--jobs", "2")
    rows = _wait_for(isolated, proc, lambda rows: len(rows) == 2 and all(r[1] == "running" and r[3] >= 1 for r in rows),
                     "two running runs with an epoch each")
    workers = [r[2] for r in rows]
    assert proc.pid not in workers
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    keys = sorted(r[0] for r in rows)
    assert stderr.strip().splitlines()[-1] == (f"interrupted (SIGTERM): runs {', '.join(keys)} stored as interrupted; "
                                               "rerun the same command to resume")
    assert [r[1] for r in _rows(isolated)] == ["interrupted", "interrupted"]
    assert not any(_pid_alive(pid) for pid in workers)
