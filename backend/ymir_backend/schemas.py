"""What every resource's request and response bodies share: ids, the NUL check, pages.

Each resource keeps its own bodies in ``ymir_backend/<resource>/schemas.py``."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, field_validator

T = TypeVar("T")

DB_INT_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL; SQLite's is wider
DbId = Annotated[int, Ge(1), Le(DB_INT_MAX)]
"""An id of a row: 1 to 2^31-1 (a larger one is refused with 422, never looked up)."""
DbInt = Annotated[int, Ge(0), Le(DB_INT_MAX)]
"""A count, offset or other integer stored in (or compared with) an INTEGER column."""


NO_NUL = r"^[^\x00]*$"
"""The pattern of a form field or parameter that may hold anything but NUL."""


def first_nul(value: Any, path: str = "") -> str | None:
    """Where a NUL character sits in a JSON-like value (``a.b[2]``), or None. PostgreSQL cannot store
    NUL in text, and no name, path or description needs one."""
    if isinstance(value, str):
        return (path or "the value") if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and "\x00" in k:
                return where
            found = first_nul(v, where)
            if found:
                return found
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = first_nul(v, f"{path}[{i}]")
            if found:
                return found
    return None


class In(BaseModel):
    """Base of every request body: no NUL character in any field, nested keys included."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        where = first_nul(value)
        if where:
            raise ValueError(f"{where} contains a NUL character (\\x00); remove it")
        return value


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items``, the ``total`` matching, and where this page starts."""

    items: list[T]
    total: int
    offset: int
    limit: int


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)
