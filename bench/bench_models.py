"""Training throughput of every model of a study, at the study's own settings (prints; never asserts on time).

    python bench/bench_models.py --study table7 --dataset frappe-nfm [--threads 1] [--steps 3]

For each grid cell of the study on that dataset (the first seed), one full-size training step
is taken to warm up, then ``--steps`` are timed, on the CPU with ``--threads`` threads (1 is
what each worker of `tfbench run --jobs 2` gets on 2 cores). Prints seconds per step, training
samples/s, and the seconds one pass over the train split takes at that rate (evaluation and
data movement excluded), so the wall time of a study can be planned before it is run.
"""

from __future__ import annotations

import argparse
import math
import time

import tfbench  # noqa: F401  before torch: tfbench sets process-wide allocation settings
import torch

from tfbench.losses import make_objective
from tfbench.runner import build_for, load_for
from tfbench.studies import expand, load_study
from tfbench.train import seed_everything


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="table7")
    ap.add_argument("--dataset", default="frappe-nfm")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated labels of the study's row axis")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    study = load_study(args.study)
    seed = study.seeds[0]
    plan = expand(study, datasets=[args.dataset], seeds=(seed,))
    wanted = {x.strip().lower() for x in args.only.split(",") if x.strip()}
    if wanted:
        plan = [p for p in plan if p.cell_dict[study.rows].lower() in wanted]
    data = load_for(plan[0].config)
    train = data.train
    n = len(train)
    print(f"{args.study} on {args.dataset}: {n:,} train rows, {args.threads} thread(s), "
          f"{args.steps} timed steps per cell (torch {torch.__version__})")
    print(f"{'cell':<28} {'batch':>6} {'s/step':>8} {'samples/s':>10} {'s/pass':>8}")
    for item in plan:
        cfg = item.config
        bs = min(cfg.batch_size, n)
        step = training_step(cfg, data, bs)
        step()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        per_step = (time.perf_counter() - t0) / args.steps
        label = " ".join(f"{v}" for v in item.cell_dict.values())
        print(f"{label:<28} {bs:>6} {per_step:>8.2f} {bs / per_step:>10,.0f} {per_step * math.ceil(n / bs):>8.1f}",
              flush=True)


def training_step(cfg, data, batch_size: int):
    """One full training step of ``cfg``'s model on the first ``batch_size`` train rows of ``data``
    (forward, loss with the model's auxiliary terms, backward, Adam step), as a closure; built
    from ``cfg.seed`` so two calls with the same arguments time the same model."""
    seed_everything(cfg.seed)
    model = build_for(cfg, data).train()
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    train = data.train
    x_cat = torch.as_tensor(train.x_cat[:batch_size])
    x_num = torch.as_tensor(train.x_num[:batch_size])
    y = torch.as_tensor(train.y[:batch_size])

    def step() -> None:
        loss = objective(model(x_cat, x_num), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


if __name__ == "__main__":
    main()
