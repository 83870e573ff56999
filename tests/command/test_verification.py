"""Model verification (``mir models verify``): a stage's ONNX export gives the executor's own boxes in the
image's pixels; broken images, models without a usable ONNX export and unknown stages fail clearly."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from PIL import Image

from bench.synthetic import generate_voc
from mir import models, verification
from mir.errors import InputFileError, InvalidArgsError, ModelError, NotVerifiableError, StageNotFoundError
from tests.command.conftest import CliResult
from tests.executor.conftest import CLASSES, SIZE, TRAIN_CONFIG
from tests.executor.workdir import voc_pairs, write_workdir
from ymir_executor.app import run
from ymir_executor.env import Roots
from ymir_executor.images import PAD_VALUE, load_letterboxed

CONF = 0.1
TRAIN = {**TRAIN_CONFIG, "epochs": 4, "eval_interval": 2, "batch_size_per_gpu": 16}  # a quick model


@dataclass(frozen=True)
class Store:
    """A model location with one package trained by our executor, and images it never saw."""

    location: Path
    hash: str
    best: str
    stages: list[str]
    models_dir: Path  # the executor's output, to pack variants from
    images: list[Path]


def _executor(din: Path, dout: Path) -> None:
    assert run(Roots(din, dout, Path("/nonexistent-img-man"))) == 0, (dout / "monitor.txt").read_text()


def _pack(models_dir: Path, location: Path, *, drop: tuple[str, ...] = ()) -> str:
    result = yaml.safe_load((models_dir / "result.yaml").read_text())
    stages = {
        name: {**st, "stage_name": name, "files": [f for f in st["files"] if f not in drop]}
        for name, st in result["model_stages"].items()
    }
    digest, _ = models.pack(
        models_dir=models_dir,
        stages=stages,
        best_stage=result["best_stage_name"],
        model_location=location,
        executor_config={"class_names": CLASSES},
        task_context={"producer": "test"},
    )
    return digest


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("verify")
    train = generate_voc(root / "train", n_images=120, seed=21, image_size=(SIZE, SIZE))
    val = generate_voc(root / "val", n_images=24, seed=22, image_size=(SIZE, SIZE))
    din, dout = write_workdir(
        root / "train-work", task="training", config=TRAIN, train=voc_pairs(train), val=voc_pairs(val)
    )
    _executor(din, dout)
    digest = _pack(dout / "models", root / "models")
    info = models.read_info(root / "models" / digest)
    # larger than the input and not square (JPEGs decoded at a reduced DCT scale), and small PNGs (upscaled)
    big = generate_voc(root / "big", n_images=6, seed=23, image_size=(250, 170), name_prefix="big")
    small = generate_voc(root / "small", n_images=3, seed=24, image_size=(120, 80), name_prefix="small")
    images = sorted((big / "images").iterdir())
    for jpg in sorted((small / "images").iterdir()):
        png = root / "png" / f"{jpg.stem}.png"
        png.parent.mkdir(exist_ok=True)
        Image.open(jpg).save(png)
        images.append(png)
    return Store(
        root / "models", digest, info["best_stage_name"], list(info["stages"]), dout / "models", images
    )


@pytest.fixture(autouse=True)
def _fresh_sessions() -> None:
    verification.clear_cache()


def _executor_boxes(store: Store, work: Path) -> dict[str, list[dict[str, object]]]:
    """infer-result.json of the executor's torch inference with the best stage, by image basename."""
    config = {
        "class_names": CLASSES,
        "model_params_path": [str(store.models_dir / store.best / "model.pt")],
        "workers_per_gpu": 0,
        "conf_threshold": CONF,
        "channels_last": False,
    }
    din, dout = write_workdir(work, task="infer", config=config, candidates=store.images)
    _executor(din, dout)
    det = json.loads((dout / "infer-result.json").read_text())["detection"]
    return {k: v["boxes"] for k, v in det.items()}


@pytest.mark.parametrize(("fmt", "width", "height"), [("JPEG", 700, 420), ("PNG", 90, 50)])
def test_letterbox_gives_the_executors_pixels(tmp_path: Path, fmt: str, width: int, height: int) -> None:
    """mir keeps its own copy of the executor's letterboxing (mir does not import the executor, which
    may not be installed beside it); both give the same pixels, DCT-downscaled JPEG and upscaled PNG."""
    rng = np.random.default_rng(3)
    path = tmp_path / f"image.{fmt.lower()}"
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path, fmt)
    ours = verification.letterbox(path.read_bytes(), 160, pad_value=PAD_VALUE, name="image")
    theirs = load_letterboxed(path, 160)
    assert (ours.scale, ours.width, ours.height) == (theirs.scale, theirs.width, theirs.height)
    assert np.array_equal(ours.pixels, theirs.pixels)


def test_boxes_equal_the_executors_torch_inference(store: Store, tmp_path: Path) -> None:
    expected = _executor_boxes(store, tmp_path / "infer")
    found = 0
    for path in store.images:
        got = verification.verify(
            model_location=store.location,
            model=f"{store.hash[:10]}@best",
            image=path.read_bytes(),
            cache_dir=tmp_path / "cache",
            conf_threshold=CONF,
        )
        with Image.open(path) as img:
            assert (got.width, got.height) == img.size
        assert got.model_hash == store.hash and got.stage == store.best and got.elapsed_ms > 0
        want = expected[path.name]
        assert len(got.boxes) == len(want), (path.name, got.boxes, want)
        for g, w in zip(got.boxes, want, strict=True):
            box = w["box"]
            assert isinstance(box, dict)
            assert g.class_name == w["class_name"] and abs(g.score - float(str(w["score"]))) <= 1e-4
            # the executor rounds x0, y0, x1 and y1 to whole pixels
            assert abs(g.x - box["x"]) <= 0.5 + 1e-6 and abs(g.y - box["y"]) <= 0.5 + 1e-6
            assert abs(g.w - box["w"]) <= 1 + 1e-6 and abs(g.h - box["h"]) <= 1 + 1e-6
            assert 0 <= g.x and g.x + g.w <= got.width + 1e-6 and g.y + g.h <= got.height + 1e-6
        found += len(want)
    assert found >= len(store.images)  # the model finds things: the comparison is not vacuous


def test_one_extraction_and_one_session_per_stage(store: Store, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    loaded: list[verification.StageDetector] = []

    def load() -> None:
        loaded.append(verification.load_stage(store.location, f"{store.hash}@best", cache_dir=cache))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loaded) == 4 and len({id(d) for d in loaded}) == 1
    assert verification.load_stage(store.location, store.hash, cache_dir=cache) is loaded[-1]
    assert (
        verification.load_stage(store.location, f"{store.hash}@{store.best}", cache_dir=cache) is loaded[-1]
    )
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) == [
        f"{store.hash}/{store.best}/model.onnx"
    ]  # one stage, one file, no temporary folder left behind
    verification.clear_cache()
    again = verification.load_stage(store.location, store.hash, cache_dir=cache)
    assert again is not loaded[-1] and again.class_names == CLASSES and again.img_size == SIZE


def test_cli_prints_boxes_and_json(store: Store, tmp_path: Path, mir: Callable[..., CliResult]) -> None:
    image = store.images[0]
    args = ("models", "verify", f"{store.hash}@best", "--image", image, "--model-location", store.location)
    args += ("--cache-dir", tmp_path / "cache", "--conf-thr", str(CONF))
    as_json = mir(*args, "--json")
    assert as_json.code == 0, as_json.err
    body = json.loads(as_json.out)
    want = verification.verify(
        model_location=store.location,
        model=store.hash,
        image=image.read_bytes(),
        cache_dir=tmp_path / "cache",
        conf_threshold=CONF,
    )
    assert body["stage"] == store.best and body["width"] == 250 and body["height"] == 170
    assert [(b["class_name"], b["x"], b["score"]) for b in body["boxes"]] == [
        (b.class_name, b.x, b.score) for b in want.boxes
    ]
    text = mir(*args)
    assert text.code == 0 and f"{len(want.boxes)} box(es)" in text.out and "250x170" in text.out


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` (a decompression bomb's header) with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"", ["upload.jpg", "empty", "JPEG, PNG"]),
        (b"name,score\ncat,0.5\n", ["upload.jpg", "not an image", "JPEG, PNG"]),
        ("jpeg-cut", ["upload.jpg", "truncated JPEG", "JPEG, PNG"]),
        (_png_header(100_000, 100_000), ["upload.jpg", "100000x100000", "megapixels", "downscale"]),
    ],
)
def test_broken_images_are_named(store: Store, tmp_path: Path, data: bytes | str, names: list[str]) -> None:
    if data == "jpeg-cut":
        data = store.images[0].read_bytes()[:2000]
    assert isinstance(data, bytes)
    with pytest.raises(InputFileError) as err:
        verification.verify(
            model_location=store.location,
            model=store.hash,
            image=data,
            image_name="upload.jpg",
            cache_dir=tmp_path / "cache",
        )
    for name in names:
        assert name in str(err.value), str(err.value)


def test_cli_names_a_missing_image(store: Store, tmp_path: Path, mir: Callable[..., CliResult]) -> None:
    r = mir(
        "models", "verify", store.hash, "--image", tmp_path / "nope.jpg", "--model-location", store.location
    )
    assert r.code == InputFileError.exit_code and "nope.jpg" in r.err and "cannot be read" in r.err


def test_model_without_onnx(store: Store, tmp_path: Path, mir: Callable[..., CliResult]) -> None:
    bare = _pack(store.models_dir, store.location, drop=("model.onnx",))
    with pytest.raises(NotVerifiableError) as err:
        verification.verify(
            model_location=store.location, model=bare, image=b"", cache_dir=tmp_path / "cache"
        )
    assert "no ONNX export with detections" in str(err.value) and "retrain" in str(err.value)
    assert err.value.model_hash == bare and err.value.stage == store.best
    # other stages never hold the export: the message points at the best one
    other = next(s for s in store.stages if s != store.best)
    r = mir(
        "models",
        "verify",
        f"{store.hash}@{other}",
        "--image",
        store.images[0],
        "--model-location",
        store.location,
        "--cache-dir",
        tmp_path / "cache",
    )
    assert r.code == NotVerifiableError.exit_code
    assert f"@{other} has no ONNX export" in r.err and f"verify @{store.best}" in r.err and "fix:" in r.err


def test_onnx_without_metadata(store: Store, tmp_path: Path) -> None:
    """An export from before detections were added (or another tool's): no ``ymir.*`` metadata."""
    old = tmp_path / "old-models"
    for src in store.models_dir.rglob("*"):
        if src.is_file():
            dst = old / src.relative_to(store.models_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    proto = onnx.load(str(old / store.best / "model.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(old / store.best / "model.onnx"))
    digest = _pack(old, tmp_path / "location")
    with pytest.raises(NotVerifiableError, match="no ONNX export with detections") as err:
        verification.verify(
            model_location=tmp_path / "location",
            model=digest,
            image=store.images[0].read_bytes(),
            cache_dir=tmp_path / "cache",
        )
    assert "retrain with the current ymir-executor" in str(err.value)


def test_unknown_stage_and_model(store: Store, tmp_path: Path, mir: Callable[..., CliResult]) -> None:
    with pytest.raises(StageNotFoundError) as err:
        verification.load_stage(store.location, f"{store.hash}@epoch_99", cache_dir=tmp_path)
    assert "'epoch_99'" in str(err.value) and all(s in str(err.value) for s in store.stages)
    with pytest.raises(ModelError, match="is not in"):
        verification.load_stage(store.location, "0123456789abcdef", cache_dir=tmp_path)
    r = mir(
        "models",
        "verify",
        f"{store.hash}@epoch_99",
        "--image",
        store.images[0],
        "--model-location",
        store.location,
    )
    assert r.code == StageNotFoundError.exit_code and "epoch_99" in r.err and "pick one of those" in r.err
    r = mir("models", "verify", store.hash, "--model-location", store.location)
    assert r.code == InvalidArgsError.exit_code and "--image" in r.err


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"conf_threshold": 1.5}, "conf_threshold"),
        ({"max_boxes": 0}, "max_boxes"),
        ({"iou_threshold": 0}, "iou"),
    ],
)
def test_bad_thresholds(store: Store, tmp_path: Path, kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidArgsError, match=field):
        verification.verify(
            model_location=store.location,
            model=store.hash,
            image=store.images[0].read_bytes(),
            cache_dir=tmp_path,
            **kwargs,  # type: ignore[arg-type]
        )
