"""What train, mining and infer share: the work directory, exports into ``in/``, the model stage,
the run itself, and turning ``infer-result.json`` into a predictions table.

Work directories are kept when a task fails (their path is in the error) and removed when it
succeeds; nothing is committed for a failed or cancelled task.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from mir import models
from mir.errors import CancelledError, InputFileError, InvalidArgsError, MirError
from mir.executors.contract import WorkDir, container_path, read_infer_result
from mir.executors.runtime import Runtime
from mir.labels import Labels
from mir.ops.common import annotations_table
from mir.ops.export import place_assets, write_annotations, write_lines
from mir.progress import ProgressFn


@dataclass
class TaskOptions:
    """How to run an executor task: where things are, which GPUs, how to report and cancel."""

    model_location: Path
    media_location: Path
    executor: str | None = None
    work_dir: Path | None = None
    gpu_ids: list[str] | None = None
    progress: ProgressFn | None = None
    should_cancel: Callable[[], bool] | None = None
    timeout: float | None = None
    docker_client: Any = None
    user: str = ""
    # the platform's configured local executors (name -> command): set, ``executor`` may only name
    # one of them or an image; unset (the CLI), ``local:<command>`` runs that command
    local_executors: Mapping[str, str] | None = None
    # CPU threads for each executor run without GPUs (OMP_NUM_THREADS): the platform's workers give each
    # of their concurrent tasks a share of the cores; None (the CLI, one task): every core
    cpu_threads: int | None = None


def load_task_config(path: Path | None, inline: dict[str, Any] | None = None) -> dict[str, Any]:
    """The user's template edits: a flat YAML mapping, or YMIR's ``{executor_config: {...}}``."""
    config: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError as e:
            raise InputFileError(
                path, "task config file does not exist", fix="check --task-config-file"
            ) from e
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise InputFileError(
                path,
                f"not valid YAML ({getattr(e, 'problem', e)})",
                line=mark.line + 1 if mark else None,
                fix="fix the YAML syntax",
            ) from e
        if not isinstance(data, dict):
            raise InputFileError(
                path,
                "expected a mapping of hyper-parameter names to values",
                fix="write 'name: value' lines (see the executor's template)",
            )
        config = (
            dict(data.get("executor_config", data)) if isinstance(data.get("executor_config"), dict) else data
        )
    config.update(inline or {})
    return config


@contextmanager
def work_directory(work_dir: Path | None, prefix: str) -> Iterator[WorkDir]:
    """A fresh work directory, removed on success and kept (for debugging) on failure."""
    if work_dir is not None:
        root = Path(work_dir).absolute()
        if root.exists() and any(root.iterdir()):
            raise InvalidArgsError(f"work directory {root} is not empty", fix="give a new or empty -w folder")
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix=f"mir-{prefix}-"))
    work = WorkDir(root).create()
    try:
        yield work
    except CancelledError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    except MirError as e:
        if not getattr(e, "work_dir", None):
            e.work_dir = root  # type: ignore[attr-defined]
            e.fix = (e.fix + "; " if e.fix else "") + f"the work directory is kept at {root}"
        raise
    shutil.rmtree(root, ignore_errors=True)


def export_format(config: dict[str, Any]) -> str:
    """The annotation format an executor asked for in ``export_format`` (``ark:raw``, ``det-voc``...)."""
    raw = str(config.get("export_format") or "ark:raw").split(":")[0].lower()
    raw = raw.removeprefix("det-").removeprefix("seg-")
    if raw not in ("ark", "voc", "coco"):
        raise InvalidArgsError(
            f"export_format {config.get('export_format')!r} is not supported",
            fix="use ark:raw, voc:raw or coco:raw",
        )
    return raw


def export_for_executor(
    work: WorkDir, assets: pa.Table, media_location: Path, *, container: bool
) -> pa.Table:
    """Hard-link (or copy) the images into ``in/assets``; ``image_path`` is as the executor sees it."""
    placed = place_assets(assets, work.input / "assets", media_location, link=True)
    seen = [container_path(work, Path(p), container=container) for p in placed["image_path"].to_pylist()]
    return placed.set_column(
        placed.schema.get_field_index("image_path"), "image_path", pa.array(seen, pa.string())
    )


def write_training_indexes(
    work: WorkDir, assets: pa.Table, gt: pa.Table, names: list[str], fmt: str, *, container: bool
) -> dict[str, int]:
    """Annotations in ``fmt`` under ``in/annotations`` and ``train-index.tsv`` / ``val-index.tsv``."""
    anno_dir = work.input / "annotations"
    host_assets = assets
    write_annotations(host_assets, gt, names, fmt, anno_dir, "gt")
    lines = (anno_dir / "index.tsv").read_text().splitlines()
    by_image = {}
    for line in lines:
        image, anno = line.split("\t")
        by_image[image] = container_path(work, Path(anno), container=container)
    counts = {}
    for tvt, name in ((1, "train-index.tsv"), (2, "val-index.tsv")):
        rows = assets.filter(pc.equal(assets["tvt"], pa.scalar(tvt, pa.int8())))
        images = rows["image_path"].to_pylist()
        write_lines(work.input / name, [f"{img}\t{by_image[img]}" for img in images])
        counts[name] = len(images)
    return counts


def write_candidates(work: WorkDir, assets: pa.Table) -> dict[str, str]:
    """``candidate-index.tsv``; returns the map from what the executor sees (path and name) to asset id."""
    images = assets["image_path"].to_pylist()
    write_lines(work.input / "candidate-index.tsv", images)
    ids = assets["asset_id"].to_pylist()
    lookup = dict(zip(images, ids, strict=True))
    lookup.update({Path(p).name: a for p, a in zip(images, ids, strict=True)})
    return lookup


def stage_files(
    work: WorkDir, model: models.ModelRef, model_location: Path, *, container: bool
) -> tuple[str, list[str], dict[str, Any]]:
    """Unpack a model stage into ``in/models/<stage>``; returns (stage, paths as seen, package info)."""
    package = models.package_path(model_location, model.hash)
    info = models.read_info(package)
    stage = models.resolve_stage(info, model.stage)
    files = models.extract_stage(package, stage, work.input / "models")
    return stage, [container_path(work, f, container=container) for f in files], info


def model_class_names(info: dict[str, Any]) -> list[str]:
    """The classes a model predicts, from its package."""
    names = (info.get("executor_config") or {}).get("class_names") or info.get("class_names") or []
    if not names:
        raise InvalidArgsError(
            "the model package does not say which classes it predicts",
            fix="its ymir-info.yaml needs executor_config.class_names",
        )
    return [str(n) for n in names]


def template_for(runtime: Runtime, kinds: list[str]) -> dict[str, Any]:
    """The executor's defaults for this task (mining + infer merge both templates)."""
    templates = runtime.templates()
    merged: dict[str, Any] = {}
    for kind in kinds:
        if templates and kind not in templates:
            raise InvalidArgsError(
                f"the executor {runtime.name} cannot do {kind} (it ships no {kind}-template.yaml)",
                fix="choose an executor with that capability",
            )
        merged.update(templates.get(kind, {}))
    return merged


def predictions_table(
    result_path: Path, lookup: dict[str, str], assets: pa.Table, labels: Labels
) -> pa.Table:
    """infer-result.json as an ANNOTATIONS table: names to asset ids, classes to ids (new ones are
    added to ``labels``), boxes clipped to their image."""
    result = read_infer_result(result_path)
    sizes = dict(
        zip(
            assets["asset_id"].to_pylist(),
            zip(assets["width"].to_pylist(), assets["height"].to_pylist(), strict=True),
            strict=True,
        )
    )
    cols: dict[str, list[Any]] = {k: [] for k in ("asset_id", "class_id", "x", "y", "w", "h", "score")}
    for name, boxes in result.items():
        asset = lookup.get(name) or lookup.get(Path(name).name)
        if asset is None or asset not in sizes:
            continue
        width, height = sizes[asset]
        for b in boxes:
            cid = labels.id_of(b.class_name)
            if cid is None:
                cid = labels.add(b.class_name)
            x0, y0 = max(b.x, 0.0), max(b.y, 0.0)
            x1, y1 = min(b.x + b.w, float(width)), min(b.y + b.h, float(height))
            if x1 - x0 <= 0 or y1 - y0 <= 0:
                continue
            for key, value in (
                ("asset_id", asset),
                ("class_id", cid),
                ("x", x0),
                ("y", y0),
                ("w", x1 - x0),
                ("h", y1 - y0),
                ("score", b.score),
            ):
                cols[key].append(value)
    return annotations_table(
        {
            k: (
                pa.array(v, pa.string())
                if k == "asset_id"
                else pa.array(np.asarray(v, np.int32 if k == "class_id" else np.float32))
            )
            for k, v in cols.items()
        }
    )
