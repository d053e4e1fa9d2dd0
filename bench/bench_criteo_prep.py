"""Streaming preparation of a Criteo_x4-shaped dataset: rows/s, wall time and peak memory.

    OMP_NUM_THREADS=1 python bench/bench_criteo_prep.py --rows 5000000 [--dir DIR] [--keep]

1. Generates, block by block, a folder ``Criteo_x4/`` with ``train.csv``/``valid.csv``/``test.csv``
   (8:1:1, header ``Label,I1..I13,C1..C26``) of ``--rows`` rows: labels with Criteo's 25.6%
   positives; I* heavy-tailed counts with Criteo's missing rates (I1 45%, I12 76%, ...) and a
   few negatives in I2; C* 8-hex-digit tokens drawn log-uniformly (density ~ 1/rank, so a few
   tokens are frequent and most are rare) from as many distinct values as the field has in the
   full Criteo data (C3: 10.1 M, C12: 8.4 M, C16: 5.5 M, C21: 7.0 M, ...), the large fields
   scaled with ``--rows`` / 45,840,617, with Criteo's missing rates per field.
2. Prepares it with ``load_dataset("criteo", min_count=10, stream=True)`` in a child process
   (so the generator's memory does not count) and prints the child's wall time, rows/s, peak
   resident memory (``getrusage`` maxrss), the vocabulary and the cache size on disk, and the
   time extrapolated linearly to Criteo_x4's 45,840,617 rows.
3. Loads the prepared entry again in a fresh child process: the cache hit, which verifies the
   sha256 of every array file before opening them memory-mapped; then gathers one epoch of
   train batches from the memmap the way training on a host-kept split does (blocks of about a
   million rows in permutation order), and prints its rows/s.

Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CRITEO_ROWS = 45_840_617
# Distinct values per C field in the full Criteo data, and the share of missing values.
C_CARDINALITY = (1460, 583, 10_131_227, 2_202_608, 305, 24, 12_517, 633, 3, 93_145, 5_683, 8_351_593, 3_194,
                 27, 14_992, 5_461_306, 10, 5_652, 2_173, 4, 7_046_547, 18, 15, 286_181, 105, 142_572)
C_MISSING = (0.0, 0.0, 0.034, 0.034, 0.0, 0.12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.034, 0.0, 0.0, 0.0, 0.034, 0.0, 0.0,
             0.44, 0.44, 0.034, 0.0, 0.0, 0.034, 0.44, 0.44)
I_MISSING = (0.45, 0.0, 0.21, 0.22, 0.026, 0.22, 0.04, 0.0005, 0.04, 0.45, 0.04, 0.76, 0.22)
I_SCALE = (1.0, 3.0, 2.5, 1.8, 4.0, 3.0, 2.5, 2.5, 4.0, 0.5, 1.0, 1.0, 2.0)  # mean of ln(1 + value)
HEADER = "Label," + ",".join(f"I{i}" for i in range(1, 14)) + "," + ",".join(f"C{i}" for i in range(1, 27))
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def cardinality(j: int, rows: int) -> int:
    full = C_CARDINALITY[j]
    return full if full <= 100_000 else max(100_000, math.ceil(full * rows / CRITEO_ROWS))


def _hex8(h: np.ndarray) -> np.ndarray:
    shifts = np.arange(28, -1, -4, dtype=np.uint64)
    digits = _HEX[((h.astype(np.uint64)[:, None] >> shifts) & 0xF).astype(np.intp)]
    return np.ascontiguousarray(digits).view("S8").ravel()


def make_block(rng: np.random.Generator, n: int, rows_total: int):
    import pyarrow as pa

    cols = {"Label": pa.array((rng.random(n) < 0.256).astype(np.int8))}
    for i in range(13):
        v = np.floor(np.expm1(np.minimum(rng.exponential(I_SCALE[i], n), 17.0))).astype(np.int64)  # at most ~24 M
        if i == 1:  # Criteo's I2 has a few negative values (-1, -2, -3)
            negative = rng.random(n) < 0.02
            v[negative] = -rng.integers(1, 4, int(negative.sum()))
        cols[f"I{i + 1}"] = pa.array(v, mask=rng.random(n) < I_MISSING[i])
    for j in range(26):
        k = cardinality(j, rows_total)
        rank = np.floor(np.exp(rng.random(n) * math.log(k))).astype(np.uint64) - 1  # log-uniform on 0..k-1
        h = (rank * np.uint64(2654435761) + np.uint64(j * 40503 + 12345)) & np.uint64(0xFFFFFFFF)
        values = pa.array(_hex8(h), type=pa.binary(8)).cast(pa.string())
        cols[f"C{j + 1}"] = pa.array(values.to_numpy(zero_copy_only=False), type=pa.string(),
                                     mask=rng.random(n) < C_MISSING[j]) if C_MISSING[j] else values
    return pa.table(cols)


def generate(folder: Path, rows: int, seed: int, block_rows: int = 250_000) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    folder.mkdir(parents=True, exist_ok=True)
    n_train, n_valid = (8 * rows) // 10, rows // 10
    rng = np.random.default_rng(seed)
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    for split, n in (("train", n_train), ("valid", n_valid), ("test", rows - n_train - n_valid)):
        tmp = folder / f".{split}.csv.tmp"
        with pa.OSFile(str(tmp), "wb") as sink:
            sink.write((HEADER + "\n").encode())
            writer = None
            for start in range(0, n, block_rows):
                table = make_block(rng, min(block_rows, n - start), rows)
                if writer is None:
                    writer = pacsv.CSVWriter(sink, table.schema, write_options=options)
                writer.write_table(table)
            if writer is not None:
                writer.close()
        os.replace(tmp, folder / f"{split}.csv")


def child(data_dir: str, cache_dir: str) -> None:
    """Run in a fresh interpreter: prepare (or load) criteo and print one JSON line."""
    import warnings

    from tfbench.data import load_dataset

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset("criteo", data_dir=data_dir, cache_dir=cache_dir, min_count=10, stream=True)
    wall = time.perf_counter() - t0
    gather = None
    if ds.info.get("cache") == "hit":  # one epoch of host-split batches: permutation blocks gathered from the memmap
        import torch

        from tfbench.train.loop import HostSplit, _blocks

        host = HostSplit(ds.train, torch.device("cpu"))
        perm = torch.randperm(len(host), generator=torch.Generator().manual_seed(0)).numpy()
        t1 = time.perf_counter()
        for start, stop in _blocks(len(perm), 4096, 1 << 20):
            host.to_device(*host.gather(perm[start:stop]))
        gather = time.perf_counter() - t1
    status = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("RssAnon:", "RssFile:")):
                status[line.split(":")[0]] = int(line.split()[1])
    print(json.dumps({
        "gather_epoch": gather,
        "rss_anon_kib": status.get("RssAnon"),
        "rss_file_kib": status.get("RssFile"),
        "wall": wall,
        "encode_seconds": ds.info.get("encode_seconds"),
        "cache": ds.info.get("cache"),
        "rows": {k: len(v) for k, v in ds.splits().items()},
        "vocab_total": sum(ds.vocab_sizes),
        "vocab_max": max(ds.vocab_sizes),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


def run_child(data_dir: Path, cache_dir: Path) -> dict:
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, __file__, "--child", str(data_dir), str(cache_dir)],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"preparation failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=2023)
    ap.add_argument("--dir", help="work folder (default: a temporary folder, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and cache")
    ap.add_argument("--child", nargs=2, metavar=("DATA_DIR", "CACHE_DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="tfbench-criteo-bench-"))
    data, cache = work / "data", work / "cache"
    try:
        folder = data / "Criteo_x4"
        t0 = time.perf_counter()
        generate(folder, args.rows, args.seed)
        gen = time.perf_counter() - t0
        csv_bytes = du(folder)
        print(f"generated {args.rows:,} rows ({csv_bytes / 2**30:.2f} GiB of CSV) in {gen:.1f}s into {folder}")
        print("C* distinct values drawn from: " + ", ".join(f"C{j + 1} {cardinality(j, args.rows):,}"
                                                           for j in range(26) if C_CARDINALITY[j] > 100_000))

        shutil.rmtree(cache, ignore_errors=True)
        prep = run_child(data, cache)
        assert prep["cache"] in ("miss", "rebuilt"), prep
        rows = sum(prep["rows"].values())
        rate = rows / prep["wall"]
        print(f"prepare (streaming, min_count 10): {prep['wall']:.1f}s wall, of which {prep['encode_seconds']:.1f}s"
              f" reading and encoding (the rest: sha256 of the source files for the cache key)")
        print(f"  rows {prep['rows']}; {rate:,.0f} rows/s; peak RSS {prep['maxrss_kib'] / 2**20:.2f} GiB;"
              f" vocabulary {prep['vocab_total']:,} (largest field {prep['vocab_max']:,});"
              f" cache on disk {du(cache) / 2**30:.2f} GiB")
        full = CRITEO_ROWS / rate
        print(f"  extrapolated to Criteo_x4's {CRITEO_ROWS:,} rows: {full / 60:.1f} min (linear in rows)")

        hit = run_child(data, cache)
        print(f"cache hit in a fresh process (sha256 of every array file, then memory-mapped):"
              f" {hit['wall']:.1f}s ({hit['cache']})")
        n_train = prep["rows"]["train"]
        print(f"one epoch of host-kept train batches (batch 4,096, blocks of 1,048,576 rows gathered from the"
              f" memmap in permutation order): {hit['gather_epoch']:.1f}s, {n_train / hit['gather_epoch']:,.0f} rows/s;"
              f" that process's peak RSS {hit['maxrss_kib'] / 2**20:.2f} GiB, at its end {hit['rss_anon_kib'] / 2**20:.2f} GiB"
              f" anonymous + {hit['rss_file_kib'] / 2**20:.2f} GiB pages of the mapped files (page cache, reclaimable)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
