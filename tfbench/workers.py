"""Worker processes that end with the command that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with_parent(parent_pid: int) -> None:
    """A process-pool initializer: make a worker end with the process that started it. A SIGTERM
    or SIGKILL of `tfbench run`/`tfbench tune` kills only that process; without this its workers
    would go on training (and claiming runs or trials) as orphans, competing for the CPU with
    whatever runs next."""
    if sys.platform.startswith("linux"):
        try:  # the kernel sends SIGKILL to this worker when its parent exits
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent is already gone
        os._exit(1)

    def watch() -> None:  # elsewhere (and as a fallback): notice the parent's death by polling
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="tfbench-parent-watch", daemon=True).start()
