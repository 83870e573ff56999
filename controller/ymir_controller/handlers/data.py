"""Dataset handlers: import, copy, merge, filter, sampling, fuse, export, evaluate."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from mir.errors import InputFileError, InvalidArgsError
from mir.ops import copying, evaluate, export, filtering, importing, merge
from mir.store.repo import Commit
from ymir_controller import archives, fetch, room
from ymir_controller.handlers.context import Context, version_info
from ymir_controller.protocol import (
    CopyRequest,
    EvaluateRequest,
    ExportRequest,
    FilterRequest,
    FuseRequest,
    ImportRequest,
    Kind,
    MergeRequest,
    SamplingRequest,
    TaskResult,
)


def _done(
    ctx: Context, kind: Kind, repo: Path, commit: Commit, evaluation: dict[str, Any] | None = None
) -> TaskResult:
    return TaskResult(
        task_id=ctx.task_id,
        kind=kind,
        state="done",
        version=version_info(repo, commit),
        evaluation=evaluation,
    )


def _refuse_links_out(folder: Path, sharing: Path, label: str) -> None:
    """Refuse a dataset folder holding a symbolic link (to a file or a folder) that leads out of the
    sharing folder: an import reads only what was put there."""
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(parent) / name
            if path.is_symlink() and not archives.inside(sharing, path):
                raise InputFileError(
                    f"{label}/{path.relative_to(folder)}",
                    f"is a symbolic link out of the sharing folder {sharing}",
                    fix="copy the file or folder into the sharing folder instead of linking to it",
                )


def _dataset_folder(req: ImportRequest, ctx: Context) -> tuple[Path, str, Path | None]:
    """The dataset folder for any import source, how to name it in errors, and the zip archive its
    images stay in (an upload or a download: only the annotations are unpacked)."""
    s = ctx.settings
    src = req.source
    if src.kind == "path":
        sharing = s.root / s.sharing_dir
        folder = sharing / src.path
        if not archives.inside(sharing, folder):
            raise InputFileError(
                src.path, "is outside the sharing folder", fix=f"put the dataset under {sharing}"
            )
        if not folder.is_dir():
            raise InputFileError(
                src.path,
                f"is not a folder under the sharing folder {sharing}",
                fix="copy the dataset there first",
            )
        _refuse_links_out(folder, sharing, src.path)
        return folder, src.path, None
    work = ctx.fresh_work_dir()
    if src.kind == "zip":
        archive = s.path(src.path)
        if not archive.is_file():
            raise InputFileError(src.path, "the uploaded file does not exist", fix="upload it again")
        label = src.path
    else:
        if not src.url:
            raise InvalidArgsError("a URL import needs a url", fix="give the address of a .zip")
        ctx.report(0.0, "downloading", src.url)

        def room_for_download(declared: int) -> None:  # the zip, then its images stored once more
            room.check(s.root, 2 * declared, what="downloading and importing the zip", label="the workplace")

        archive = fetch.download(
            src.url,
            work / "download.zip",
            max_bytes=s.max_download_bytes,
            idle_timeout=s.download_timeout,
            total_timeout=s.download_max_seconds,
            allow=fetch.FetchAllow.parse(s.fetch_allow),
            should_cancel=ctx.should_cancel,
            check_room=room_for_download,
        )
        label = src.url
    ctx.report(0.05, "unpacking", label)
    archives.safe_extract(
        archive,
        work / "unpacked",
        max_total=s.max_unzipped_bytes,
        max_ratio=s.max_zip_ratio,
        max_entries=s.max_zip_entries,
        label=label,
        should_cancel=ctx.should_cancel,
        images_in_place=True,
        on_plan=lambda written, in_place: room.check(
            s.root,
            room.stored(written) + room.stored(in_place),
            what=f"unpacking the annotations and storing {len(in_place)} images",
            label="the workplace",
        ),
    )
    return work / "unpacked", label, archive


def handle_import(req: ImportRequest, ctx: Context) -> TaskResult:
    """Import from the sharing folder, an uploaded zip or a URL (``images/`` + ``annotations/``)."""
    folder, label, archive = _dataset_folder(req, ctx)
    images, gt, pred = archives.locate_dataset(folder, label)
    if req.anno_format == "none":  # the user chose to import the images without their annotations
        gt = pred = None
    index = ctx.work_dir / "index.txt" if ctx.work_dir.exists() else ctx.fresh_work_dir() / "index.txt"
    if archive is not None:
        inside_zip = PurePosixPath(images.relative_to(folder).as_posix())
        found, _ = archives.image_entries(archive, inside_zip, index)
    else:
        found, sizes = archives.write_index(images, index)
        room.check(
            ctx.settings.media,
            room.stored(sizes),
            what=f"storing {found} images",
            label="media/ of the workplace",
        )
    if found == 0:
        raise InputFileError(
            label, f"{images.name}/ holds no JPEG, PNG, BMP or WebP images", fix="put the images in images/"
        )
    repo = ctx.settings.path(req.repo)
    report = importing.import_dataset(
        root=repo,
        index_file=index,
        dst=req.dst_rev,
        media_location=ctx.settings.media,
        gt_dir=gt,
        pred_dir=pred if req.with_predictions else None,
        anno_format="auto" if req.anno_format == "none" else req.anno_format,
        unknown_types_strategy=req.unknown_types_strategy,
        invalid_box_strategy=req.invalid_boxes,
        user=req.user,
        progress=ctx.progress("importing", stop_on_cancel=True),
        bar=False,
        archive=archive,
    )
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    return _done(ctx, Kind.IMPORT, repo, report.commit)


def handle_copy(req: CopyRequest, ctx: Context) -> TaskResult:
    """Copy a version of another repository (class names remapped)."""
    repo = ctx.settings.path(req.repo)
    commit = copying.copy_dataset(
        root=repo,
        src_root=ctx.settings.path(req.src_repo),
        src_revs=req.src_revs,
        dst=req.dst_rev,
        unknown_types_strategy=req.unknown_types_strategy,
        drop_annotations=req.drop_annotations,
        user=req.user,
    )
    return _done(ctx, Kind.COPY, repo, commit)


def handle_merge(req: MergeRequest, ctx: Context) -> TaskResult:
    """Merge versions."""
    repo = ctx.settings.path(req.repo)
    commit = merge.merge(
        root=repo,
        src_revs=req.src_revs,
        dst=req.dst_rev,
        ex_src_revs=req.ex_src_revs,
        strategy=req.strategy,
        user=req.user,
        progress=ctx.progress("merging"),
    )
    return _done(ctx, Kind.MERGE, repo, commit)


def handle_filter(req: FilterRequest, ctx: Context) -> TaskResult:
    """Filter a version by class, type and tag."""
    repo = ctx.settings.path(req.repo)
    commit = filtering.filter_dataset(
        root=repo,
        src_revs=req.src_revs,
        dst=req.dst_rev,
        include=req.include,
        exclude=req.exclude,
        anno_src=req.anno_src,
        tvt=req.tvt,
        tags=req.tags,
        ex_tags=req.ex_tags,
        user=req.user,
    )
    return _done(ctx, Kind.FILTER, repo, commit)


def handle_sampling(req: SamplingRequest, ctx: Context) -> TaskResult:
    """Sample a version."""
    repo = ctx.settings.path(req.repo)
    commit = filtering.sampling(
        root=repo,
        src_revs=req.src_revs,
        dst=req.dst_rev,
        count=req.count,
        rate=req.rate,
        seed=req.seed,
        user=req.user,
    )
    return _done(ctx, Kind.SAMPLING, repo, commit)


def handle_fuse(req: FuseRequest, ctx: Context) -> TaskResult:
    """Merge, filter and sample in one commit."""
    repo = ctx.settings.path(req.repo)
    commit = filtering.fuse(
        root=repo,
        src_revs=req.src_revs,
        dst=req.dst_rev,
        ex_src_revs=req.ex_src_revs,
        strategy=req.strategy,
        include=req.include,
        exclude=req.exclude,
        anno_src=req.anno_src,
        count=req.count,
        rate=req.rate,
        seed=req.seed,
        user=req.user,
    )
    return _done(ctx, Kind.FUSE, repo, commit)


def handle_export(req: ExportRequest, ctx: Context) -> TaskResult:
    """Export a version under the workplace, zipped by default (for download): ``images/`` with the
    original file names, ``annotations/`` (and ``predictions/``) with index files relative to the export."""
    repo = ctx.settings.path(req.repo)
    out = ctx.settings.path(req.dst_dir)
    staging = ctx.fresh_work_dir() / "export"
    fmt = req.anno_format if (req.gt or req.pred) else "none"
    export.export_dataset(
        root=repo,
        src_rev=req.src_rev,
        asset_dir=staging / "images",
        media_location=ctx.settings.media,
        gt_dir=staging / "annotations" if req.gt else None,
        pred_dir=staging / "predictions" if req.pred else None,
        anno_format=fmt,
        class_names=req.class_names,
        progress=ctx.progress("exporting", stop_on_cancel=True),
        bar=False,
        original_names=True,  # images/<the name they were imported with>, annotations named alike
        relative_to=staging,  # index files and Label Studio JSON work wherever the export is unpacked
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if req.zip:
        archive = shutil.make_archive(str(ctx.work_dir / "export"), "zip", root_dir=staging)
        target = out.with_suffix(".zip")
        shutil.move(archive, target)
    else:
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(staging), out)
        target = out
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    return TaskResult(
        task_id=ctx.task_id, kind=Kind.EXPORT, state="done", output=str(target.relative_to(ctx.settings.root))
    )


def handle_evaluate(req: EvaluateRequest, ctx: Context) -> TaskResult:
    """Evaluate predictions against ground truth."""
    repo = ctx.settings.path(req.repo)
    commit, result = evaluate.evaluate_dataset(
        root=repo,
        src_revs=req.src_revs,
        dst=req.dst_rev,
        class_names=req.class_names,
        conf_thr=req.conf_thr,
        iou_thr=req.iou_thr,
        user=req.user,
    )
    return _done(ctx, Kind.EVALUATE, repo, commit, evaluation=result)
