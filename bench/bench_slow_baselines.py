"""Training samples/s of the slow baselines (AutoInt+, AFN+, CL4CTR, DLF; DNN as a yardstick) at
their published Frappe settings, on frappe-nfm-shaped input (prints; never asserts on time).

    python bench/bench_slow_baselines.py [--models autoint+,cl4ctr] [--steps 2] [--threads 1]
    python bench/bench_slow_baselines.py --profile cl4ctr          # where one step's time goes
    python bench/bench_slow_baselines.py --compare-with /path/to/other/checkout --pairs 3

Each model is built from its Table VII cell on frappe-nfm (settings/baselines.yaml for AutoInt+
and AFN+, the per-dataset settings for CL4CTR and DLF; DNN takes CL4CTR's cell with model dnn),
batch 10,000, and timed over ``--steps`` full training steps (forward, loss with the model's
auxiliary terms, backward, Adam step; ``bench_models.training_step``) after one warm-up step.
The data is the real frappe-nfm split when TFBENCH_DATA_DIR is set, otherwise random indices
with frappe-nfm's field vocabularies (the cost of these models does not depend on the values).

``--compare-with DIR`` times the same models with the ``tfbench`` package of another checkout
(``DIR``, e.g. a worktree of main) and of this one, in alternating child processes (A then B,
``--pairs`` times), and prints the medians and the ratio B/A per model: on a loaded machine only
ratios of alternating pairs mean much.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import tfbench  # noqa: F401  before torch: tfbench sets process-wide allocation settings
import torch

from bench_models import training_step

MODELS = {"autoint+": "AutoInt+", "afn+": "AFN+", "cl4ctr": "CL4CTR", "dlf": "DLF", "dnn": None}
# frappe-nfm's categorical vocabularies (min_count 2, with the padding/OOV index), no numeric fields
FRAPPE_NFM_VOCAB = [810, 4084, 9, 9, 4, 5, 4, 10, 77, 217]
FRAPPE_NFM_TRAIN_ROWS = 60607


def model_configs(models: list[str]) -> dict:
    from tfbench.studies import expand, load_study

    study = load_study("table7")
    plan = expand(study, datasets=["frappe-nfm"], seeds=(study.seeds[0],))
    by_label = {item.cell_dict[study.rows]: item.config for item in plan}
    return {m: by_label[MODELS[m]] if MODELS[m] else by_label["CL4CTR"].replace(model="dnn") for m in models}


def frappe_shaped(cfg, rows: int):
    if os.environ.get("TFBENCH_DATA_DIR"):
        from tfbench.runner import load_for

        return load_for(cfg)
    rng = np.random.default_rng(0)
    x_cat = np.stack([rng.integers(1, v, rows) for v in FRAPPE_NFM_VOCAB], axis=1).astype(np.int64)
    train = SimpleNamespace(x_cat=x_cat, x_num=np.zeros((rows, 0), np.float32),
                            y=(rng.random(rows) < 0.33).astype(np.float32))
    return SimpleNamespace(train=train, vocab_sizes=FRAPPE_NFM_VOCAB, numeric_fields=[], has_sequences=False)


def time_model(cfg, data, steps: int) -> dict[str, float]:
    """Training samples per wall second and per CPU second (this process's user + system time,
    which waiting for a core on a loaded machine does not inflate) of ``cfg``'s model: the median
    of ``steps`` timed steps after a warm-up."""
    bs = cfg.batch_size
    step = training_step(cfg, data, bs)
    step()
    wall, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall": bs / statistics.median(wall), "cpu": bs / statistics.median(cpu)}


def profile_model(cfg, data, rows: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    step = training_step(cfg, data, cfg.batch_size)
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def measure(models: list[str], steps: int) -> dict[str, dict[str, float]]:
    configs = model_configs(models)
    data = frappe_shaped(next(iter(configs.values())), FRAPPE_NFM_TRAIN_ROWS)
    return {m: time_model(cfg, data, steps) for m, cfg in configs.items()}


def child(tree: str, models: list[str], steps: int, threads: int) -> dict[str, dict[str, float]]:
    """``measure`` in a fresh process that imports ``tfbench`` from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve()), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--models", ",".join(models), "--steps", str(steps),
           "--threads", str(threads), "--json"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(other: str, models: list[str], steps: int, threads: int, pairs: int) -> None:
    here = str(Path(__file__).resolve().parents[1])
    a, b = {m: [] for m in models}, {m: [] for m in models}
    for i in range(pairs):
        for m in models:   # one model per child: each pair is A then B of the same model, back to back
            ra, rb = child(other, [m], steps, threads)[m], child(here, [m], steps, threads)[m]
            a[m].append(ra)
            b[m].append(rb)
            print(f"pair {i + 1} {m:<9} samples/CPU-s A {ra['cpu']:>7,.0f} B {rb['cpu']:>7,.0f} B/A {rb['cpu'] / ra['cpu']:5.2f}"
                  f" | samples/wall-s A {ra['wall']:>7,.0f} B {rb['wall']:>7,.0f} B/A {rb['wall'] / ra['wall']:5.2f}", flush=True)
    print(f"\nA = {other}\nB = {here}\n{threads} thread(s), {steps} timed steps per process, {pairs} alternating pairs; "
          "medians over the pairs")
    print(f"{'model':<9} {'A /CPU-s':>9} {'B /CPU-s':>9} {'B/A':>5}   {'A /wall-s':>9} {'B /wall-s':>9} {'B/A':>5}")
    for m in models:
        cols = []
        for clock in ("cpu", "wall"):
            ratio = statistics.median(y[clock] / x[clock] for x, y in zip(a[m], b[m]))
            cols.append(f"{statistics.median(x[clock] for x in a[m]):>9,.0f} "
                        f"{statistics.median(y[clock] for y in b[m]):>9,.0f} {ratio:>5.2f}")
        print(f"{m:<9} {cols[0]}   {cols[1]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", default="", help="a model whose one training step is profiled")
    ap.add_argument("--profile-rows", type=int, default=25)
    ap.add_argument("--compare-with", default="", help="another checkout's root: alternating A/B pairs")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    models = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models + ([args.profile] if args.profile else []) if m not in MODELS]
    if unknown:
        sys.exit(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(MODELS)}")
    torch.set_num_threads(args.threads)
    if args.compare_with:
        compare(args.compare_with, models, args.steps, args.threads, args.pairs)
    elif args.profile:
        cfg = model_configs([args.profile])[args.profile]
        profile_model(cfg, frappe_shaped(cfg, FRAPPE_NFM_TRAIN_ROWS), args.profile_rows)
    else:
        rates = measure(models, args.steps)
        if args.json:
            print(json.dumps(rates))
            return
        source = "real frappe-nfm" if os.environ.get("TFBENCH_DATA_DIR") else "synthetic frappe-nfm-shaped"
        print(f"{source} data, batch 10,000, {args.threads} thread(s), median of {args.steps} steps "
              f"(torch {torch.__version__})")
        print(f"{'model':<9} {'samples/wall-s':>14} {'samples/CPU-s':>14}")
        for m, r in rates.items():
            print(f"{m:<9} {r['wall']:>14,.0f} {r['cpu']:>14,.0f}")


if __name__ == "__main__":
    main()
