"""What a labeling round in Label Studio takes."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from ymir_backend.schemas import In


class LabelingIn(In):
    """What a labeling round needs."""

    model_config = ConfigDict(extra="forbid")
    class_names: list[str] = Field(
        default_factory=list,
        description="classes annotators may draw (empty: the project's training classes)",
    )
    annotators: list[str] = Field(default_factory=list, max_length=500, description="annotators' e-mails")
    instruction: str = Field("", max_length=20000, description="shown to annotators in Label Studio")
    pre_annotations: Literal["none", "pred", "gt"] = "none"
    unknown_classes: Literal["stop", "ignore"] = "stop"
    invalid_boxes: Literal["stop", "clip", "drop"] = "stop"
