"""Fixtures for mir tests: repositories, tiny generated images, hand-written annotations, a CLI runner."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mir.cli import main
from mir.ops import history


@dataclass
class CliResult:
    """Exit status and captured output of one in-process ``mir`` call."""

    code: int
    out: str
    err: str


@pytest.fixture
def mir(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``mir ARGS`` in this process and capture what it prints."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        buf = io.StringIO()
        with redirect_stdout(buf):
            code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, buf.getvalue() + captured.out, captured.err)

    return run


def make_image(path: Path, *, size: tuple[int, int] = (64, 48), seed: int = 0, fmt: str | None = None) -> str:
    """Write a random image (unique bytes per seed) and return its sha1."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return hashlib.sha1(path.read_bytes()).hexdigest()


def voc_xml(
    filename: str,
    size: tuple[int, int],
    objects: list[tuple[str, int, int, int, int]],
    cks: dict[str, str] | None = None,
) -> str:
    """A Pascal VOC annotation; objects are ``(name, xmin, ymin, xmax, ymax)``."""
    objs = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax>"
        f"</bndbox></object>"
        for n, a, b, c, d in objects
    )
    tags = "".join(f"<{k}>{v}</{k}>" for k, v in (cks or {}).items())
    return (
        f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
        f"<depth>3</depth></size>{f'<cks>{tags}</cks>' if tags else ''}{objs}</annotation>"
    )


@dataclass
class VocSet:
    """A small hand-made dataset: images, VOC folder, index file and each image's sha1."""

    index: Path
    voc: Path
    ids: dict[str, str]


def make_voc_set(
    base: Path,
    items: dict[str, list[tuple[str, int, int, int, int]]],
    *,
    seed: int = 0,
    size: tuple[int, int] = (64, 48),
    cks: dict[str, dict[str, str]] | None = None,
) -> VocSet:
    """Images named by ``items``' keys with their boxes; returns where everything is."""
    images, voc = base / "images", base / "voc"
    voc.mkdir(parents=True, exist_ok=True)
    ids = {}
    lines = []
    for i, (stem, objects) in enumerate(items.items()):
        p = images / f"{stem}.jpg"
        ids[stem] = make_image(p, size=size, seed=seed * 1000 + i)
        lines.append(str(p))
        (voc / f"{stem}.xml").write_text(voc_xml(p.name, size, objects, (cks or {}).get(stem)))
    index = base / "index.txt"
    index.write_text("\n".join(lines) + "\n")
    return VocSet(index=index, voc=voc, ids=ids)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty repository."""
    root = tmp_path / "repo"
    history.init(root=root)
    return root


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A media location."""
    return tmp_path / "media"


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: compare before/after to prove nothing changed."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = p.read_bytes()
    for dirpath, dirs, _files in os.walk(root):
        for d in dirs:
            out[str((Path(dirpath) / d).relative_to(root)) + "/"] = b""
    return out


Box = tuple[str, str, float, float, float, float]  # asset, class name, x, y, w, h


def commit_snapshot(
    root: Path,
    dst: str,
    assets: dict[str, int],
    gt: list[Box] = (),  # type: ignore[assignment]
    pred: list[Box] = (),
    tags: dict[str, dict[str, str]] | None = None,
) -> None:  # type: ignore[assignment]
    """Commit a hand-made version: ``assets`` maps asset id -> tvt; boxes use class names."""
    import pyarrow as pa

    from mir.labels import Labels
    from mir.ops.common import annotations_table
    from mir.revs import parse_rev
    from mir.store import schema
    from mir.store.repo import Repo, Snapshot, Task

    ids = list(assets)
    table = pa.Table.from_pydict(
        {
            "asset_id": ids,
            "width": [100] * len(ids),
            "height": [100] * len(ids),
            "channels": [3] * len(ids),
            "image_format": ["jpeg"] * len(ids),
            "byte_size": [10] * len(ids),
            "tvt": [assets[i] for i in ids],
            "origin_name": [f"{i}.jpg" for i in ids],
            "timestamp": [0] * len(ids),
            "tags": [list((tags or {}).get(i, {}).items()) or None for i in ids],
        },
        schema=schema.ASSETS,
    )

    def boxes(items: list[Box], labels: Labels, scores: bool) -> pa.Table:
        return annotations_table(
            {
                "asset_id": [b[0] for b in items],
                "class_id": [labels.add(b[1]) for b in items],
                "x": [b[2] for b in items],
                "y": [b[3] for b in items],
                "w": [b[4] for b in items],
                "h": [b[5] for b in items],
                "score": [max(0.99 - 0.001 * i, 0.01) if scores else -1.0 for i in range(len(items))],
            }
        )

    rev = parse_rev(dst, need_tid=True)
    Repo(root).commit(
        dst=rev,
        task=Task(type="test", tid=rev.tid or ""),
        build=lambda labels: Snapshot(
            assets=table, gt=boxes(list(gt), labels, False), pred=boxes(list(pred), labels, True)
        ),
    )


def content(root: Path, rev: str) -> dict[str, object]:
    """A version as plain data: {asset: tvt}, and sorted (asset, class, x) for gt and pred."""
    from mir.store.repo import Repo

    r = Repo(root)
    snap = r.read(r.resolve(rev))
    labels = r.labels()
    return {
        "assets": dict(zip(snap.assets["asset_id"].to_pylist(), snap.assets["tvt"].to_pylist(), strict=True)),
        "gt": sorted((b["asset_id"], labels.name_of(b["class_id"]), b["x"]) for b in snap.gt.to_pylist()),
        "pred": sorted((b["asset_id"], labels.name_of(b["class_id"]), b["x"]) for b in snap.pred.to_pylist()),
    }
