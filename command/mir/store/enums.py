"""Asset types and evaluation marks (YMIR's values), free of pyarrow so light commands start fast."""

from __future__ import annotations

from enum import IntEnum


class Tvt(IntEnum):
    """Asset role in training: YMIR's TvtType values."""

    UNKNOWN = 0
    TRAIN = 1
    VAL = 2
    TEST = 3


TVT_PREFIXES = {"tr": Tvt.TRAIN, "va": Tvt.VAL, "te": Tvt.TEST}
TVT_NAMES = {Tvt.UNKNOWN: "unknown", Tvt.TRAIN: "train", Tvt.VAL: "val", Tvt.TEST: "test"}


class Mark(IntEnum):
    """Evaluation mark of a box: YMIR's ConfusionMatrixType values."""

    NOT_SET = 0
    TP = 1
    FP = 2
    FN = 3
    MTP = 11  # ground-truth box matched by a prediction
    IGNORED = 12
