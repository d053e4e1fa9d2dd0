"""The `tfbench` CLI end to end: runs are stored, reused, and bad input fails cleanly."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.config import RunConfig
from tfbench.data import load_dataset
from tfbench.db import ResultStore
from tfbench.losses import LOSSES
from tfbench.models import MODELS, count_parameters
from tfbench.runner import build_for

from conftest import needs_frappe, train_once

FAST = ["--synthetic-rows", "4000", "--embedding-dim", "4", "--mlp-s", "16", "--mlp-c", "16,16",
        "--batch-size", "500", "--epochs", "2"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result):
    out = result.output.strip()
    assert result.exit_code == 2, out
    lines = [l for l in out.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out
    assert "Traceback" not in out
    return lines[0]


def statuses(db):
    return [r.status for r in ResultStore(db).list_runs()]


def test_train_stores_run_and_second_identical_train_reuses_it(isolated):
    r1 = invoke("train", *FAST)
    assert r1.exit_code == 0, r1.output
    runs = ResultStore(isolated).list_runs()
    assert len(runs) == 1 and runs[0].status == "done"
    row = ResultStore(isolated).find(str(runs[0].id))
    assert len(row.epochs) == row.epochs_run >= 1
    # the stored metrics are those of the same run trained in-process (CPU training is deterministic)
    cfg = RunConfig.from_dict(row.config)
    data = load_dataset("synthetic", synthetic_rows=4000, cache_dir=os.environ["TFBENCH_CACHE_DIR"])
    expected = train_once(cfg, data)
    assert (row.test_auc, row.test_gauc) == (expected.test["AUC"], expected.test["gAUC"])
    assert row.num_params == count_parameters(build_for(cfg, data))
    assert row.config["ssem"] == "SER" and row.loss == "tf" and row.torch_version

    r2 = invoke("train", *FAST)
    assert r2.exit_code == 0
    assert "already done" in r2.output
    again = ResultStore(isolated).list_runs()
    assert len(again) == 1 and again[0].finished_at == runs[0].finished_at and again[0].attempts == 1

    r3 = invoke("train", *FAST, "--force")
    assert r3.exit_code == 0
    assert ResultStore(isolated).list_runs()[0].attempts == 2

    # a changed setting is a different run
    assert invoke("train", *FAST, "--alpha", "0.5").exit_code == 0
    assert len(ResultStore(isolated).list_runs()) == 2

    listing = invoke("runs", "--model", "tf4ctr")
    assert listing.exit_code == 0 and "done" in listing.output
    shown = invoke("show", str(runs[0].id))
    assert shown.exit_code == 0 and "val AUC" in shown.output


def test_config_file_then_options_override(isolated, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("synthetic_rows: 4000\nembedding_dim: 4\nmlp_s: [16]\nmlp_c: [16, 16]\nbatch_size: 500\nepochs: 1\nalpha: 0.4\n")
    assert invoke("train", "--config", cfg, "--alpha", "0.3").exit_code == 0
    (row,) = ResultStore(isolated).list_runs()
    assert row.config["alpha"] == 0.3 and row.config["epochs"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("alpha: 0.3\nlearning_rat: 0.1\n")
    msg = one_line_error(invoke("train", "--config", bad))
    assert str(bad) in msg and "learning_rat" in msg


def write_bars(folder: Path, train: str, valid: str = None, test: str = None):
    folder.mkdir(parents=True, exist_ok=True)
    good = "label,user,item\n1,u1,i1\n0,u2,i2\n1,u1,i2\n0,u2,i1\n"
    (folder / "train.csv").write_text(train)
    (folder / "valid.csv").write_text(valid if valid is not None else good)
    (folder / "test.csv").write_text(test if test is not None else good)
    return folder


@pytest.mark.parametrize(
    "train_text,valid_text,needles",
    [
        ("label,user,item\n1,u1,i1\n0,u2\n", None, ["train.csv", "line 3"]),           # a missing field
        ("user,item\nu1,i1\nu2,i2\n", None, ["train.csv", "label"]),                    # no label column
        ("label,user,item\n1,u1,i1\n3,u2,i2\n", None, ["train.csv", "line 3", "3"]),    # label outside {0,1}
        ("label,user,item\n1,u1,i1\n0,u2,i2\n", "label,user,item\n", ["valid.csv", "empty"]),  # empty split
    ],
)
def test_bad_csv_gives_one_line_error_and_no_run(isolated, tmp_path, train_text, valid_text, needles):
    folder = write_bars(tmp_path / "bad", train_text, valid_text)
    msg = one_line_error(invoke("train", "--data", folder, *FAST[2:]))
    for needle in needles:
        assert needle in msg, msg
    assert statuses(isolated) == []


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--dataset", "nosuchdata"], ["unknown dataset 'nosuchdata'"]),
        (["--model", "nosuchmodel"], ["--model", "nosuchmodel"]),
        (["--c", "1.5"], ["--c", "[0, 1]", "1.5"]),
        (["--alpha", "2"], ["--alpha"]),
        (["--gamma", "-1"], ["--gamma"]),
        (["--ssem", "XYZ"], ["--ssem", "XYZ"]),
        (["--dfm", "Max"], ["--dfm", "Max"]),
        (["--mlp-s", "400,x"], ["--mlp-s"]),
    ],
)
def test_bad_options_give_one_line_error_and_no_run(isolated, args, needles):
    msg = one_line_error(invoke("train", *FAST, *args))
    for needle in needles:
        assert needle in msg, msg
    assert statuses(isolated) == []


def test_truncated_cache_is_rebuilt_not_an_error(isolated, tmp_path):
    assert invoke("train", *FAST).exit_code == 0
    caches = list((tmp_path / "cache").rglob("*.npz"))
    assert caches
    for c in caches:
        data = c.read_bytes()
        c.write_bytes(data[: len(data) // 2])
    from tfbench.data.cache import CacheWarning

    with pytest.warns(CacheWarning, match="ignoring unusable dataset cache .*rebuilding it"):
        r = invoke("train", *FAST, "--seed", "7")
    assert r.exit_code == 0, r.output
    assert statuses(isolated) == ["done", "done"]


def test_sigkill_mid_training_leaves_no_done_row_and_rerun_completes(isolated, tmp_path):
    args = ["--synthetic-rows", "20000", "--embedding-dim", "4", "--mlp-s", "32", "--mlp-c", "32,32",
            "--batch-size", "100", "--epochs", "3", "--patience", "3"]
    env = {**os.environ, "TFBENCH_DB": isolated}
    proc = subprocess.Popen([sys.executable, "-m", "tfbench.cli.main", "train", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_path = isolated.removeprefix("sqlite:///")
    deadline = time.time() + 120
    epochs = 0
    while time.time() < deadline and epochs < 1:
        time.sleep(0.5)
        try:
            with sqlite3.connect(db_path, timeout=30) as con:
                epochs = con.execute("select count(*) from tfb_epochs").fetchone()[0]
        except sqlite3.OperationalError:
            pass  # tables not created yet
    assert epochs >= 1, "training never reached its first epoch"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (row,) = ResultStore(isolated).list_runs()
    assert row.status == "running" and row.test_auc is None

    # the next identical command takes the orphaned run over and completes it
    r = invoke("train", *args[:-4], "--epochs", "1", "--patience", "1")  # a different key: must not touch it
    assert r.exit_code == 0
    assert sorted(statuses(isolated)) == ["done", "running"]
    r = invoke("train", *args)
    assert r.exit_code == 0, r.output
    row = ResultStore(isolated).find(str(row.id))
    assert row.status == "done" and row.attempts == 2
    assert [e.epoch for e in row.epochs] == list(range(1, row.epochs_run + 1))


def test_datasets_models_and_losses_listings(isolated):
    r = invoke("datasets")
    assert r.exit_code == 0 and "synthetic" in r.output and "frappe-nfm" in r.output
    # one line per registered model and per loss, its name first
    r = invoke("models")
    assert r.exit_code == 0 and [line.split()[0] for line in r.output.splitlines()] == sorted(MODELS)
    r = invoke("losses")
    assert r.exit_code == 0 and [line.split()[0] for line in r.output.splitlines()] == sorted(LOSSES)


# ---------------------------------------------------------------- model and loss options
def test_cli_trains_dcnv2_with_the_focal_loss_and_cross_options(isolated):
    args = ["train", "--model", "dcnv2", "--num-cross-layers", "1", "--loss", "focal", "--focal-gamma", "1",
            "--focal-alpha", "0.5", "--synthetic-rows", "2000", "--embedding-dim", "4", "--mlp-c", "8",
            "--batch-size", "500", "--epochs", "1"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    (row,) = ResultStore(isolated).list_runs()
    assert row.loss == "focal" and row.config["focal_gamma"] == 1.0 and row.config["focal_alpha"] == 0.5
    assert row.config["num_cross_layers"] == 1
    r = CliRunner().invoke(app, ["train", "--loss", "rce", "--rce-beta", "-1"])
    assert r.exit_code == 2 and "--rce-beta" in r.output


def test_cli_trains_autoint_with_the_attention_options(isolated):
    args = ["train", "--model", "autoint+", "--attention-layers", "1", "--num-heads", "2", "--attention-dim", "6",
            "--attention-scale", "--synthetic-rows", "2000", "--embedding-dim", "4", "--mlp-c", "8",
            "--batch-size", "500", "--epochs", "1"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    (row,) = ResultStore(isolated).list_runs()
    assert row.model == "autoint+"
    assert (row.config["attention_layers"], row.config["attention_dim"], row.config["attention_scale"]) == (1, 6, True)
    r = CliRunner().invoke(app, ["train", "--model", "edcn", "--edcn-bridge", "product"])
    assert r.exit_code == 2 and "--edcn-bridge" in r.output
    r = CliRunner().invoke(app, ["train", "--model", "xdeepfm", "--cin-layers", "8,0"])
    assert r.exit_code == 2 and "--cin-layers" in r.output


def test_cli_trains_cl4ctr_with_its_loss_weights(isolated):
    args = ["train", "--model", "cl4ctr", "--cl-weight", "0.5", "--alignment-weight", "0.02",
            "--uniformity-weight", "0.03", "--synthetic-rows", "2000", "--embedding-dim", "4", "--mlp-c", "8",
            "--batch-size", "500", "--epochs", "1"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    (row,) = ResultStore(isolated).list_runs()
    assert row.model == "cl4ctr"
    assert (row.config["cl_weight"], row.config["alignment_weight"], row.config["uniformity_weight"]) == (0.5, 0.02, 0.03)
    r = CliRunner().invoke(app, ["train", "--model", "eulernet", "--euler-orders", "8,0"])
    assert r.exit_code == 2 and "--euler-orders" in r.output
    r = CliRunner().invoke(app, ["train", "--model", "dlf", "--dlf-rank", "0"])
    assert r.exit_code == 2 and "--dlf-rank" in r.output


@needs_frappe
def test_frappe_nfm_trains_above_chance_quickly(isolated):
    r = invoke("train", "--dataset", "frappe-nfm", "--epochs", "1", "--mlp-s", "64", "--mlp-c", "64,64")
    assert r.exit_code == 0, r.output
    (row,) = ResultStore(isolated).list_runs()
    assert row.test_auc > 0.8 and row.test_gauc > 0.7
