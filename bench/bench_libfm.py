"""Speed of the libFM parser (frappe-nfm's format): rows per second on a 90,000-row file.

    python bench/bench_libfm.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from tfbench.data.libfm_source import parse_libfm_file


def main(n: int = 90_000, repeats: int = 5) -> None:
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 5000, size=(n, 10))
    labels = np.where(rng.random(n) < 0.3, 1, -1)
    fmt = "%d " + " ".join(["%d:1"] * 10)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.libfm"
        path.write_text("\n".join(map(fmt.__mod__, map(tuple, np.column_stack([labels, rows]).tolist()))) + "\n")
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            parse_libfm_file(path)
            times.append(time.perf_counter() - t)
    best = min(times)
    print(f"libFM parser: {n:,} rows x 10 fields, best of {repeats}: {best:.3f} s ({n / best:,.0f} rows/s)")


if __name__ == "__main__":
    main()
