"""ORM tables. Every table name carries the ``tfb_`` prefix so that Optuna's own tables (and its
``alembic_version``) can live in the same database file."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

TABLE_PREFIX = "tfb_"


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = TABLE_PREFIX + "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    study: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    dataset: Mapped[str] = mapped_column(String(256), index=True)
    dataset_fingerprint: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64), index=True)
    loss: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | done | failed | pruned | interrupted
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)

    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    host: Mapped[str | None] = mapped_column(String(256), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)

    device: Mapped[str | None] = mapped_column(String(64), nullable=True)
    torch_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tfbench_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    git_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    num_params: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # A tuning trial's run: the Optuna study (in the same database) and the trial number.
    optuna_study: Mapped[str | None] = mapped_column(String(256), index=True, nullable=True)
    optuna_trial: Mapped[int | None] = mapped_column(Integer, nullable=True)

    best_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    epochs_run: Mapped[int | None] = mapped_column(Integer, nullable=True)
    valid_auc: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_gauc: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_logloss: Mapped[float | None] = mapped_column(Float, nullable=True)
    test_auc: Mapped[float | None] = mapped_column(Float, nullable=True)
    test_gauc: Mapped[float | None] = mapped_column(Float, nullable=True)
    test_logloss: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # {"valid": {...}, "test": {...}}
    train_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    inference_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    samples_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    # added by migration 0003 (so last, as ALTER TABLE puts it): the torch CPU threads it trained with
    threads: Mapped[int | None] = mapped_column(Integer, nullable=True)

    epochs: Mapped[list["EpochRow"]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="EpochRow.epoch"
    )
    # What a run recorded beyond its metrics when its settings asked for it (tfbench.train.record);
    # loaded only by the reports that draw them, removed with the run.
    bands: Mapped[list["BandRow"]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    histograms: Mapped[list["HistogramRow"]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    grad_steps: Mapped[list["GradStepRow"]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    timings: Mapped[list["TimingRow"]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class StudyRunRow(Base):
    """Membership of a run (by content key) in a study; one run can serve several studies."""

    __tablename__ = TABLE_PREFIX + "study_runs"
    __table_args__ = (UniqueConstraint("study", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study: Mapped[str] = mapped_column(String(128), index=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    dataset: Mapped[str] = mapped_column(String(256))
    cell: Mapped[dict] = mapped_column(JSON)      # axis -> label of the grid cell
    seed: Mapped[int] = mapped_column(Integer)
    quick: Mapped[bool] = mapped_column(Boolean, default=False)


class EpochRow(Base):
    __tablename__ = TABLE_PREFIX + "epochs"
    __table_args__ = (UniqueConstraint("run_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey(TABLE_PREFIX + "runs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float] = mapped_column(Float)
    valid_auc: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_gauc: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_logloss: Mapped[float | None] = mapped_column(Float, nullable=True)
    learning_rate: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)

    run: Mapped[RunRow] = relationship(back_populates="epochs")


def _run_fk() -> Mapped[int]:
    return mapped_column(ForeignKey(TABLE_PREFIX + "runs.id", ondelete="CASCADE"), index=True)


class BandRow(Base):
    """One evaluation of one split, one class: how many samples fall in each difficulty band."""

    __tablename__ = TABLE_PREFIX + "bands"
    __table_args__ = (UniqueConstraint("run_id", "epoch", "split", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    epoch: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(8))
    label: Mapped[int] = mapped_column(Integer)             # 0 negatives, 1 positives
    misclassified: Mapped[int] = mapped_column(Integer)     # |y - p| >= the upper threshold
    poorly: Mapped[int] = mapped_column(Integer)            # between the thresholds
    well: Mapped[int] = mapped_column(Integer)              # |y - p| < the lower threshold


class HistogramRow(Base):
    """One bin of the histogram of predicted probabilities of one class after one evaluation."""

    __tablename__ = TABLE_PREFIX + "histograms"
    __table_args__ = (UniqueConstraint("run_id", "epoch", "split", "label", "bin"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    epoch: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(8))
    label: Mapped[int] = mapped_column(Integer)
    bin: Mapped[int] = mapped_column(Integer)               # [bin/bins, (bin+1)/bins), the last one closed
    bins: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)


class GradStepRow(Base):
    """One optimizer step: the batch loss and the L2 norms of its gradient w.r.t. z_s and z_c."""

    __tablename__ = TABLE_PREFIX + "grad_steps"
    __table_args__ = (UniqueConstraint("run_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    step: Mapped[int] = mapped_column(Integer)              # 1-based optimizer step
    epoch: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float] = mapped_column(Float)
    grad_z_s: Mapped[float] = mapped_column(Float)
    grad_z_c: Mapped[float] = mapped_column(Float)


class TimingRow(Base):
    """A timed phase of a run (the first epoch's training, each inference pass over a split)."""

    __tablename__ = TABLE_PREFIX + "timings"
    __table_args__ = (UniqueConstraint("run_id", "phase", "repeat"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    phase: Mapped[str] = mapped_column(String(32))          # train_first_epoch | inference_valid
    repeat: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(Integer)              # samples processed in the phase
