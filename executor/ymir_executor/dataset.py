"""Index files and the torch datasets built on them.

Training indexes hold ``<image>\\t<annotation>`` per line, candidate indexes one image path per line.
Workers never raise: a sample that cannot be decoded carries its error text, and the main process turns
it into ``ImageError`` so the contract's code survives the DataLoader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ymir_executor.annotations import AnnotationReader, Objects
from ymir_executor.env import Roots
from ymir_executor.errors import DatasetError, ImageError
from ymir_executor.images import DECODE_ERRORS, load_letterboxed


@dataclass
class Item:
    """One training or validation image with its ground truth in original pixels."""

    image: Path
    objects: Objects


def read_training_index(
    path: Path | None, *, roots: Roots, reader: AnnotationReader, what: str
) -> list[Item]:
    """Parses a train or val index and every annotation it names.

    Raises:
        DatasetError: If the index is missing or empty, a line lacks its annotation, or a file is missing.
    """
    if path is None or not path.is_file():
        raise DatasetError(
            path=path or f"<{what} index>",
            problem=f"{what} index file is missing",
            fix=f"choose a {what} dataset for the task",
        )
    items: list[Item] = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[1].strip():
            raise DatasetError(
                path=path,
                line=n,
                problem="line has no annotation column",
                fix="write `<image path>\\t<annotation path>`",
            )
        image = roots.map_path(parts[0].strip())
        if not image.is_file():
            raise DatasetError(
                path=path, line=n, problem=f"image {image} does not exist", fix="export the dataset again"
            )
        items.append(Item(image, reader.read(roots.map_path(parts[1].strip()), image)))
    if not items:
        raise DatasetError(
            path=path, problem=f"{what} index is empty", fix=f"choose a non-empty {what} dataset"
        )
    return items


def read_candidate_index(path: Path | None, *, roots: Roots) -> np.ndarray:
    """Candidate image paths exactly as written in the index, as a compact bytes array (N,).

    The paths are kept as given (result.tsv must repeat them verbatim); ``roots.map_path`` is applied
    only when an image is opened.
    """
    if path is None or not path.is_file():
        raise DatasetError(
            path=path or "<candidate index>",
            problem="candidate index file is missing",
            fix="choose a dataset to mine or infer on",
        )
    with path.open("rb") as fh:
        lines = [ln.rstrip(b"\r\n").split(b"\t")[0] for ln in fh if ln.strip()]
    if not lines:
        raise DatasetError(path=path, problem="candidate index is empty", fix="choose a non-empty dataset")
    return np.array(lines, dtype=np.bytes_)


class ImageFiles(Dataset[dict[str, object]]):
    """Image files by position, for a model input of ``size`` pixels: ``paths`` are paths or an index's
    bytes, opened through ``roots``. Subclasses say what an item of file ``i`` holds."""

    def __init__(self, paths: list[Path] | np.ndarray, *, size: int, roots: Roots | None = None) -> None:
        self.paths = paths
        self.size = size
        self.roots = roots

    def __len__(self) -> int:
        return len(self.paths)

    def path(self, i: int) -> Path | str:
        """The file of item ``i`` as it is opened (after the roots' mapping)."""
        raw = self.paths[i]
        path: Path | str = raw.decode() if isinstance(raw, bytes) else raw
        return self.roots.map_path(path) if self.roots is not None else path


class LetterboxSet(ImageFiles):
    """Decodes and letterboxes images by position; used for caching, validation, mining and inference."""

    def __getitem__(self, i: int) -> dict[str, object]:
        path = self.path(i)
        try:
            lb = load_letterboxed(path, self.size)
        except DECODE_ERRORS as exc:
            blank = np.zeros((self.size, self.size, 3), np.uint8)
            return {
                "pixels": blank,
                "scale": 1.0,
                "width": 0,
                "height": 0,
                "index": i,
                "error": f"{path}\t{type(exc).__name__}: {exc}",
            }
        return {
            "pixels": lb.pixels,
            "scale": lb.scale,
            "width": lb.width,
            "height": lb.height,
            "index": i,
            "error": "",
        }


@dataclass
class Batch:
    """Collated images (B, 3, S, S) uint8 and their metadata."""

    pixels: torch.Tensor
    scales: torch.Tensor  # (B,) float32
    sizes: torch.Tensor  # (B, 2) original width, height
    indices: torch.Tensor  # (B,) position in the dataset
    errors: list[str]

    def raise_errors(self) -> None:
        """Raises ``ImageError`` for the first image of the batch that failed to decode."""
        for err in self.errors:
            if err:
                path, _, problem = err.partition("\t")
                raise ImageError(path=path, problem=problem)

    def pin_memory(self) -> Batch:
        """Pins the pixel tensor so host-to-device copies can overlap compute."""
        self.pixels = self.pixels.pin_memory()
        return self


def collate(samples: list[dict[str, object]]) -> Batch:
    """Stacks samples into a ``Batch``.

    Pixels are (B, 3, S, S) as a channels-last view of the stacked (B, S, S, 3) images: no transposing copy,
    and the layout the model runs fastest on.
    """
    pixels = torch.from_numpy(np.stack([np.asarray(s["pixels"]) for s in samples])).permute(0, 3, 1, 2)
    return Batch(
        pixels=pixels,
        scales=torch.tensor([float(s["scale"]) for s in samples], dtype=torch.float32),  # type: ignore[arg-type]
        sizes=torch.tensor([[int(s["width"]), int(s["height"])] for s in samples]),  # type: ignore[call-overload]
        indices=torch.tensor([int(s["index"]) for s in samples]),  # type: ignore[call-overload]
        errors=[str(s["error"]) for s in samples],
    )


def pad_objects(objects: list[Objects], scales: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Scales each image's boxes to model pixels and pads them to one tensor.

    Returns:
        boxes (B, M, 4) XYXY model pixels and classes (B, M) with -1 for padding; M >= 1.
    """
    m = max(1, max((len(o.classes) for o in objects), default=0))
    boxes = torch.zeros(len(objects), m, 4)
    classes = torch.full((len(objects), m), -1, dtype=torch.long)
    for i, (o, s) in enumerate(zip(objects, scales, strict=True)):
        n = len(o.classes)
        if n:
            boxes[i, :n] = torch.from_numpy(o.boxes) * s
            classes[i, :n] = torch.from_numpy(o.classes)
    return boxes, classes
