"""tfbench: benchmark and ablation harness for TF4CTR (Twin Focus Framework for CTR prediction)."""

import os

# Transparent huge pages for PyTorch's large CPU allocations (read once, at torch's first
# allocation, so it must be set before torch is imported; an explicit value is kept). A training
# step allocates and frees activations of tens of MB; in 4 KiB pages each one page-faults afresh,
# which made a fresh-output elementwise op on 12.8 M floats cost 3-4x the same op into an existing
# tensor. Nothing numerical changes.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"
