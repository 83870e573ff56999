"""List answers: one page of a query's rows with how many match in all, and the ``search`` filter."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from ymir_backend.schemas import Page

Out = TypeVar("Out", bound=BaseModel)


def page(
    db: Session, query: Select[Any], *, order_by: ColumnElement[Any], out: type[Out], offset: int, limit: int
) -> Page[Out]:
    """``query``'s rows ``offset`` to ``offset + limit`` in ``order_by`` order, each as ``out``, with
    the ``total`` that match (two queries: the count, then the page)."""
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(order_by).offset(offset).limit(limit))
    return Page(items=[out.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


def search_in(search: str, *columns: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """Rows where any of ``columns`` holds ``search``, ignoring case (a ``LIKE '%…%'`` filter)."""
    pattern = f"%{search.lower()}%"
    return or_(*(func.lower(c).like(pattern) for c in columns))
