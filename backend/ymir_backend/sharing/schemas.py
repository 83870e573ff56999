"""What listing the sharing folder answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SharingEntry(BaseModel):
    name: str
    path: str = Field(description="relative to the sharing folder: give it to the path import as is")
    is_dir: bool
    files: int | None = Field(description="folders: how many files lie directly inside")
    size: int | None = Field(description="files: bytes")
    images_folder: bool = Field(description="the folder holds images/ (or JPEGImages/): importable")


class SharingListing(BaseModel):
    folder: str = Field(description="the sharing folder on the server (absolute)")
    path: str = Field(description="the listed folder, relative to the sharing folder ('' for itself)")
    items: list[SharingEntry]
    total: int
    offset: int
    limit: int
