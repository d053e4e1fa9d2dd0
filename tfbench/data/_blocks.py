"""Reading a text file as blocks of whole lines (shared by the CSV and libFM readers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

BLOCK_BYTES = 32 * 1024 * 1024


def iter_line_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[bytes, int]]:
    """Yield ``(block, first_line_number)`` where each block holds whole lines.

    Every block ends with ``b"\\n"`` (one is appended to a last line that lacks it), and
    ``first_line_number`` is the 1-based line number of the block's first line.
    """
    line_no = 1
    carry = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(block_bytes)
            if not chunk:
                break
            buf = carry + chunk
            cut = buf.rfind(b"\n")
            if cut < 0:
                carry = buf
                continue
            block, carry = buf[: cut + 1], buf[cut + 1 :]
            yield block, line_no
            line_no += block.count(b"\n")
    if carry:
        yield carry + b"\n", line_no
