"""K seeds as one stacked model against K sequential models: training steps per second (prints; never asserts on time).

    python bench/bench_seed_batch.py [--study table6] [--dataset frappe-nfm] [--cell SER,WSF] [--k 5]
                                     [--steps 3] [--pairs 3] [--threads 1] [--device cpu]

One grid cell of the study at its own settings on that dataset (batch size, widths, dropout,
batch norm, regularisers). Measured in alternating pairs after one warm-up step each: K
sequential models taking ``--steps`` steps each (forward, loss, backward, clipping, Adam, as in
``tfbench.train.loop``), and one stacked model of K members (tfbench.train.stacked) taking
``--steps`` steps. Prints per pair the seconds per member-step of each, and the median ratio.
Absolute numbers depend on the machine's load; the ratio of alternating pairs less so.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from tfbench.losses import make_objective
from tfbench.models import embedding_modules
from tfbench.runner import build_for, load_for
from tfbench.studies import expand, load_study
from tfbench.train import resolve_device, seed_everything
from tfbench.train.placement import place_splits
from tfbench.train.record import synchronize
from tfbench.train.stacked import StackedMembers


def sequential_steps(models, optimizers, objective, s, batches) -> None:
    for model, optimizer, (x_cat, x_num, y) in zip(models, optimizers, batches):
        loss = objective(model(x_cat, x_num), y)
        if s.embedding_regularizer > 0:
            loss = loss + s.embedding_regularizer / 2 * sum(e.squared_norm() for e in embedding_modules(model))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), s.clip_norm)
        optimizer.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="table6")
    ap.add_argument("--dataset", default="frappe-nfm")
    ap.add_argument("--cell", default="SER,WSF", help="the cell's labels in grid order, comma-separated")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    study = load_study(args.study)
    labels = [x.strip().lower() for x in args.cell.split(",")]
    plan = [p for p in expand(study, datasets=[args.dataset], seeds=tuple(range(2023, 2023 + args.k)))
            if [label.lower() for _, label in p.cell] == labels]
    if len(plan) != args.k:
        raise SystemExit(f"no cell {args.cell} in {args.study} (axes {', '.join(study.axes)})")
    cfgs = [p.config for p in plan]
    s = cfgs[0].train
    data = load_for(cfgs[0])
    train = place_splits(data, s, device)["train"]
    objective = make_objective(cfgs[0].resolved_loss, **cfgs[0].loss_hyperparameters())
    models = []
    for c in cfgs:
        seed_everything(c.seed)
        models.append(build_for(c, data).to(device))
    optimizers = [torch.optim.Adam(m.parameters(), lr=s.learning_rate) for m in models]
    stack = StackedMembers(models, objective, learning_rate=s.learning_rate,
                           embedding_regularizer=s.embedding_regularizer, net_regularizer=s.net_regularizer,
                           clip_norm=s.clip_norm)
    g = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(len(train), generator=g)[: s.batch_size] for _ in cfgs]).to(device)
    batches = [(train.x_cat[i], train.x_num[i], train.y[i]) for i in idx]
    stacked_batch = (train.x_cat[idx], train.x_num[idx], train.y[idx])

    def timed(fn) -> float:
        synchronize(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            fn()
        synchronize(device)
        return (time.perf_counter() - t0) / (args.steps * args.k)   # seconds per member-step

    run_sequential = lambda: sequential_steps(models, optimizers, objective, s, batches)   # noqa: E731
    run_stacked = lambda: stack.step(*stacked_batch)   # noqa: E731
    run_sequential(), run_stacked()   # warm-up
    print(f"{args.study} {args.cell} on {args.dataset}: K={args.k}, batch {s.batch_size}, {args.steps} steps, "
          f"{args.threads} thread(s), {device} (torch {torch.__version__})")
    print(f"{'pair':>4} {'sequential s/member-step':>25} {'stacked s/member-step':>22} {'ratio':>6}")
    ratios = []
    for pair in range(1, args.pairs + 1):
        a, b = timed(run_sequential), timed(run_stacked)
        ratios.append(b / a)
        print(f"{pair:>4} {a:>25.4f} {b:>22.4f} {b / a:>6.2f}")
    print(f"median ratio stacked/sequential: {statistics.median(ratios):.2f} "
          f"({1 / statistics.median(ratios):.2f}x the member-steps per second)")


if __name__ == "__main__":
    main()
