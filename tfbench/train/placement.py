"""Where each split lives (on the device, or kept on the host) and how its batches reach the device."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from tfbench.data.types import EncodedDataset, Split
from tfbench.train.errors import TrainingError
from tfbench.train.settings import TrainSettings


@dataclass
class DeviceSplit:
    x_cat: torch.Tensor
    x_num: torch.Tensor
    y: torch.Tensor
    group: torch.Tensor | None

    def __len__(self) -> int:
        return int(self.y.shape[0])


HOST_SPLITS_ENV = "TFBENCH_HOST_SPLITS"
HOST_SPLITS_CHOICES = ("auto", "host", "device")


class HostSplit:
    """A split kept in host memory (usually read-only memory-mapped arrays); batches and blocks
    are copied to ``device`` when needed."""

    def __init__(self, split: Split, device: torch.device, block_rows: int = 1 << 20):
        self.x_cat, self.x_num, self.y, self.group = split.x_cat, split.x_num, split.y, split.group
        self.device = device
        self.block_rows = block_rows  # rows per block moved to the device when evaluating

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def _to_device(self, array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        array = np.ascontiguousarray(array)
        if not array.flags.writeable:  # a slice of a read-only memmap: read it into memory
            array = np.array(array)
        t = torch.from_numpy(array).to(dtype)
        if self.device.type == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows ``rows`` (any order) as host arrays in that order; read in ascending row order."""
        order = np.argsort(rows, kind="stable")
        ascending = rows[order]
        out = []
        for a in (self.x_cat, self.x_num, self.y):
            taken = np.take(a, ascending, axis=0)
            placed = np.empty_like(taken)
            placed[order] = taken
            out.append(placed)
        return out[0], out[1], out[2]

    def to_device(self, x_cat: np.ndarray, x_num: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, ...]:
        return (self._to_device(x_cat, torch.int64), self._to_device(x_num, torch.float32),
                self._to_device(y, torch.float32))

    def labels(self) -> torch.Tensor:
        return self._to_device(self.y, torch.float32)

    def groups(self) -> torch.Tensor | None:
        return None if self.group is None else self._to_device(self.group, torch.int64)


def split_bytes(split: Split) -> int:
    """Device memory the split's tensors take (x_cat as int64, x_num and y as float32, group int64)."""
    n = len(split)
    width = split.x_cat.shape[1] if split.x_cat.ndim == 2 else 1
    return n * (8 * width + 4 * split.x_num.shape[1] + 4 + (8 if split.group is not None else 0))


def free_device_memory(device: torch.device) -> int:
    """Free memory of ``device`` in bytes: CUDA's mem_get_info, or the host's MemAvailable."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: treat as plenty


def host_splits_mode(settings: TrainSettings) -> str:
    mode = settings.host_splits or os.environ.get(HOST_SPLITS_ENV, "").strip() or "auto"
    if mode not in HOST_SPLITS_CHOICES:
        raise TrainingError(f"host_splits / ${HOST_SPLITS_ENV}: expected one of {', '.join(HOST_SPLITS_CHOICES)}, got {mode!r}")
    return mode


def place_splits(dataset: EncodedDataset, settings: TrainSettings, device: torch.device) -> dict[str, "DeviceSplit | HostSplit"]:
    """Put each split (train, valid, and test unless not evaluated) on the device, or keep it
    on the host when it does not fit (see ``TrainSettings.host_splits``)."""
    mode = host_splits_mode(settings)
    budget = settings.device_memory_fraction * free_device_memory(device) if mode == "auto" else 0.0
    names = ["train", "valid"] + (["test"] if settings.evaluate_test else [])
    placed = {}
    for name in names:
        split = dataset.splits()[name]
        size = split_bytes(split)
        if mode == "host" or (mode == "auto" and size > budget):
            placed[name] = HostSplit(split, device, settings.host_block_rows)
        else:
            placed[name] = to_device(split, device)
            budget -= size
    return placed


def _tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    if not array.flags.writeable:  # a read-only memmap: copy it in rather than share the file
        return torch.tensor(np.asarray(array), dtype=dtype)
    return torch.as_tensor(array, dtype=dtype)


def to_device(split: Split, device: torch.device) -> DeviceSplit:
    return DeviceSplit(
        x_cat=_tensor(split.x_cat, torch.int64).to(device),
        x_num=_tensor(split.x_num, torch.float32).to(device),
        y=_tensor(split.y, torch.float32).to(device),
        group=None if split.group is None else _tensor(split.group, torch.int64).to(device),
    )


def _blocks(n: int, batch_size: int, block_rows: int) -> Iterator[tuple[int, int]]:
    """Contiguous ``(start, stop)`` row blocks of whole batches covering ``0..n``."""
    step = max(1, block_rows // batch_size) * batch_size
    for start in range(0, n, step):
        yield start, min(n, start + step)


def _resident_batches(train: DeviceSplit, perm: torch.Tensor, batch_size: int, n_batches: int):
    for b in range(n_batches):
        idx = perm[b * batch_size : (b + 1) * batch_size]
        yield train.x_cat[idx], train.x_num[idx], train.y[idx]


def _host_batches(train: HostSplit, perm: np.ndarray, batch_size: int, block_rows: int, pool: ThreadPoolExecutor):
    """The batches of ``perm`` (same rows, same order as ``_resident_batches``), moved to the
    device a block at a time; the next block is gathered on the host while this one trains."""
    blocks = list(_blocks(len(perm), batch_size, block_rows))
    pending = pool.submit(train.gather, perm[blocks[0][0] : blocks[0][1]]) if blocks else None
    for k, (start, stop) in enumerate(blocks):
        host = pending.result()
        if k + 1 < len(blocks):
            nxt = blocks[k + 1]
            pending = pool.submit(train.gather, perm[nxt[0] : nxt[1]])
        x_cat, x_num, y = train.to_device(*host)
        del host
        for lo in range(0, stop - start, batch_size):
            yield x_cat[lo : lo + batch_size], x_num[lo : lo + batch_size], y[lo : lo + batch_size]
