"""Seeds of one cell trained as one stacked model (tfbench.train.seed_batch, tfbench.seed_batch_runs)
against the reference: each member's own sequential run (tfbench.train.fit with that seed)."""

import pytest
import torch
from sqlalchemy import select
from torch import nn

from tfbench.config import RunConfig, run_key
from tfbench.data import load_dataset
from tfbench.db import ResultStore
from tfbench.db.schema import EpochRow
from tfbench.losses import make_objective
from tfbench.models import ModelOutput
from tfbench.runner import build_for, execute_run
from tfbench.seed_batch_runs import execute_seed_batch
from tfbench.studies import load_study
from tfbench.studies.plan import expand, seed_batches
from tfbench.train import fit, resolve_device, seed_everything
from tfbench.train.placement import place_splits
from tfbench.train.seed_batch import fit_seed_batch, probe_reason
from tfbench.train.stacked import StackedMembers

ROWS = 4000
# Tiny but with every part of the schedule at work: several steps per round, clipping active
# (clip_norm 0.5 is below the first steps' gradient norms), the embedding regulariser on.
TINY = dict(synthetic_rows=ROWS, embedding_dim=4, mlp_s=[16], mlp_c=[16, 16], batch_size=500, dropout=0.0,
            embedding_regularizer=0.01, learning_rate=3e-3, clip_norm=0.5, eval_steps=3)
SEEDS = (1, 2, 3)
CPU = resolve_device("cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_dataset("synthetic", synthetic_rows=ROWS, cache_dir=tmp_path_factory.mktemp("cache"))


def configs(seeds=SEEDS, **changes):
    return [RunConfig.from_dict({**TINY, **changes, "seed": s}) for s in seeds]


def objective_of(cfg):
    return make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())


def sequential(cfgs, data):
    """Each config trained on its own, as `tfbench run` trains it (models returned with their best weights)."""
    out = []
    for c in cfgs:
        seed_everything(c.seed)
        model = build_for(c, data)
        out.append((model, fit(model, data, objective_of(c), c.train, CPU)))
    return out


def batched(cfgs, data):
    models = []
    for c in cfgs:
        seed_everything(c.seed)
        models.append(build_for(c, data))
    results = fit_seed_batch(models, data, objective_of(cfgs[0]), [c.train for c in cfgs], CPU).results
    return list(zip(models, results))


def relative(a, b):
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("ssem,dfm", [("SER", "WSF"), ("MoE", "MoEF"), ("GM", "CF")])
def test_first_rounds_losses_match_each_members_sequential_run_with_batch_norm(ssem, dfm, data):
    # Batch norm on (as in Table VI): each member normalises over its own batch. Two rounds of
    # three steps: the second round's losses come after six clipped Adam steps.
    cfgs = configs(ssem=ssem, dfm=dfm, batch_norm=True, epochs=2)
    for (_, seq), (_, bat) in zip(sequential(cfgs, data), batched(cfgs, data)):
        for r_seq, r_bat in zip(seq.history, bat.history, strict=True):
            assert relative(r_bat.train_loss, r_seq.train_loss) < 1e-5, (r_bat.train_loss, r_seq.train_loss)


def test_without_random_or_normalising_layers_whole_runs_match(data):
    # Without batch norm nothing in the model amplifies rounding noise (with it, the bias in front
    # of a batch norm has a zero gradient up to rounding, which Adam turns into full-size steps
    # that move the running means), so whole runs agree: every round's loss and validation AUC,
    # the best epoch, the final test metrics.
    cfgs = configs(ssem="SER", dfm="WSF", batch_norm=False, epochs=3)
    for (_, seq), (_, bat) in zip(sequential(cfgs, data), batched(cfgs, data)):
        assert bat.best_epoch == seq.best_epoch
        for r_seq, r_bat in zip(seq.history, bat.history, strict=True):
            assert relative(r_bat.train_loss, r_seq.train_loss) < 1e-5
            assert r_bat.valid["AUC"] == pytest.approx(r_seq.valid["AUC"], abs=1e-6)
            assert r_bat.learning_rate == r_seq.learning_rate
        assert bat.test["AUC"] == pytest.approx(seq.test["AUC"], abs=1e-6)
        assert bat.test["logloss"] == pytest.approx(seq.test["logloss"], rel=1e-5)


def test_an_early_stopped_member_freezes_with_its_best_weights_while_the_others_go_on(data):
    # A high learning rate: the seeds stop after different rounds and decay their learning rates
    # at different rounds (both checked below), so the members that go on train in a smaller stack
    # (rows, Adam state, learning rates and permutation streams taken out for the stopped ones).
    cfgs = configs((1, 2, 3, 4), ssem="SER", dfm="WSF", batch_norm=False, epochs=8, eval_steps=2, patience=2,
                   lr_decay=0.5, learning_rate=3e-2, batch_size=450)   # 7 steps a pass: stops fall inside a pass
    seq, bat = sequential(cfgs, data), batched(cfgs, data)
    lengths = [len(r.history) for _, r in bat]
    assert len(set(lengths)) > 1, lengths   # the scenario: some members stop while others train on
    assert len({tuple(r.learning_rate for r in res.history) for _, res in bat}) > 1   # and decay on their own
    for (m_seq, r_seq), (m_bat, r_bat) in zip(seq, bat):
        assert len(r_bat.history) == len(r_seq.history)   # no record after its stop
        assert r_bat.stopped_early == r_seq.stopped_early
        assert r_bat.best_epoch == r_seq.best_epoch
        for a, b in zip(r_seq.history, r_bat.history, strict=True):
            assert relative(b.train_loss, a.train_loss) < 1e-5
            assert b.learning_rate == a.learning_rate
        # the member's final weights are its best epoch's, as the sequential run restores them
        # (measured: within 2.1e-6 of them; one Adam step at this rate moves a weight by up to 3e-2)
        s_seq, s_bat = m_seq.state_dict(), m_bat.state_dict()
        for name in s_seq:
            assert torch.allclose(s_bat[name], s_seq[name], rtol=1e-4, atol=1e-5), name
        # (4,000 rows barely teach this model anything: its predictions nearly tie, and AUCs move
        # by a few 1e-6 with the weights' rounding)
        assert r_bat.valid == pytest.approx(r_seq.valid, abs=2e-5)
        assert r_bat.test == pytest.approx(r_seq.test, abs=2e-5)


def test_dropout_masks_differ_across_members(data):
    # Dropout cannot draw the masks of the sequential runs (vmap draws for all members at once),
    # but it must draw independent masks per member: identical members on identical batches give
    # identical losses without dropout and different ones with it.
    placed = place_splits(data, configs()[0].train, CPU)["train"]
    x_cat, x_num, y = (t[:256].unsqueeze(0).expand(3, *t[:256].shape) for t in (placed.x_cat, placed.x_num, placed.y))
    for dropout in (0.0, 0.5):
        cfg = configs(dropout=dropout)[0]
        models = []
        for _ in range(3):
            seed_everything(cfg.seed)
            models.append(build_for(cfg, data))
        stack = StackedMembers(models, objective_of(cfg), learning_rate=1e-3, embedding_regularizer=0.0,
                               net_regularizer=0.0, clip_norm=10.0)
        losses = stack.losses(x_cat, x_num, y).detach()
        if dropout == 0:
            assert torch.equal(losses, losses[0].expand(3))
        else:
            assert len(set(losses.tolist())) == 3, losses


def test_each_member_is_stored_as_its_own_done_run_under_the_sequential_key(data, tmp_path):
    cfgs = configs(epochs=2, batch_norm=False)   # without batch norm, the members' metrics are the sequential runs'
    store = ResultStore(f"sqlite:///{tmp_path / 'batch.db'}")
    done_before = execute_run(cfgs[1], store, dataset=data, device="cpu").row   # trained one by one earlier
    outcomes = execute_seed_batch(cfgs, store, device="cpu", cache_dir=str(tmp_path / "cache"))
    assert [o.kind for o in outcomes] == ["trained", "skipped", "trained"]
    assert outcomes[1].row.id == done_before.id and outcomes[1].row.finished_at == done_before.finished_at
    reference = ResultStore(f"sqlite:///{tmp_path / 'sequential.db'}")
    for cfg, outcome in zip(cfgs, outcomes):
        row = store.get_by_key(run_key(data.fingerprint, cfg))
        assert row is not None and row.status == "done" and row.seed == cfg.seed
        alone = execute_run(cfg, reference, dataset=data, device="cpu").row
        assert row.key == alone.key
        assert row.test_auc == pytest.approx(alone.test_auc, abs=1e-6)   # its own member's results
        assert row.valid_logloss == pytest.approx(alone.valid_logloss, rel=1e-5)
        with store.Session() as session:
            epochs = session.scalars(select(EpochRow.epoch).where(EpochRow.run_id == row.id)).all()
        assert row.epochs_run == 2 and sorted(epochs) == [1, 2]
        assert row.test_auc is not None and 0 < row.test_auc < 1
        assert not execute_run(cfg, store, dataset=data, device="cpu").trained   # a later run finds it done
    assert outcomes[0].row.metrics["seed_batch"] == {"members": 2, "seeds": [1, 3]}


def test_plan_groups_only_runs_that_differ_in_the_seed():
    plan = expand(load_study("table6"), datasets=["synthetic"], seeds=(1, 2, 3), quick=True)[:6]   # two cells
    batches = seed_batches(plan, 2)
    assert [[p.seed for p in b] for b in batches] == [[1, 2], [3], [1, 2], [3]]
    for b in batches:
        assert len({p.cell for p in b}) == 1
    assert [p for b in batches for p in b] == plan


class DataDependent(nn.Module):
    """Branches on a value of its input: vmap cannot map it."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x_cat, x_num=None):
        logit = x_cat.float().sum(1) * self.w
        return ModelOutput(logit if logit.sum() > 0 else -logit)


def test_a_model_that_cannot_be_stacked_is_reported_and_trained_one_by_one(data, tmp_path):
    cfg = configs()[0]
    placed = place_splits(data, cfg.train, CPU)["train"]
    assert probe_reason([DataDependent(), DataDependent()], objective_of(RunConfig.from_dict({"model": "dnn"})),
                        cfg.train, placed, CPU) is not None
    models = []
    for c in configs():
        seed_everything(c.seed)
        models.append(build_for(c, data))
    assert probe_reason(models, objective_of(cfg), cfg.train, placed, CPU) is None
    # settings that only the sequential loop supports: the batch falls back, each run still done
    notes = []
    cfgs = configs(epochs=1, record_grad_steps=2)
    outcomes = execute_seed_batch(cfgs, ResultStore(f"sqlite:///{tmp_path / 'r.db'}"), device="cpu",
                                  cache_dir=str(tmp_path / "cache"), on_fallback=notes.append)
    assert [o.kind for o in outcomes] == ["trained"] * 3 and len(notes) == 1 and "record" in notes[0]
    assert all("seed_batch" not in o.row.metrics for o in outcomes)
