"""Bodies of executor images."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from ymir_backend.schemas import DB_INT_MAX, In, Orm


class ImageIn(In):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    description: str = ""
    templates: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="training / mining / infer templates; their presence = capability"
    )
    object_type: int = Field(2, ge=0, le=DB_INT_MAX)
    is_public: bool = True

    @field_validator("templates")
    @classmethod
    def _kinds(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        bad = set(v) - {"training", "mining", "infer"}
        if bad:
            raise ValueError(f"unknown template kind(s) {sorted(bad)}; use training, mining, infer")
        return v


class ImageCopy(In):
    """A copy of a public image: your own entry running the same container, with your name for it,
    and templates you may change."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    description: str | None = None
    templates: dict[str, dict[str, Any]] | None = Field(
        None, description="default: the original's; give only kinds the original has"
    )


class ImageUpdate(In):
    """A PATCH of an image: what changes (the name never does: tasks and copies refer to it)."""

    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(None, max_length=2000)
    templates: dict[str, dict[str, Any]] | None = Field(
        None, description="training / mining / infer templates, replacing the old ones; kinds = capabilities"
    )
    object_type: int | None = Field(None, ge=0, le=DB_INT_MAX)
    is_public: bool | None = None

    @field_validator("templates")
    @classmethod
    def _kinds(cls, v: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        if v is None:
            return v
        bad = set(v) - {"training", "mining", "infer"}
        if bad:
            raise ValueError(f"unknown template kind(s) {sorted(bad)}; use training, mining, infer")
        if not v:
            raise ValueError("give at least one of the training, mining and infer templates")
        return v


class ImageOut(Orm):
    id: int
    name: str
    runs: str = Field(description="the container image (or built-in executor) tasks run")
    owner_id: int | None
    description: str
    capabilities: list[str]
    templates: dict[str, Any]
    object_type: int
    is_public: bool
