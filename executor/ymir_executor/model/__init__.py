"""The pure-PyTorch anchor-free detector: CenterNet-style centre heatmaps, TTFNet-style box regression."""

from ymir_executor.model.decode import Detections, decode
from ymir_executor.model.detector import Detector, DetectorConfig

__all__ = ["Detections", "Detector", "DetectorConfig", "decode"]
