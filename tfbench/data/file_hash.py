"""The sha256 of a source file, memoised across processes in the cache folder.

A run's dataset fingerprint hashes every source file's bytes, and ``load_dataset`` computes it
before it can look the cache up, so without a memo every process (each `tfbench run` worker,
each trial) re-reads the whole source, Criteo's 10 GB included, only to find a cache hit. The
memo is one small JSON sidecar per file under ``<cache_dir>/file-hashes/``, valid while the
file's (resolved path, size, mtime_ns, ctime_ns, inode) are those it was hashed with: any write,
truncation, replacement or ``touch`` changes one of them (ctime cannot be set back by a user),
and the file is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tfbench.data.cache_format import file_sha256

MEMO_FOLDER = "file-hashes"


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def source_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """sha256 of ``path``'s bytes; with ``memo_dir`` (the cache folder) read from, or written
    to, its sidecar there. A memo that cannot be read or written is simply not used."""
    if memo_dir is None:
        return file_sha256(path)
    stamp = _stamp(path)
    sidecar = Path(memo_dir) / MEMO_FOLDER / (hashlib.sha256(stamp["path"].encode()).hexdigest()[:32] + ".json")
    try:
        saved = json.loads(sidecar.read_text())
        if isinstance(saved, dict) and saved.get("stamp") == stamp and isinstance(saved.get("sha256"), str):
            return saved["sha256"]
    except (OSError, ValueError):
        pass
    digest = file_sha256(path)
    if _stamp(path) != stamp:   # written to while it was read: the digest is of no one version; do not memo it
        return digest
    try:
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        tmp = sidecar.with_name(f"{sidecar.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"stamp": stamp, "sha256": digest}))
        os.replace(tmp, sidecar)   # atomic: a concurrent reader sees the old memo or the new one
    except OSError:
        pass
    return digest
