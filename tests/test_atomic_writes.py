"""No stale temporary files (issue #17): a writer that fails removes its own temporary file, and
one left by a killed writer is removed by the next write of the same target."""

import errno
import os
import subprocess
import sys
import time

import pytest

from tfbench import atomic
from tfbench.data import cache


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _leftovers(folder, target):
    return sorted(p.name for p in folder.iterdir() if p.name != target.name)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_writer_that_fails_mid_write_leaves_no_temporary_file_and_the_old_content(tmp_path, error):
    target = tmp_path / "table.md"
    target.write_text("old\n")
    with pytest.raises(type(error)):
        with atomic.atomic_file(target) as fh:
            fh.write("half of the new ")
            raise error
    assert target.read_text() == "old\n" and _leftovers(tmp_path, target) == []


class FullDisk:
    """open() for a disk that fills up after 10 bytes."""

    def __init__(self, path, mode, **kw):
        self.fh = open(path, mode, **kw)

    def write(self, data):
        self.fh.write(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_a_report_writer_on_a_full_disk_names_the_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    from tfbench.report.plain_tables import write_text

    target = tmp_path / "fig2.md"
    monkeypatch.setattr(atomic, "open", FullDisk, raising=False)
    with pytest.raises(OSError) as e:
        write_text(target, "| a | b |\n" * 100)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def test_a_stale_temporary_file_beside_a_cache_is_removed_on_the_next_write(tiny_synthetic, tmp_path):
    target = tmp_path / "abc.npz"
    dead = tmp_path / f".abc.npz.tmp-{_dead_pid()}-0123abcd"           # a killed writer's
    alive = tmp_path / f".abc.npz.tmp-{os.getppid()}-4567abcd"          # a running writer's: kept
    legacy_old = tmp_path / "abc.k2j3h4.tmp"                           # mkstemp names of older tfbench
    legacy_new = tmp_path / "abc.q9w8e7.tmp"
    other = tmp_path / f".xyz.npz.tmp-{_dead_pid()}-89abcdef"          # another target's: not ours to judge
    for p in (dead, alive, legacy_old, legacy_new, other):
        p.write_bytes(b"PK\x03\x04 half an npz")
    day_ago = time.time() - atomic.STALE_AFTER_S - 60
    os.utime(legacy_old, (day_ago, day_ago))
    cache.save(target, tiny_synthetic)
    assert _leftovers(tmp_path, target) == sorted([alive.name, legacy_new.name, other.name])
    assert cache.load(target).fingerprint == tiny_synthetic.fingerprint
