"""Small costs of a training step: no per-batch host sync unless a progress bar is drawn."""

from __future__ import annotations

from typer.testing import CliRunner

import tfbench.runner
from tfbench.cli.main import app


class _Stop(Exception):
    pass


def test_train_without_a_drawn_progress_bar_reads_no_batch_loss(monkeypatch, isolated):
    # CliRunner's stderr is not a terminal: the bar is not drawn, so fit must get no on_batch hook
    # (the hook reads each batch's loss with float(), a host sync per batch on a GPU)
    seen = {}

    def fake_execute_run(cfg, store, **kw):
        seen.update(kw)
        raise _Stop

    monkeypatch.setattr(tfbench.runner, "execute_run", fake_execute_run)
    result = CliRunner().invoke(app, ["train", "--dataset", "synthetic", "--epochs", "1"])
    assert isinstance(result.exception, _Stop), result.output
    assert "on_batch" in seen and seen["on_batch"] is None
    assert seen["on_epoch"] is not None
