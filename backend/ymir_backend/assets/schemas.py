"""What browsing a dataset version answers."""

from __future__ import annotations

from pydantic import BaseModel


class AssetBox(BaseModel):
    """A box in the image's pixels: top-left ``x``, ``y`` and size ``w``, ``h``; ``score`` for predictions,
    ``mark`` (tp, fp, fn, mtp, ignored) once the version is evaluated."""

    class_name: str
    x: float
    y: float
    w: float
    h: float
    score: float | None = None
    mark: str | None = None


class AssetOut(BaseModel):
    asset_id: str
    width: int
    height: int
    tvt: str
    tags: dict[str, str]
    image_format: str
    gt: list[AssetBox]
    pred: list[AssetBox]


class AssetPage(BaseModel):
    """What ``GET /datasets/{id}/assets`` answers (written directly, not validated: it is the hot path).
    ``media_token`` signs the version's image links: ``GET /datasets/{id}/media/{asset_id}?t=<token>``."""

    items: list[AssetOut]
    total: int
    offset: int
    limit: int
    media_token: str
