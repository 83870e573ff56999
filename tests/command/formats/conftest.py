"""Fixtures of the format tests; the helpers live in :mod:`fmtlib` so test modules can import them."""

from __future__ import annotations

import pytest

from tests.command.formats.fmtlib import Dataset, make_dataset


@pytest.fixture
def dataset() -> Dataset:
    """Integer and fractional boxes, a class name with a space and capitals, tags, quality, rotation."""
    return make_dataset()
