"""Training-time image supply: a decoded cache (host RAM or device memory) or a streaming DataLoader.

Both yield uint8 batches (B, 3, S, S) on the training device plus padded boxes; augmentation happens on
the device afterwards (``augment.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from PIL import Image
from torch.utils.data import DataLoader

from ymir_executor.annotations import Objects
from ymir_executor.dataset import Batch, Item, LetterboxSet, collate, pad_objects

log = logging.getLogger(__name__)


def decode_all(items: list[Item], *, size: int, workers: int, progress: Callable[[float], None]) -> Batch:
    """Decodes and letterboxes every image once; returns them as one batch (pixels (N, 3, S, S) uint8)."""
    loader = DataLoader(
        LetterboxSet([it.image for it in items], size=size),
        batch_size=64,
        num_workers=workers,
        collate_fn=collate,
        shuffle=False,
    )
    parts: list[Batch] = []
    done = 0
    for batch in loader:
        batch.raise_errors()
        parts.append(batch)
        done += len(batch.indices)
        progress(done / len(items))
    return Batch(
        pixels=torch.cat([p.pixels for p in parts]),
        scales=torch.cat([p.scales for p in parts]),
        sizes=torch.cat([p.sizes for p in parts]),
        indices=torch.cat([p.indices for p in parts]),
        errors=[],
    )


def cache_mode(requested: str, *, n_images: int, size: int, device: torch.device, max_gb: float) -> str:
    """Resolves ``cache_images: auto`` to device, ram or none from the decoded size."""
    gb = n_images * 3 * size * size / 1e9
    if requested != "auto":
        return requested
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if gb < 0.3 * free / 1e9:
            return "device"
    return "ram" if gb <= max_gb else "none"


@dataclass
class TrainImages:
    """Yields shuffled training batches for one process of ``world`` (DDP shards by rank)."""

    items: list[Item]
    size: int
    batch_size: int
    workers: int
    device: torch.device
    mode: str  # device, ram or none
    rank: int = 0
    world: int = 1
    fixed_shapes: bool = False  # full batches and all boxes padded alike (a CUDA graph replays one shape)

    def prepare(self, progress: Callable[[float], None]) -> None:
        """Decodes the cache (if any) and pads all boxes once."""
        self.cache: Batch | None = None
        if self.mode in ("device", "ram"):
            self.cache = decode_all(self.items, size=self.size, workers=self.workers, progress=progress)
            self.scales = self.cache.scales.tolist()
            if self.mode == "device":
                self.cache.pixels = self.cache.pixels.to(self.device)
            elif self.device.type == "cuda":
                self.cache.pixels = self.cache.pixels.pin_memory()
        else:
            self.scales = [self.size / max(1, *_size_of(it)) for it in self.items]
        self._pad()
        log.info("training images: %d, cache %s", len(self.items), self.mode)

    def _pad(self) -> None:
        boxes, classes = pad_objects([it.objects for it in self.items], self.scales)
        self.boxes, self.classes = boxes.to(self.device), classes.to(self.device)
        self.counts = (classes >= 0).sum(1)  # (N,) on the host, so batching needs no device sync

    def relabel(self, first: int, objects: list[Objects]) -> None:
        """Gives the items from ``first`` on these objects (original pixels), e.g. pseudo-labels."""
        for it, obj in zip(self.items[first:], objects, strict=True):
            it.objects = obj
        self._pad()

    def steps_per_epoch(self, n: int | None = None) -> int:
        """Iterations per epoch of ``n`` images (default: all) for this process."""
        per_rank = ((len(self.items) if n is None else n) + self.world - 1) // self.world
        return max(1, (per_rank + self.batch_size - 1) // self.batch_size)

    def epoch(
        self, seed: int, members: torch.Tensor | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Batches of one epoch: pixels (B, 3, S, S) uint8, boxes (B, M, 4), classes (B, M), on the device.

        ``members`` (item indices) limits the epoch to those items. The epoch's order goes to the device
        once; batches are slices of it, so a step waits for no copy.
        """
        gen = torch.Generator().manual_seed(seed)
        chosen = torch.arange(len(self.items)) if members is None else members
        order = chosen[torch.randperm(len(chosen), generator=gen)][self.rank :: self.world]
        if self.fixed_shapes and len(order) % self.batch_size:  # the last batch is filled up from the first
            fill = self.batch_size - len(order) % self.batch_size
            order = torch.cat((order, order.repeat(fill // len(order) + 1)[:fill]))
        starts = range(0, len(order), self.batch_size)
        # per batch, the most objects one of its images holds (host numbers: no device sync)
        widths = [
            int(self.boxes.shape[1])
            if self.fixed_shapes
            else max(1, int(self.counts[order[i : i + self.batch_size]].max()))
            for i in starts
        ]
        dev_order = order.to(self.device)
        if self.cache is not None:
            cache_order = dev_order if self.cache.pixels.device == dev_order.device else order
            for i, m in zip(starts, widths, strict=True):
                sel = cache_order[i : i + self.batch_size]
                pixels = self.cache.pixels.index_select(0, sel).to(self.device, non_blocking=True)
                yield pixels, *self._targets(dev_order[i : i + self.batch_size], m)
            return
        loader = DataLoader(
            LetterboxSet([it.image for it in self.items], size=self.size),
            batch_sampler=[order[i : i + self.batch_size].tolist() for i in starts],
            num_workers=self.workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if self.workers else None,
        )
        for (i, m), batch in zip(zip(starts, widths, strict=True), loader, strict=True):
            batch.raise_errors()
            pixels = batch.pixels.to(self.device, non_blocking=True)
            yield pixels, *self._targets(dev_order[i : i + self.batch_size], m)

    def _targets(self, idx: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Boxes (B, m, 4) and classes (B, m) of the images ``idx`` (on the device)."""
        return self.boxes.index_select(0, idx)[:, :m], self.classes.index_select(0, idx)[:, :m]


def _size_of(item: Item) -> tuple[int, int]:
    with Image.open(item.image) as img:
        return img.size
