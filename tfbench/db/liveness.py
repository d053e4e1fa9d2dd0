"""Whether the process that holds a ``running`` run is still there.

A process training a run beats: a background thread refreshes the run's ``heartbeat_at`` every
``beat_seconds``, however long an epoch takes (a CPU epoch on Criteo takes longer than any fixed
limit would allow). A ``running`` run whose heartbeat is older than ``missed_beats`` beats is
stale, and the next identical run takes it over (``ResultStore.claim`` logs that). On the same
host a dead pid makes a run stale at once.

Every process sharing a database must agree on the limits; they come from the environment so
that one setting reaches every worker (local, another host, a Ray task):
``TFBENCH_HEARTBEAT_SECONDS`` (default 5) and ``TFBENCH_STALE_BEATS`` (default 12: stale after
about a minute of silence).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from tfbench.errors import ConfigError

log = logging.getLogger("tfbench.db")

BEAT_ENV = "TFBENCH_HEARTBEAT_SECONDS"
MISSED_ENV = "TFBENCH_STALE_BEATS"


@dataclass(frozen=True)
class Liveness:
    beat_seconds: float = 5.0
    missed_beats: int = 12

    def __post_init__(self):
        if not self.beat_seconds > 0:
            raise ConfigError(f"{BEAT_ENV}: the heartbeat interval must be > 0 seconds, got {self.beat_seconds}")
        if self.missed_beats < 2:
            raise ConfigError(f"{MISSED_ENV}: a run must miss at least 2 beats to be stale, got {self.missed_beats}")

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.beat_seconds * self.missed_beats)

    @classmethod
    def from_env(cls) -> "Liveness":
        def read(name, kind, default):
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            try:
                return kind(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r}: expected a {'number' if kind is float else 'whole number'}") from None

        return cls(read(BEAT_ENV, float, cls.beat_seconds), read(MISSED_ENV, int, cls.missed_beats))


class Heartbeat:
    """``with Heartbeat(beat, seconds):`` calls ``beat()`` every ``seconds`` from a daemon thread
    until the block ends. A failing beat (the database briefly away) is logged and retried at the
    next one; the run itself goes on."""

    def __init__(self, beat: Callable[[], None], seconds: float):
        self._beat, self._seconds = beat, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tfbench-heartbeat", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._beat()
            except Exception as e:  # noqa: BLE001 - a missed beat is survivable; dying silently is not
                log.warning("heartbeat failed (%s: %s); retrying in %.1fs", type(e).__name__, e, self._seconds)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
