"""Bodies of labels (class names with aliases)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, field_validator

from mir.errors import InvalidLabelError
from mir.labels import check_label
from ymir_backend.schemas import In, Orm


def label_name(value: str) -> str:
    """mir's own rule for a class name (no ',', ';' or control character), checked before anything is
    written, so a refused name changes nothing."""
    try:
        return str(check_label(value))
    except InvalidLabelError as e:
        raise ValueError(f"{e.message}; {e.fix}" if e.fix else e.message) from None


class LabelIn(In):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=120)
    aliases: list[Annotated[str, Field(max_length=120)]] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return label_name(v)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        return [label_name(a) for a in v]


class LabelsIn(In):
    """Several labels at once: all are added, or none (the first problem names its item)."""

    model_config = ConfigDict(extra="forbid")
    labels: list[LabelIn] = Field(min_length=1, max_length=1000)


class LabelUpdate(In):
    """A PATCH of a label: aliases to add. ``name`` may be repeated but never changed."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=120)
    aliases: list[str] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else label_name(v)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        return [label_name(a) for a in v]


class LabelOut(Orm):
    id: int
    name: str
    aliases: list[str]
