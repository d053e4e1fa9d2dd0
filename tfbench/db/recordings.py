"""Writing and reading what runs record beyond their metrics (tfbench.train.record).

Rows are written in the transaction that writes their epoch (or the run's final metrics), so a
run never holds recordings of an epoch it has not recorded; they go with their run (foreign keys
with ON DELETE CASCADE, and a restarted run's rows are deleted when it is claimed again).
Reports read them as pandas frames, one row per database row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tfbench.db.schema import BandRow, GradStepRow, HistogramRow, TimingRow

if TYPE_CHECKING:
    import pandas as pd

RECORDING_TABLES = (BandRow, HistogramRow, GradStepRow, TimingRow)


def add_epoch_recordings(s: Session, run_id: int, record) -> None:
    """The bands, histograms and gradient steps of one ``EpochRecord``."""
    for b in getattr(record, "bands", ()):
        s.add(BandRow(run_id=run_id, epoch=b.epoch, split=b.split, label=b.label,
                      misclassified=b.misclassified, poorly=b.poorly, well=b.well))
        bins = len(b.histogram)
        s.add_all(HistogramRow(run_id=run_id, epoch=b.epoch, split=b.split, label=b.label, bin=i, bins=bins,
                               count=c) for i, c in enumerate(b.histogram))
    s.add_all(GradStepRow(run_id=run_id, step=g.step, epoch=g.epoch, loss=g.loss, grad_z_s=g.grad_z_s,
                          grad_z_c=g.grad_z_c) for g in getattr(record, "grad_steps", ()))


def add_timings(s: Session, run_id: int, timings: Iterable) -> None:
    s.add_all(TimingRow(run_id=run_id, phase=t.phase, repeat=t.repeat, seconds=t.seconds, rows=t.rows)
              for t in timings)


def delete_recordings(s: Session, run_id: int) -> None:
    for table in RECORDING_TABLES:
        s.execute(sa.delete(table).where(table.run_id == run_id))


_COLUMNS = {
    BandRow: ["run_id", "epoch", "split", "label", "misclassified", "poorly", "well"],
    HistogramRow: ["run_id", "epoch", "split", "label", "bin", "bins", "count"],
    GradStepRow: ["run_id", "step", "epoch", "loss", "grad_z_s", "grad_z_c"],
    TimingRow: ["run_id", "phase", "repeat", "seconds", "rows"],
}


def read_recordings(session_factory, table, run_ids: Iterable[int]) -> pd.DataFrame:
    """Rows of one recordings table for these runs, ordered by run and then as recorded."""
    import pandas as pd   # only reports read recordings; the training path does not need pandas

    columns = _COLUMNS[table]
    ids = sorted(set(run_ids))
    if not ids:
        return pd.DataFrame(columns=columns)
    cols = [getattr(table, c) for c in columns]
    with session_factory() as s:
        rows = s.execute(sa.select(*cols).where(table.run_id.in_(ids)).order_by(table.run_id, table.id)).all()
    return pd.DataFrame.from_records(rows, columns=columns)
