"""Core throughput figures for one dataset and device (prints; never asserts on time).

    python bench/bench_core.py --dataset frappe-nfm [--device cpu|cuda] [--full-train]

Prints: encode (cold cache) and cache-load seconds; training samples/s of TF4CTR (SER+WSF)
and DualMLP at batch 10,000 with the authors' Frappe settings; evaluation seconds per split;
and, with --full-train, the wall time of one complete `tfbench train` command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch

from tfbench.config import RunConfig
from tfbench.data import load_dataset
from tfbench.losses import make_objective
from tfbench.runner import build_for
from tfbench.train import resolve_device, seed_everything, to_device
from tfbench.train.loop import evaluate

FRAPPE_BEST = dict(
    embedding_dim=16, batch_size=10_000, mlp_s=[400, 400], mlp_c=[400, 400, 400], dropout=0.2,
    batch_norm=True, embedding_regularizer=0.1, monitor="AUC+gAUC", min_count=2,
    alpha=0.25, c=0.7, gamma=1.0, ssem="SER", dfm="WSF",
)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_throughput(cfg: RunConfig, data, device, steps: int) -> float:
    seed_everything(cfg.seed)
    model = build_for(cfg, data).to(device)
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    train = to_device(data.train, device)
    n, bs = len(train), cfg.batch_size
    embeddings = [m for m in model.modules() if hasattr(m, "squared_norm")]

    def step(i):
        idx = torch.randint(0, n, (bs,), device=device)  # a random batch gathers like a permutation slice
        out = model(train.x_cat[idx], train.x_num[idx])
        loss = objective(out, train.y[idx]) + cfg.embedding_regularizer / 2 * sum(e.squared_norm() for e in embeddings)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
        opt.step()

    model.train()
    for i in range(2):  # warm-up
        step(i)
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    sync(device)
    return steps * bs / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="frappe-nfm")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--full-train", action="store_true", help="also time one complete `tfbench train`")
    args = ap.parse_args()
    device = resolve_device(args.device)
    print(f"dataset {args.dataset}, device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        data = load_dataset(args.dataset, cache_dir=cache)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        data = load_dataset(args.dataset, cache_dir=cache)
        warm = time.perf_counter() - t0
    rows = {k: len(v) for k, v in data.splits().items()}
    print(f"rows {rows}; encode (cold cache) {cold:.3f}s; cache load {warm:.3f}s ({data.info.get('cache')})")

    for model in ("tf4ctr", "dualmlp"):
        cfg = RunConfig.from_dict({**FRAPPE_BEST, "dataset": args.dataset, "model": model})
        sps = train_throughput(cfg, data, device, args.steps)
        print(f"train {model:8s} batch {cfg.batch_size}: {sps:,.0f} samples/s ({len(data.train) / sps:.2f}s per epoch)")

    cfg = RunConfig.from_dict({**FRAPPE_BEST, "dataset": args.dataset})
    seed_everything(0)
    model = build_for(cfg, data).to(device)
    for name, split in data.splits().items():
        d = to_device(split, device)
        evaluate(model, d)  # warm-up
        sync(device)
        t0 = time.perf_counter()
        evaluate(model, d)
        sync(device)
        dt = time.perf_counter() - t0
        print(f"evaluate {name:5s}: {dt:.3f}s ({len(split) / dt:,.0f} rows/s, AUC+gAUC+logloss)")

    if args.full_train:
        with tempfile.TemporaryDirectory() as tmp:
            flags = ["--dataset", args.dataset, "--model", "tf4ctr", "--ssem", "SER", "--dfm", "WSF",
                     "--embedding-dim", "16", "--batch-size", "10000", "--mlp-s", "400,400",
                     "--mlp-c", "400,400,400", "--alpha", "0.25", "--c", "0.7", "--gamma", "1",
                     "--dropout", "0.2", "--batch-norm", "--emb-reg", "0.1", "--monitor", "AUC+gAUC",
                     "--min-count", "2", "--device", args.device, "--db", f"sqlite:///{tmp}/bench.db"]
            env = {**os.environ, "TFBENCH_CACHE_DIR": f"{tmp}/cache"}
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "tfbench.cli.main", "train", *flags], env=env,
                                 capture_output=True, text=True)
            wall = time.perf_counter() - t0
            summary = [l for l in out.stdout.splitlines() if "test" in l or "best epoch" in l]
            print(f"full `tfbench train` (TF4CTR SER+WSF, Frappe settings): {wall:.1f}s wall, exit {out.returncode}")
            for line in summary:
                print("   " + line.strip())


if __name__ == "__main__":
    main()
