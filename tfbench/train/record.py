"""What a run records beyond its metrics, when its settings ask for it (Figures 2, 6, 11; Table IX).

* **Bands** (``record_bands``): after each evaluation, per split and class, how many samples are
  well classified (|y − p| < a), poorly classified (a ≤ |y − p| < b) or misclassified
  (|y − p| ≥ b), with (a, b) = ``band_thresholds`` (the paper's {0.3, 0.6}, §IV-D1), and a
  histogram of the predicted probabilities in ``histogram_bins`` equal bins over [0, 1] (the
  last bin closed). Counted on the device; one copy to the host per split and evaluation.
* **Gradient steps** (``record_grad_steps``): for the first N optimizer steps, the batch loss
  and the L2 norms of ∂loss/∂z_s and ∂loss/∂z_c over the batch (Fig. 6), caught by tensor hooks
  during the backward pass into a device buffer that is copied to the host once per epoch.
* **Timings** (``time_inference_passes``): the first epoch's training time and the time of each
  of N inference passes over the validation split (Table IX), synchronised on CUDA.

Nothing here draws random numbers or changes a batch, so a recording run trains exactly as the
same run without recording would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from tfbench.train.errors import TrainingError

BAND_NAMES = ("misclassified", "poorly", "well")


@dataclass(frozen=True)
class BandCounts:
    """One split and class after one evaluation."""

    epoch: int
    split: str
    label: int
    misclassified: int
    poorly: int
    well: int
    histogram: tuple[int, ...]    # counts per bin, bin i = [i/bins, (i+1)/bins)


@dataclass(frozen=True)
class GradStep:
    step: int          # 1-based optimizer step
    epoch: int
    loss: float
    grad_z_s: float
    grad_z_c: float


@dataclass(frozen=True)
class Timing:
    phase: str         # train_first_epoch | inference_valid
    repeat: int
    seconds: float
    rows: int


def count_bands(epoch: int, split: str, logits: torch.Tensor, y: torch.Tensor,
                thresholds: tuple[float, float], bins: int) -> list[BandCounts]:
    """Band counts and prediction histograms of both classes (on the device, one host copy)."""
    p = torch.sigmoid(logits.float())
    label = (y.to(p.device) > 0.5).long()
    distance = (label.float() - p).abs()
    # 0 well, 1 poorly, 2 misclassified: how many thresholds the distance reaches
    band = (distance >= thresholds[0]).long() + (distance >= thresholds[1]).long()
    band_counts = torch.bincount(label * 3 + band, minlength=6)
    hist_bin = (p * bins).long().clamp_(0, bins - 1)
    hist = torch.bincount(label * bins + hist_bin, minlength=2 * bins)
    counts = torch.cat([band_counts, hist]).cpu().tolist()
    out = []
    for cls in (0, 1):
        well, poorly, wrong = counts[3 * cls: 3 * cls + 3]
        histogram = tuple(counts[6 + cls * bins: 6 + (cls + 1) * bins])
        out.append(BandCounts(epoch, split, cls, misclassified=wrong, poorly=poorly, well=well, histogram=histogram))
    return out


class GradRecorder:
    """Catches ‖∂loss/∂z_s‖ and ‖∂loss/∂z_c‖ of the first ``steps`` optimizer steps on the device."""

    def __init__(self, steps: int, device: torch.device):
        self.steps = steps
        self.buffer = torch.zeros(steps, 3, device=device)   # loss, ‖∂z_s‖, ‖∂z_c‖
        self.step = 0            # optimizer steps taken so far
        self.flushed = 0         # steps already handed out
        self.epochs: list[int] = []

    @property
    def active(self) -> bool:
        return self.step < self.steps

    def watch(self, out, epoch: int) -> None:
        """Before the backward pass of the next step: hook its z_s and z_c."""
        if out.simple is None or out.complex is None:
            raise TrainingError("record_grad_steps needs a two-stream model (one with z_s and z_c); "
                                "this model gives only a logit")
        row = self.buffer[self.step]
        out.simple.register_hook(_norm_into(row[1]))
        out.complex.register_hook(_norm_into(row[2]))
        self.epochs.append(epoch)

    def after_step(self, loss: torch.Tensor) -> None:
        self.buffer[self.step, 0].copy_(loss.detach().float())
        self.step += 1

    def flush(self) -> list[GradStep]:
        """The steps recorded since the last flush (one host copy)."""
        if self.flushed == self.step:
            return []
        values = self.buffer[self.flushed: self.step].cpu().tolist()
        out = [GradStep(self.flushed + i + 1, self.epochs[self.flushed + i], *v) for i, v in enumerate(values)]
        self.flushed = self.step
        return out


def _norm_into(slot: torch.Tensor):
    def hook(grad: torch.Tensor) -> None:   # returns None: the gradient itself is left as it is
        slot.copy_(grad.detach().float().norm())
    return hook


def describe_device(device: torch.device, limit: int = 64) -> str:
    """The device a timing was taken on, in words (at most ``limit`` characters, the stored column's
    width): "cuda:0 (NVIDIA GeForce RTX 4090)", or "cpu (<the CPU's model name>)"."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = cpu_model()
    text = f"{device} ({name})" if name else str(device)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else platform.processor() ('' if unknown)."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_inference(predict, rows: int, passes: int, device: torch.device) -> list[Timing]:
    """``passes`` timed calls of ``predict()`` (one inference pass over ``rows`` samples each)."""
    out = []
    for i in range(passes):
        synchronize(device)
        t0 = time.perf_counter()
        predict()
        synchronize(device)
        out.append(Timing("inference_valid", i + 1, time.perf_counter() - t0, rows))
    return out
