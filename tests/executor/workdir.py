"""Builds executor work directories (env.yaml, config.yaml, index files) from generated VOC data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml


def voc_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(image, annotation) pairs of a dataset written by ``bench.synthetic.generate_voc``."""
    images = [Path(p) for p in (root / "index.txt").read_text().splitlines()]
    return [(p, root / "annotations" / f"{p.stem}.xml") for p in images]


def to_ark(pairs: list[tuple[Path, Path]], out: Path, class_names: list[str]) -> list[tuple[Path, Path]]:
    """Rewrites VOC annotations as ark txt files under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    result = []
    for img, xml in pairs:
        lines = []
        for obj in ET.parse(xml).getroot().iter("object"):
            bb = obj.find("bndbox")
            assert bb is not None
            vals = [bb.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")]
            lines.append(
                f"{class_names.index(obj.findtext('name') or '')}, "
                f"{', '.join(v or '' for v in vals)}, -1.0, 0.0"
            )
        txt = out / f"{img.stem}.txt"
        txt.write_text("\n".join(lines) + ("\n" if lines else ""))
        result.append((img, txt))
    return result


def to_coco(pairs: list[tuple[Path, Path]], out: Path, class_names: list[str]) -> list[tuple[Path, Path]]:
    """Rewrites VOC annotations into one COCO json; every pair then points at that file."""
    images, anns = [], []
    for n, (img, xml) in enumerate(pairs, start=1):
        root = ET.parse(xml).getroot()
        images.append(
            {
                "id": n,
                "file_name": img.name,
                "width": int(root.findtext("size/width") or 0),
                "height": int(root.findtext("size/height") or 0),
            }
        )
        for obj in root.iter("object"):
            x0, y0, x1, y1 = (
                float(obj.findtext(f"bndbox/{k}") or 0) for k in ("xmin", "ymin", "xmax", "ymax")
            )
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": n,
                    "category_id": class_names.index(obj.findtext("name") or "") + 1,
                    "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
                    "area": (x1 - x0 + 1) * (y1 - y0 + 1),
                    "iscrowd": 0,
                }
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": anns,
                "categories": [{"id": i + 1, "name": c} for i, c in enumerate(class_names)],
            }
        )
    )
    return [(img, out) for img, _ in pairs]


def write_workdir(
    work: Path,
    *,
    task: str,
    config: dict[str, Any],
    train: list[tuple[Path, Path]] | None = None,
    val: list[tuple[Path, Path]] | None = None,
    candidates: list[Path] | None = None,
    run_infer: bool = False,
    task_id: str = "t0001",
) -> tuple[Path, Path]:
    """Writes ``work/in`` (env.yaml with real absolute paths, config.yaml, indexes); returns (in, out)."""
    din, dout = work / "in", work / "out"
    din.mkdir(parents=True, exist_ok=True)
    dout.mkdir(parents=True, exist_ok=True)
    env: dict[str, Any] = {
        "protocol_version": "1.1.0",
        "task_id": task_id,
        "run_training": task == "training",
        "run_mining": task == "mining",
        "run_infer": task == "infer" or run_infer,
        "input": {
            "root_dir": str(din),
            "assets_dir": str(din / "assets"),
            "annotations_dir": str(din / "annotations"),
            "models_dir": str(din / "models"),
            "config_file": str(din / "config.yaml"),
            "training_index_file": "",
            "val_index_file": "",
            "candidate_index_file": "",
        },
        "output": {
            "root_dir": str(dout),
            "models_dir": str(dout / "models"),
            "tensorboard_dir": str(dout / "tensorboard"),
            "training_result_file": str(dout / "models" / "result.yaml"),
            "mining_result_file": str(dout / "result.tsv"),
            "infer_result_file": str(dout / "infer-result.json"),
            "monitor_file": str(dout / "monitor.txt"),
            "executor_log_file": str(dout / "ymir-executor-out.log"),
        },
        "manifest_file": "/img-man/manifest.yaml",
    }
    if train is not None:
        (din / "train-index.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in train))
        env["input"]["training_index_file"] = str(din / "train-index.tsv")
    if val is not None:
        (din / "val-index.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in val))
        env["input"]["val_index_file"] = str(din / "val-index.tsv")
    if candidates is not None:
        (din / "candidate-index.tsv").write_text("".join(f"{p}\n" for p in candidates))
        env["input"]["candidate_index_file"] = str(din / "candidate-index.tsv")
    (din / "env.yaml").write_text(yaml.safe_dump(env))
    (din / "config.yaml").write_text(yaml.safe_dump({"task_id": task_id, **config}))
    return din, dout
