"""YMIR's built-in executor: a pure-PyTorch detector for training, mining and inference (protocol 1.1.0)."""

__version__ = "0.1.0"
