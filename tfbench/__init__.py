"""tfbench: benchmark and ablation harness for TF4CTR (Twin Focus Framework for CTR prediction)."""

__version__ = "0.1.0"
