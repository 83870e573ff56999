"""One training step replayed as a CUDA graph: the GPU runs it without the host launching each kernel.

A small detector on small images is bound by the host, not the GPU: one step launches about two thousand
kernels (augmentation, forward, loss, backward, clipping, optimiser) that each take the GPU microseconds.
Captured once, a step is one launch. The step must then keep every shape (full batches, a fixed number of
target boxes), make no device-to-host sync, draw its random numbers from the device's default generator
and update an optimiser built with ``capturable=True`` and a tensor learning rate. A new input shape
(the pseudo-labels widen the boxes) is captured anew.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)

StepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]


class GraphedStep:
    """Runs ``fn(pixels, boxes, classes)``: eagerly on a side stream for ``warmup`` calls (real steps, as
    capture requires), then captured, and replayed from then on with the inputs copied into its buffers."""

    def __init__(self, fn: StepFn, *, warmup: int = 3) -> None:
        self.fn = fn
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: tuple[torch.Tensor, ...] = ()
        self.eager_left = warmup
        self.captures = 0
        self.failed = False

    def __call__(self, pixels: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor) -> None:
        shapes = [t.shape for t in self.inputs]
        if self.graph is not None and shapes == [pixels.shape, boxes.shape, classes.shape]:
            for buf, t in zip(self.inputs, (pixels, boxes, classes), strict=True):
                buf.copy_(t, non_blocking=True)
            self.graph.replay()
            return
        if self.graph is not None:  # the shapes changed: warm up once more, then capture again
            self.graph, self.eager_left = None, 1
        if self.eager_left > 0:
            self.eager_left -= 1
            side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.fn(pixels, boxes, classes)
            torch.cuda.current_stream().wait_stream(side)
            return
        if self.failed:
            self.fn(pixels, boxes, classes)
            return
        self.inputs = (pixels.clone(), boxes.clone(), classes.clone())
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.fn(*self.inputs)
        except Exception as exc:  # an operation the capture cannot hold: train on, launching each kernel
            log.warning("the training step cannot be a CUDA graph (%s); it runs eagerly", _first_line(exc))
            self.failed = True
            torch.cuda.synchronize()
            self.fn(pixels, boxes, classes)
            return
        self.graph = graph
        self.captures += 1
        graph.replay()  # capturing records the step without running it


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
