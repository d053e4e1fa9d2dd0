"""fp32 against bf16 training per model at its published settings, against the matmul peak (prints; never asserts).

    OMP_NUM_THREADS=1 python bench/bench_precision.py --studies table7,table5,fig2 --dataset frappe-nfm \\
        [--only TF4CTR,DNN] [--threads 1] [--steps 3] [--pairs 3]

For each grid cell of the studies on that dataset (first seed; a model met twice is timed once),
the training step of ``tfbench train`` (``tfbench.train.step.train_step``: forward, loss and
regularisers, backward, clipping, Adam) is timed in fp32 and in bf16 autocast, in alternating
pairs of ``--steps`` steps on batches of a permutation of the train split (the machine may be
shared: the ratio of each pair is printed as a median, and the load average beside it). Effective
GFLOP/s are the matmul FLOPs of one step (``torch.utils.flop_counter.FlopCounterMode``: forward
and backward, the same count in both precisions) over its median time, and "% peak" sets them
beside a 10,000×400×400 matmul timed in the same process in fp32 and in bf16, within every pair (the
peak a loaded machine gives moves with its load; the median over the pairs is used).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from tfbench.losses import make_objective
from tfbench.models import embedding_modules
from tfbench.runner import build_for, load_for
from tfbench.studies import expand, load_study
from tfbench.train import seed_everything, to_device
from tfbench.train.step import make_optimizer, train_step

CPU = torch.device("cpu")


def matmul_peak(dtype: torch.dtype, repeats: int = 7) -> float:
    """GFLOP/s of a [10,000 × 400] @ [400 × 400] matmul (median of ``repeats``)."""
    a, b = torch.randn(10_000, 400, dtype=dtype), torch.randn(400, 400, dtype=dtype)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * 10_000 * 400 * 400 / statistics.median(times) / 1e9


class Stepper:
    """One model in one precision, trained on successive batches of a permutation of the train split."""

    def __init__(self, cfg, data, train, precision: str):
        seed_everything(cfg.seed)
        self.model = build_for(cfg, data).train()
        self.optimizer = make_optimizer(self.model, cfg.learning_rate, CPU)
        self.objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
        self.embeddings = embedding_modules(self.model)
        self.settings = cfg.train.model_copy(update={"precision": precision})
        self.train, self.bs = train, min(cfg.batch_size, len(train))
        self.perm, self.at = torch.randperm(len(train)), 0

    def step(self) -> None:
        if self.at + self.bs > len(self.perm):
            self.at = 0
        idx = self.perm[self.at : self.at + self.bs]
        self.at += self.bs
        train_step(self.model, self.optimizer, self.objective, self.embeddings, self.settings, CPU,
                   self.train.x_cat[idx], self.train.x_num[idx], self.train.y[idx])

    def seconds(self, steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", default="table7,table5,fig2")
    ap.add_argument("--dataset", default="frappe-nfm")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per precision per pair")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated model labels (as in the studies' grids)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    wanted = {x.strip().lower() for x in args.only.split(",") if x.strip()}

    cells, seen = [], set()
    for name in args.studies.split(","):
        study = load_study(name)
        for item in expand(study, datasets=[args.dataset], seeds=(study.seeds[0],)):
            label = str(item.cell_dict.get("model", item.config.model))
            if item.config.model == "tf4ctr":
                label = f"TF4CTR {item.config.model_settings.ssem}+{item.config.model_settings.dfm}"
            if label in seen or (wanted and label.lower() not in wanted and label.split()[0].lower() not in wanted):
                continue
            seen.add(label)
            cells.append((label, item.config))
    if not cells:
        raise SystemExit("no study cell matches --only")
    data = load_for(cells[0][1])
    train = to_device(data.train, CPU)
    print(f"{args.dataset}: {len(train):,} train rows; torch {torch.__version__}, {args.threads} thread(s); "
          f"{args.pairs} pairs of {args.steps} steps per precision; load average {os.getloadavg()[0]:.1f}")
    print(f"{'model':<16} {'batch':>6} {'GFLOP/step':>10} {'fp32 samples/s':>15} {'bf16 samples/s':>15} "
          f"{'bf16/fp32':>9} {'fp32 GFLOP/s':>12} {'% peak':>6} {'bf16 GFLOP/s':>12} {'% peak':>6} "
          f"{'peak fp32':>9} {'peak bf16':>9} {'load':>5}")
    for label, cfg in cells:
        if cfg.data.min_count != cells[0][1].data.min_count or cfg.data.split_seed != cells[0][1].data.split_seed:
            data = load_for(cfg)
            train = to_device(data.train, CPU)
        steppers = {p: Stepper(cfg, data, train, p) for p in ("fp32", "bf16")}
        with FlopCounterMode(display=False) as counter:
            steppers["fp32"].step()
        flops = counter.get_total_flops()
        steppers["bf16"].step()
        times, peaks = {"fp32": [], "bf16": []}, {"fp32": [], "bf16": []}
        loads = []
        for _ in range(args.pairs):
            for p, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                times[p].append(steppers[p].seconds(args.steps))
                peaks[p].append(matmul_peak(dtype, repeats=3))
            loads.append(os.getloadavg()[0])
        peak = {p: statistics.median(v) for p, v in peaks.items()}
        ratio = statistics.median(f / b for f, b in zip(times["fp32"], times["bf16"]))
        med = {p: statistics.median(t) for p, t in times.items()}
        bs = steppers["fp32"].bs
        gf = {p: flops / med[p] / 1e9 for p in med}
        print(f"{label:<16} {bs:>6} {flops / 1e9:>10.2f} {bs / med['fp32']:>15,.0f} {bs / med['bf16']:>15,.0f} "
              f"{ratio:>8.2f}x {gf['fp32']:>12.1f} {100 * gf['fp32'] / peak['fp32']:>5.0f}% "
              f"{gf['bf16']:>12.1f} {100 * gf['bf16'] / peak['bf16']:>5.0f}% {peak['fp32']:>9.1f} {peak['bf16']:>9.1f} "
              f"{statistics.median(loads):>5.1f}",
              flush=True)


if __name__ == "__main__":
    main()
