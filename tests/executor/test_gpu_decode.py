"""GPU JPEG decoding: batches letterboxed like the CPU path, fallbacks, and errors naming the file.

nvJPEG needs CUDA and torchvision, neither of which exists on the CPU build used here, so these tests put
Pillow in the place of torchvision's ``decode_jpeg`` (same call: a list of byte tensors -> a list of
(3, H, W) uint8 RGB tensors, raising RuntimeError on a bad file). Everything around it — reading bytes in
workers, the non-JPEG and refused-file fallbacks, resizing, letterboxing, error reporting — runs for real.
The real decoder is exercised by ``bench/executor_bench.py`` on a GPU.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ymir_executor import gpu_decode
from ymir_executor.dataset import LetterboxSet, collate
from ymir_executor.errors import ImageError

SIZE = 128


def _pillow_decode(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    out = []
    for d in data:
        try:
            with Image.open(io.BytesIO(d.numpy().tobytes())) as img:
                if img.mode == "CMYK":
                    raise RuntimeError("nvjpeg: unsupported colour space")  # as nvJPEG refuses CMYK
                arr = np.asarray(img.convert("RGB"))
        except OSError as exc:
            raise RuntimeError(f"decode failed: {exc}") from exc
        out.append(torch.from_numpy(arr.copy()).permute(2, 0, 1).to(device))
    return out


@pytest.fixture(autouse=True)
def _pillow_for_nvjpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_decode, "_decoder", lambda: _pillow_decode)


def _image(path: Path, size: tuple[int, int], mode: str = "RGB", fmt: str = "JPEG") -> Path:
    rng = np.random.default_rng(len(str(path)))
    arr = rng.integers(0, 255, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    img = Image.fromarray(arr).resize(size, Image.Resampling.BILINEAR).convert(mode)
    img.save(path, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def _decoded(paths: list[Path]) -> gpu_decode.DecodedBatch:
    loader = DataLoader(
        gpu_decode.EncodedSet(paths, size=SIZE),
        batch_size=len(paths),
        collate_fn=gpu_decode.collate_encoded,
    )
    return gpu_decode.decode_batch(next(iter(loader)), size=SIZE, device=torch.device("cpu"))


def test_batch_matches_the_cpu_letterbox(tmp_path: Path) -> None:
    paths = [
        _image(tmp_path / "same.jpg", (128, 96)),  # no resize, padded below
        _image(tmp_path / "wide.jpg", (200, 100)),  # shrunk
        _image(tmp_path / "small.jpg", (64, 48)),  # enlarged
        _image(tmp_path / "grey.jpg", (96, 128), mode="L"),
        _image(tmp_path / "cmyk.jpg", (100, 80), mode="CMYK"),  # refused by the decoder -> Pillow
        _image(tmp_path / "plain.png", (120, 90), fmt="PNG"),  # not a JPEG -> decoded by the worker
    ]
    dec = _decoded(paths)
    cpu = collate([LetterboxSet(paths, size=SIZE)[i] for i in range(len(paths))])
    assert dec.indices.tolist() == list(range(len(paths)))
    assert dec.sizes.tolist() == cpu.sizes.tolist()
    assert torch.allclose(dec.scales, cpu.scales)
    assert dec.images.shape == (len(paths), 3, SIZE, SIZE)
    assert dec.images.is_contiguous(memory_format=torch.channels_last)
    gpu_px = dec.images * 255.0
    cpu_px = cpu.pixels.float()
    for i, p in enumerate(paths):
        diff = (gpu_px[i] - cpu_px[i]).abs()
        # resampling differs slightly between Pillow and torch; the padding and geometry must not
        assert diff.mean() < 3.0, (p.name, float(diff.mean()))
    assert torch.equal(gpu_px[0, :, 96:, :], torch.full_like(gpu_px[0, :, 96:, :], 114.0))


def test_a_broken_jpeg_names_its_file(tmp_path: Path) -> None:
    good = _image(tmp_path / "good.jpg", (64, 64))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)  # JPEG magic, then nothing decodable
    with pytest.raises(ImageError) as err:
        _decoded([good, bad])
    assert "bad.jpg" in str(err.value)


def test_a_missing_file_names_itself(tmp_path: Path) -> None:
    good = _image(tmp_path / "good.jpg", (64, 64))
    with pytest.raises(ImageError) as err:
        _decoded([good, tmp_path / "gone.jpg"])
    assert "gone.jpg" in str(err.value)


def test_not_available_on_the_cpu() -> None:
    assert not gpu_decode.available(torch.device("cpu"))
