"""Reading and writing runs.

A run's row goes ``running`` → ``done`` | ``failed``. The ``done`` status and the final metrics
are written in one transaction, so a crash or SIGKILL can never leave a ``done`` row without
its metrics. A ``running`` row whose process is gone (same host, pid not alive) or whose
heartbeat is older than the liveness limit (``liveness.py``: its process beats every few seconds
from a background thread) may be claimed again by the next identical run; the takeover is logged.

On SQLite every transaction starts with BEGIN IMMEDIATE (the write lock is taken up front,
with a generous busy timeout), so concurrent writers queue instead of failing with
"database is locked" on a read→write upgrade; WAL mode lets readers proceed meanwhile.

Opening a store brings the database to the current schema through Alembic (``migrate.py``:
a no-op SELECT when it is already there, one locked transaction when not).
"""

from __future__ import annotations

import math
import os
import socket
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import sqlalchemy as sa
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload, sessionmaker

from tfbench import __version__
from tfbench.db import connect, migrate
from tfbench.db.liveness import Heartbeat, Liveness, log
from tfbench.db.recordings import add_epoch_recordings, add_timings, delete_recordings, read_recordings
from tfbench.db.schema import BandRow, EpochRow, GradStepRow, HistogramRow, RunRow, StudyRunRow, TimingRow

if TYPE_CHECKING:
    import pandas as pd

BUSY_TIMEOUT_MS = 120_000


def default_db_url() -> str:
    return os.environ.get("TFBENCH_DB") or "sqlite:///results.db"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed child not yet reaped) is not alive for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class RunInProgress(Exception):
    """Another live process is training the same run."""

    def __init__(self, row: RunRow):
        super().__init__(f"run {row.key} is being trained by pid {row.pid} on {row.host}")
        self.row = row


@dataclass(frozen=True)
class RunIdentity:
    key: str
    study: str | None
    dataset: str
    dataset_fingerprint: str
    model: str
    loss: str
    seed: int
    config: dict


def _enter_wal(cur) -> None:
    """Switch an SQLite file to WAL. The switch needs the file to itself, and SQLite answers
    "database is locked" at once (no busy wait) when other connections are opening it at the
    same moment, as several processes opening one old database do; so retry for a while."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            return
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class ResultStore:
    """The runs of one results database. ``read_only=True`` (the commands that only read) opens
    an existing database without creating or changing anything (``tfbench/db/connect.py``)."""

    def __init__(self, url: str | None = None, *, read_only: bool = False, liveness: Liveness | None = None):
        self.url = url or default_db_url()
        self.liveness = liveness or Liveness.from_env()
        self.read_only = read_only
        self.engine = connect.create_engine(self.url, read_only=read_only)
        if self.engine.dialect.name == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _on_connect(dbapi_conn, _record):
                dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
                cur = dbapi_conn.cursor()
                cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                if not read_only:  # these write to the file
                    _enter_wal(cur)
                    cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(self.engine, "begin")
            def _on_begin(conn):
                # a reader takes no write lock (and could not, on a read-only file)
                conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        if read_only:
            if migrate.readable_state(self.engine, connect.shown(self.url)) == "behind":
                # an existing tfbench database from an older tfbench: bring it up to date (this
                # writes; on a read-only file it is the one-line "is read-only" error)
                ResultStore(self.url).engine.dispose()
        else:
            migrate.upgrade(self.engine)  # creates, adopts or upgrades the schema (tfbench/db/migrate.py)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------ queries
    def get_by_key(self, key: str) -> RunRow | None:
        with self.Session() as s:
            return s.scalar(select(RunRow).where(RunRow.key == key).options(selectinload(RunRow.epochs)))

    def find(self, ref: str) -> RunRow | None:
        """A run by numeric id or by (a unique prefix of) its key."""
        with self.Session() as s:
            q = select(RunRow).options(selectinload(RunRow.epochs))
            if ref.isdigit():
                row = s.scalar(q.where(RunRow.id == int(ref)))
                if row is not None:
                    return row
            rows = s.scalars(q.where(RunRow.key.startswith(ref)).limit(2)).all()
            return rows[0] if len(rows) == 1 else None

    def list_runs(
        self,
        study: str | None = None,
        dataset: str | None = None,
        model: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[RunRow]:
        with self.Session() as s:
            q = select(RunRow).order_by(RunRow.id)
            if study:
                q = q.where(sa.or_(RunRow.study == study, RunRow.optuna_study == study))
            if dataset:
                q = q.where(RunRow.dataset == dataset)
            if model:
                q = q.where(RunRow.model == model)
            if status:
                q = q.where(RunRow.status == status)
            rows = list(s.scalars(q).all())
            return rows[-limit:] if limit else rows

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        keys = list(keys)
        out: set[str] = set()
        with self.Session() as s:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                out.update(s.scalars(select(RunRow.key).where(RunRow.key.in_(chunk), RunRow.status == "done")))
        return out

    # ------------------------------------------------------------------ studies
    def link_study(self, study: str, entries: Iterable[dict]) -> None:
        """Record that the runs with these keys make up (part of) ``study``; idempotent.

        Each entry: key, dataset, cell (axis -> label), seed, quick."""
        entries = list(entries)
        for _ in range(5):
            try:
                with self.Session.begin() as s:
                    have = set(s.scalars(select(StudyRunRow.key).where(StudyRunRow.study == study)))
                    for e in entries:
                        if e["key"] not in have:
                            s.add(StudyRunRow(study=study, **e))
                            have.add(e["key"])
                return
            except IntegrityError:
                continue  # another command linked some of them meanwhile (PostgreSQL): read again
        raise RuntimeError(f"could not link the runs of study {study}")

    def study_runs(self, study: str) -> list[tuple[StudyRunRow, RunRow | None]]:
        """Every planned run of a study with its run row (None when never started)."""
        with self.Session() as s:
            links = list(s.scalars(select(StudyRunRow).where(StudyRunRow.study == study).order_by(StudyRunRow.id)))
            keys = [l.key for l in links]
            rows: dict[str, RunRow] = {}
            for i in range(0, len(keys), 500):
                for r in s.scalars(select(RunRow).where(RunRow.key.in_(keys[i : i + 500]))):
                    rows[r.key] = r
            return [(l, rows.get(l.key)) for l in links]

    def statuses(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        out: dict[str, str] = {}
        with self.Session() as s:
            for i in range(0, len(keys), 500):
                for key, status in s.execute(select(RunRow.key, RunRow.status).where(RunRow.key.in_(keys[i : i + 500]))):
                    out[key] = status
        return out

    # ------------------------------------------------------------------ lifecycle
    def _stale_reason(self, row: RunRow) -> str | None:
        """Why the process holding this running row counts as gone; None while it is alive."""
        if row.host == socket.gethostname() and row.pid is not None and not _pid_alive(row.pid):
            return "its process has ended"
        beat = row.heartbeat_at or row.started_at
        if beat is None:
            return "it has no heartbeat"
        silent = _now() - beat
        if silent > self.liveness.stale_after:
            return (f"no heartbeat for {silent.total_seconds():.0f}s (stale after"
                    f" {self.liveness.stale_after.total_seconds():.0f}s)")
        return None

    def heartbeat(self, run_id: int) -> None:
        """Refresh a running run's heartbeat (the background beat of :meth:`beating`)."""
        with self.Session.begin() as s:
            s.execute(sa.update(RunRow).where(  # only while this process holds it (not after a takeover)
                RunRow.id == run_id, RunRow.status == "running", RunRow.pid == os.getpid(),
                RunRow.host == socket.gethostname()).values(heartbeat_at=_now()))

    def beating(self, run_id: int) -> Heartbeat:
        """``with store.beating(run_id):`` keeps the run alive while the block runs."""
        return Heartbeat(lambda: self.heartbeat(run_id), self.liveness.beat_seconds)

    def claim(self, ident: RunIdentity, force: bool = False) -> RunRow | None:
        """Take the run for this process. Returns None if it is already ``done`` (and not ``force``);
        raises RunInProgress if a live process holds it."""
        now = _now()
        fields = dict(
            study=ident.study, dataset=ident.dataset, dataset_fingerprint=ident.dataset_fingerprint,
            model=ident.model, loss=ident.loss, seed=ident.seed, config=ident.config,
            status="running", error=None, started_at=now, finished_at=None, heartbeat_at=now,
            host=socket.gethostname(), pid=os.getpid(), tfbench_version=__version__,
            git_commit=git_commit(), best_epoch=None, epochs_run=None, valid_auc=None,
            valid_gauc=None, valid_logloss=None, test_auc=None, test_gauc=None, test_logloss=None,
            metrics=None, train_seconds=None, inference_seconds=None, samples_per_second=None,
            optuna_study=None, optuna_trial=None, threads=None,
        )
        for _ in range(3):
            try:
                with self.Session.begin() as s:
                    # FOR UPDATE: on PostgreSQL two processes taking over one stale run queue here,
                    # and the second then sees the first's fresh claim (SQLite: BEGIN IMMEDIATE).
                    row = s.scalar(select(RunRow).where(RunRow.key == ident.key).with_for_update())
                    if row is None:
                        row = RunRow(key=ident.key, created_at=now, attempts=1, **fields)
                        s.add(row)
                        s.flush()
                        return row
                    if row.status == "done" and not force:
                        return None
                    if row.status == "running":
                        reason = self._stale_reason(row)
                        if reason is None:
                            raise RunInProgress(row)
                        log.warning("taking over run %s from pid %s on %s: %s", row.key[:12], row.pid, row.host, reason)
                    # failed, stale, or forced: start afresh
                    s.execute(sa.delete(EpochRow).where(EpochRow.run_id == row.id))
                    delete_recordings(s, row.id)
                    if row.study and not ident.study:
                        fields["study"] = row.study  # keep the study a run was first made for
                    for k, v in fields.items():
                        setattr(row, k, v)
                    row.attempts = (row.attempts or 0) + 1
                    s.flush()
                    return row
            except IntegrityError:
                continue  # another process inserted the same key between our read and write
        raise RuntimeError(f"could not claim run {ident.key}")

    def set_info(self, run_id: int, **info: Any) -> None:
        with self.Session.begin() as s:
            s.execute(sa.update(RunRow).where(RunRow.id == run_id).values(**info))

    def add_epoch(self, run_id: int, record) -> None:
        """Append one epoch of history and refresh the heartbeat."""
        with self.Session.begin() as s:
            s.add(
                EpochRow(
                    run_id=run_id, epoch=record.epoch, train_loss=record.train_loss,
                    valid_auc=_finite(record.valid.get("AUC")), valid_gauc=_finite(record.valid.get("gAUC")),
                    valid_logloss=_finite(record.valid.get("logloss")), learning_rate=record.learning_rate,
                    seconds=record.seconds,
                )
            )
            add_epoch_recordings(s, run_id, record)
            s.execute(sa.update(RunRow).where(RunRow.id == run_id).values(heartbeat_at=_now()))

    def finish(self, run_id: int, result) -> RunRow:
        """Mark done with every final metric, in one transaction."""
        with self.Session.begin() as s:
            row = s.get(RunRow, run_id)
            row.status = "done"
            row.error = None
            row.finished_at = _now()
            row.best_epoch = result.best_epoch
            row.epochs_run = len(result.history)
            row.valid_auc = _finite(result.valid.get("AUC"))
            row.valid_gauc = _finite(result.valid.get("gAUC"))
            row.valid_logloss = _finite(result.valid.get("logloss"))
            row.test_auc = _finite(result.test.get("AUC"))
            row.test_gauc = _finite(result.test.get("gAUC"))
            row.test_logloss = _finite(result.test.get("logloss"))
            row.metrics = {
                "valid": {k: _finite(v) for k, v in result.valid.items()},
                "test": {k: _finite(v) for k, v in result.test.items()},
                "stopped_early": result.stopped_early,
            }
            if getattr(result, "seed_batch", None):   # trained stacked with other seeds (tfbench.seed_batch_runs)
                row.metrics["seed_batch"] = result.seed_batch
            row.train_seconds = result.train_seconds
            row.inference_seconds = _finite(result.inference_seconds)
            row.samples_per_second = _finite(result.samples_per_second)
            add_timings(s, run_id, getattr(result, "timings", ()))
        return self.get_by_key(row.key)

    # ------------------------------------------------------------------ recordings (tfbench.db.recordings)
    def bands(self, run_ids: Iterable[int]) -> pd.DataFrame:
        return read_recordings(self.Session, BandRow, run_ids)

    def histograms(self, run_ids: Iterable[int]) -> pd.DataFrame:
        return read_recordings(self.Session, HistogramRow, run_ids)

    def grad_steps(self, run_ids: Iterable[int]) -> pd.DataFrame:
        return read_recordings(self.Session, GradStepRow, run_ids)

    def timings(self, run_ids: Iterable[int]) -> pd.DataFrame:
        return read_recordings(self.Session, TimingRow, run_ids)

    def prune(self, run_id: int, reason: str) -> None:
        """A tuning trial stopped early by its pruner: not a failure; its epochs are kept."""
        with self.Session.begin() as s:
            s.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "running")
                .values(status="pruned", error=reason[:4000], finished_at=_now())
            )

    def interrupt(self, run_id: int) -> None:
        """Ctrl-C or SIGTERM: not a failure; the run is taken up afresh by the next command."""
        with self.Session.begin() as s:
            s.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "running")
                .values(status="interrupted", error="interrupted (Ctrl-C or SIGTERM); resumable", finished_at=_now())
            )

    def interrupt_abandoned(self, keys: Iterable[str], pids: Iterable[int]) -> list[str]:
        """After stopping worker processes ``pids`` of this host: their runs among ``keys`` that
        are still ``running`` become ``interrupted``. Returns the keys of those runs (with those the
        workers marked themselves)."""
        keys, pids = list(keys), list(pids)
        if not keys or not pids:
            return []
        held = (RunRow.key.in_(keys), RunRow.host == socket.gethostname(), RunRow.pid.in_(pids))
        with self.Session.begin() as s:
            s.execute(
                sa.update(RunRow).where(*held, RunRow.status == "running")
                .values(status="interrupted", error="interrupted (Ctrl-C or SIGTERM); resumable", finished_at=_now())
            )
            return sorted(s.scalars(select(RunRow.key).where(*held, RunRow.status == "interrupted")))

    def fail(self, run_id: int, error: str) -> None:
        with self.Session.begin() as s:
            s.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "running")
                .values(status="failed", error=error[:4000], finished_at=_now())
            )
