"""`--executor ray` on a real (local) two-node Ray cluster, against a real PostgreSQL server:
a study ends with every run done exactly once, also when a Ray worker is SIGKILLed mid-run (the
task is retried and the retry takes the dead claim over: attempts 2) and when a local command
works on the same database at once; `tfbench tune --executor ray` completes its trials in the
shared RDB storage. One cluster (two nodes, 1 CPU each) serves every test of the module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'tfbench[ray]')")
from ray.cluster_utils import Cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE6 = ["run", "table6", "--datasets", "synthetic", "--quick", "--seeds", "2"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("ray-cache")


@pytest.fixture(scope="module")
def ray_cluster(cache_dir):
    """Two Ray nodes on this machine; their workers see the test's dataset cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFBENCH_CACHE_DIR", str(cache_dir))
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.setenv("RAY_AUTH_MODE", "disabled")
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
        cluster.shutdown()


def tfbench(*args, db: str, cache: Path, wait: bool = True):
    env = dict(os.environ, TFBENCH_DB=db, TFBENCH_CACHE_DIR=str(cache), OMP_NUM_THREADS="1", RAY_AUTH_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-m", "tfbench.cli.main", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait:
        return proc
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    return out


def runs(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT key, status, attempts FROM tfb_runs")).all()
    engine.dispose()
    return rows


def runs_or_none(url: str) -> list[tuple]:
    try:
        return runs(url)
    except sa.exc.ProgrammingError:  # the tables are not there yet
        return []


def check_exactly_once(url: str, n: int) -> list[tuple]:
    rows = runs(url)
    assert len(rows) == n and len({r[0] for r in rows}) == n  # one row per key
    assert sorted({r[1] for r in rows}) == ["done"]
    return rows


def test_a_study_on_the_cluster_runs_each_run_once_also_when_a_worker_is_killed(pg_url, ray_cluster, cache_dir):
    proc = tfbench(*TABLE6, "--executor", "ray", "--address", ray_cluster.address, db=pg_url, cache=cache_dir, wait=False)
    engine = sa.create_engine(pg_url)
    killed = None
    deadline = time.time() + 300
    while killed is None and time.time() < deadline and proc.poll() is None:
        try:
            with engine.connect() as conn:
                row = conn.execute(sa.text("SELECT key, pid FROM tfb_runs WHERE status = 'running' AND attempts = 1 "
                                           "ORDER BY id LIMIT 1")).first()
        except sa.exc.ProgrammingError:  # the tables are not there yet
            row = None
        if row is not None:
            time.sleep(0.5)  # mid-run
            os.kill(row.pid, signal.SIGKILL)  # the Ray worker process training it
            killed = row.key
        time.sleep(0.2)
    engine.dispose()
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    assert killed is not None, out[-3000:]
    assert "table6: 40 trained, 0 already done, 0 failed" in out
    rows = check_exactly_once(pg_url, 40)
    attempts = {key: a for key, _, a in rows}
    assert attempts[killed] == 2  # the retried task took the killed claim over
    assert sorted(a for k, a in attempts.items() if k != killed) == [1] * 39


def test_a_ray_command_and_a_local_command_on_one_database_do_the_work_once(pg_url, ray_cluster, cache_dir):
    plan = [*TABLE6, "--only", "ssem=SER"]  # 5 cells x 2 seeds = 10 runs
    on_ray = tfbench(*plan, "--executor", "ray", "--address", ray_cluster.address, db=pg_url, cache=cache_dir, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and on_ray.poll() is None and not any(r[1] == "running" for r in runs_or_none(pg_url)):
        time.sleep(0.2)  # the local command starts once the cluster is training
    here = tfbench(*plan, db=pg_url, cache=cache_dir, wait=False)
    outs = [p.communicate(timeout=600)[0] for p in (on_ray, here)]
    assert on_ray.returncode == 0 and here.returncode == 0, outs
    rows = check_exactly_once(pg_url, 10)
    assert [a for _, _, a in rows] == [1] * 10  # nothing trained twice
    trained = [int(o.split("trained")[0].split(":")[-1]) for o in outs if " trained, " in o]
    assert sum(trained) == 10, outs  # each run trained by one of the two


def test_tune_on_the_cluster_completes_its_trials_in_the_shared_storage(pg_url, ray_cluster, cache_dir):
    optuna = pytest.importorskip("optuna")
    tfbench("tune", "--dataset", "synthetic", "--model", "dnn", "--name", "ray-tune", "--trials", "6", "--jobs", "2",
            "--epochs", "1", "--synthetic-rows", "4000", "--pruner", "none", "--executor", "ray",
            "--address", ray_cluster.address, db=pg_url, cache=cache_dir)
    study = optuna.load_study(study_name="ray-tune", storage=pg_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 6
    keys = {t.user_attrs["run_key"] for t in study.trials}
    rows = {key: status for key, status, _ in runs(pg_url)}
    assert keys <= set(rows) and {rows[k] for k in keys} == {"done"}


def test_ctrl_c_cancels_the_tasks_and_leaves_the_runs_resumable(pg_url, ray_cluster, cache_dir):
    plan = [*TABLE6, "--only", "ssem=SER", "--only", "dfm=WSF,VF"]  # 4 runs, 2 at a time on the cluster
    proc = tfbench(*plan, "--executor", "ray", "--address", ray_cluster.address, db=pg_url, cache=cache_dir, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not any(r[1] == "running" for r in runs_or_none(pg_url)):
        time.sleep(0.2)
    time.sleep(1.0)  # mid-run
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-3000:]
    statuses = [status for _, status, _ in runs(pg_url)]
    assert "interrupted" in statuses and "running" not in statuses, statuses  # nothing left claimed
    assert len(statuses) < 4  # the tasks not yet started were cancelled
    # the next command resumes: every run done once more, the interrupted ones taken up again
    tfbench(*plan, "--executor", "ray", "--address", ray_cluster.address, db=pg_url, cache=cache_dir)
    rows = check_exactly_once(pg_url, 4)
    assert {a for _, _, a in rows} <= {1, 2}
