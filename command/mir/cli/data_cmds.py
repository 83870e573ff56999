"""Dataset commands: import, merge, filter, sampling, fuse, copy, export, evaluate.

Operation modules are imported inside each command so ``mir --help`` and light commands start fast.

Flags follow YMIR 2.3 (``--index-file --gt-dir --pred-dir --gen-dir --src-revs --dst-rev -w``...)
and keep the older spellings of YMIR's README (``--annotation-dir``, ``--dataset-name``,
``--format``), so documented workflows run unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mir.cli.repo_cmds import Sub, _add, _root
from mir.errors import InvalidArgsError

# YMIR's --anno-type(-fmt) values -> our format names ("none" = no annotations)
_ANNO_TYPES = {
    "det:voc": "voc",
    "det-voc": "voc",
    "det-box": "auto",
    "det:coco": "coco",
    "det-coco": "coco",
    "no-annos": "none",
    "no-annos:none": "none",
    "none": "none",
}


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _common_write(p: argparse.ArgumentParser, *, src: bool = True) -> None:
    if src:
        p.add_argument("--src-revs", required=True, help="source revision(s), e.g. 'tr:a@t1;va:b'")
    p.add_argument("--dst-rev", required=True, help="new version, written branch@task_id")
    p.add_argument("-w", "--work-dir", help="work directory (accepted for YMIR compatibility)")
    p.add_argument("--user", default="", help="who runs the task (recorded in the commit)")


def _write_args(args: argparse.Namespace) -> dict[str, Any]:
    """What ``_common_write`` (with ``--src-revs``) declared, as an op's keywords."""
    return {"root": _root(args), "src_revs": args.src_revs, "dst": args.dst_rev, "user": args.user}


# -- import -------------------------------------------------------------------------------------
def _import(args: argparse.Namespace) -> int:
    from mir.ops import importing

    index = args.index_file or args.asset_path
    if not index:
        raise InvalidArgsError("no images given", fix="pass --index-file FILE (one image path per line)")
    media = args.gen_dir or args.media_location
    if not media:
        raise InvalidArgsError(
            "no media location given", fix="pass --gen-dir DIR (where image bytes are stored)"
        )
    fmt = args.anno_format
    if args.anno_type:
        fmt = _ANNO_TYPES.get(args.anno_type, args.anno_type)
    gt_dir = args.gt_dir or args.annotation_dir
    if fmt == "none":
        gt_dir = None
        fmt = "auto"
    report = importing.import_dataset(
        root=_root(args),
        index_file=Path(index).expanduser(),
        dst=args.dst_rev,
        media_location=Path(media).expanduser(),
        gt_dir=_path(gt_dir),
        pred_dir=_path(args.pred_dir),
        anno_format=fmt,
        src_rev=args.src_revs,
        unknown_types_strategy=args.unknown_types_strategy,
        invalid_box_strategy=args.invalid_boxes,
        user=args.user,
        bar=None if not args.quiet else False,
    )
    extra = f", {report.duplicates} duplicate image(s) stored once" if report.duplicates else ""
    print(
        f"imported {report.assets} assets ({report.new_media} new in the media location{extra}), "
        f"{report.gt_boxes} gt boxes, {report.pred_boxes} pred boxes as {report.commit.tag}"
    )
    for name, n in report.ignored_boxes.items():
        print(f"  ignored {n} box(es) of unknown class {name!r}")
    if report.added_classes:
        print(f"  added classes: {', '.join(report.added_classes)}")
    return 0


def add_import(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "import",
        "import images and their annotations as a new version",
        "mir import --index-file train.txt --gt-dir voc/ --gen-dir ~/ymir-assets --dst-rev train@import",
    )
    p.add_argument("--index-file", help="text file, one image path per line (relative to the file)")
    p.add_argument("--asset-path", help="same as --index-file (YMIR 2.5's spelling)")
    p.add_argument("--gt-dir", help="ground truth: VOC folder, COCO json, YOLO folder or Label Studio JSON")
    p.add_argument("--annotation-dir", help="same as --gt-dir (YMIR README's spelling)")
    p.add_argument("--pred-dir", help="predictions, in the same formats")
    p.add_argument("--gen-dir", help="media location: where image bytes are stored by content hash")
    p.add_argument("--media-location", help="same as --gen-dir")
    p.add_argument(
        "--anno-format",
        default="auto",
        help="voc, coco, yolo, ark, labelstudio, or auto (default: detect from the files)",
    )
    p.add_argument(
        "--anno-type",
        "--anno-type-fmt",
        dest="anno_type",
        help="YMIR's annotation type, e.g. det:voc, det:coco, no-annos",
    )
    p.add_argument(
        "--unknown-types-strategy",
        choices=["stop", "ignore", "add"],
        default="stop",
        help="class names not in the label file: stop (error), ignore (drop boxes), add (new classes)",
    )
    p.add_argument(
        "--invalid-boxes",
        choices=["stop", "clip", "drop"],
        default="stop",
        help="boxes outside the image or of zero size: stop (error), clip to the image, or drop",
    )
    p.add_argument("--dataset-name", help="accepted for YMIR compatibility; recorded nowhere")
    p.add_argument("--src-revs", help="branch the new branch starts from (default: the checked-out branch)")
    _common_write(p, src=False)
    p.set_defaults(func=_import)


# -- merge / filter / sampling / fuse -----------------------------------------------------------
def _merge(args: argparse.Namespace) -> int:
    from mir.ops import merge

    c = merge.merge(**_write_args(args), **_merge_args(args))
    print(
        f"merged into {c.tag}: {c.stats['assets']} assets, {c.stats['gt']['boxes']} gt boxes, "
        f"{c.stats['pred']['boxes']} pred boxes"
    )
    return 0


def _merge_args(args: argparse.Namespace) -> dict[str, Any]:
    """What ``_merge_flags`` declared, as an op's keywords."""
    return {"ex_src_revs": args.ex_src_revs or "", "strategy": args.strategy}


def _merge_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ex-src-revs", help="revisions whose assets are removed from the result")
    p.add_argument(
        "-s",
        "--strategy",
        choices=["stop", "host", "guest"],
        default="stop",
        help="shared assets: stop (error), host (first source wins), guest (later source wins)",
    )


def add_merge(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "merge",
        "merge versions (first = host); tr:/va:/te: set asset types",
        "mir merge --src-revs 'tr:train@import;va:val@import' -s host --dst-rev tr-va@merged",
    )
    _merge_flags(p)
    _common_write(p)
    p.set_defaults(func=_merge)


def _filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p", "--cis", default="", help="keep assets having any of these classes, e.g. 'person;cat'"
    )
    p.add_argument("-P", "--ex-cis", default="", help="drop assets having any of these classes")
    p.add_argument(
        "--filter-anno-src",
        choices=["gt", "pred", "any"],
        default="any",
        help="which boxes the class lists look at (any = gt and pred)",
    )
    p.add_argument("--tvt", default="", help="keep assets of these types: train;val;test;unknown")
    p.add_argument(
        "--tags", default="", help="keep assets with any of these image tags: 'key' or 'key=value;...'"
    )
    p.add_argument("--ex-tags", default="", help="drop assets with any of these image tags")


def _filter_args(args: argparse.Namespace) -> dict[str, Any]:
    """What ``_filter_flags`` declared, as an op's keywords."""
    return {
        "include": args.cis,
        "exclude": args.ex_cis,
        "anno_src": args.filter_anno_src,
        "tvt": args.tvt,
        "tags": args.tags,
        "ex_tags": args.ex_tags,
    }


def _filter(args: argparse.Namespace) -> int:
    from mir.ops import filtering

    c = filtering.filter_dataset(**_write_args(args), **_filter_args(args))
    print(f"filtered into {c.tag}: {c.stats['assets']} assets kept")
    return 0


def add_filter(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "filter",
        "keep assets by class, type or image tag",
        "mir filter --src-revs tr-va@merged -p 'person;cat' --dst-rev tr-va@filtered",
    )
    _filter_flags(p)
    _common_write(p)
    p.set_defaults(func=_filter)


def _sample_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--count", type=int, help="keep this many assets")
    g.add_argument("--rate", type=float, help="keep this share of assets (0..1]")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same sample)")


def _sample_args(args: argparse.Namespace) -> dict[str, Any]:
    """What ``_sample_flags`` declared, as an op's keywords."""
    return {"count": args.count, "rate": args.rate, "seed": args.seed}


def _sampling(args: argparse.Namespace) -> int:
    from mir.ops import filtering

    c = filtering.sampling(**_write_args(args), **_sample_args(args))
    print(f"sampled into {c.tag}: {c.stats['assets']} assets")
    return 0


def add_sampling(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "sampling",
        "a random subset, by count or rate, reproducible with --seed",
        "mir sampling --src-revs pool@import --count 1000 --seed 7 --dst-rev pool@sample",
    )
    _sample_flags(p)
    _common_write(p)
    p.set_defaults(func=_sampling)


def _fuse(args: argparse.Namespace) -> int:
    from mir.ops import filtering

    c = filtering.fuse(**_write_args(args), **_merge_args(args), **_filter_args(args), **_sample_args(args))
    print(f"fused into {c.tag}: {c.stats['assets']} assets")
    return 0


def add_fuse(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "fuse",
        "merge, filter and sample in one commit",
        "mir fuse --src-revs 'a@t1;b@t2' -s host -p person --rate 0.5 --dst-rev fused@t3",
    )
    _merge_flags(p)
    _filter_flags(p)
    _sample_flags(p)
    _common_write(p)
    p.set_defaults(func=_fuse)


# -- copy / export ------------------------------------------------------------------------------
def _copy(args: argparse.Namespace) -> int:
    from mir.ops import copying

    strategy: copying.CopyStrategy = "ignore" if args.ignore_unknown_types else args.unknown_types_strategy
    c = copying.copy_dataset(
        **_write_args(args),
        src_root=Path(args.src_root).expanduser().absolute(),
        src_label_file=_path(args.src_user_label_file),
        unknown_types_strategy=strategy,
        drop_annotations=args.drop_annotations,
    )
    print(f"copied into {c.tag}: {c.stats['assets']} assets")
    return 0


def add_copy(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "copy",
        "copy a version from another mir repository, remapping class names",
        "mir copy --src-root ~/other-repo --src-revs a@t1 --dst-rev a@copied",
    )
    p.add_argument("--src-root", required=True, help="the other repository")
    p.add_argument("--src-user-label-file", help="label file of the source (default: its own)")
    p.add_argument("--unknown-types-strategy", choices=["stop", "ignore", "add"], default="stop")
    p.add_argument(
        "--ignore-unknown-types", action="store_true", help="YMIR's flag: same as the ignore strategy"
    )
    p.add_argument("--drop-annotations", action="store_true", help="copy the images only")
    _common_write(p)
    p.set_defaults(func=_copy)


def _export(args: argparse.Namespace) -> int:
    from mir.ops import export

    fmt = args.anno_format or args.format or "voc"
    gt_dir = args.gt_dir or args.annotation_dir
    report = export.export_dataset(
        root=_root(args),
        src_rev=args.src_revs,
        asset_dir=Path(args.asset_dir).expanduser(),
        media_location=Path(args.media_location).expanduser(),
        gt_dir=_path(gt_dir),
        pred_dir=_path(args.pred_dir),
        anno_format=fmt,
        class_names=args.class_names or "",
        link=args.link,
        tvt=args.tvt,
        bar=None if not args.quiet else False,
    )
    print(
        f"exported {report.assets} assets to {report.asset_index.parent}"
        + (f", {report.gt_boxes} gt boxes" if report.gt_index else "")
        + (f", {report.pred_boxes} pred boxes" if report.pred_index else "")
    )
    return 0


def add_export(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "export",
        "write a version's images and annotations (VOC, COCO, YOLO, ark, Label Studio)",
        "mir export --src-revs mined@t6 --asset-dir out/img --gt-dir out/voc --anno-format voc "
        "--media-location ~/ymir-assets",
    )
    p.add_argument("--src-revs", required=True, help="the version to export")
    p.add_argument(
        "--asset-dir", required=True, help="images go to ASSET_DIR/<hh>/<sha1>.<ext>, index in index.tsv"
    )
    p.add_argument("--media-location", required=True, help="where the images are stored (import's --gen-dir)")
    p.add_argument("--gt-dir", help="write ground truth here")
    p.add_argument("--annotation-dir", help="same as --gt-dir (YMIR README's spelling)")
    p.add_argument("--pred-dir", help="write predictions here")
    p.add_argument("--anno-format", help="voc (default), coco, yolo, ark, labelstudio or none")
    p.add_argument("--format", help="same as --anno-format (YMIR README's spelling)")
    p.add_argument(
        "--class-names",
        "--class_names",
        dest="class_names",
        help="export only these classes, e.g. 'person;cat' (ids follow this order)",
    )
    p.add_argument("--tvt", default="", help="export only assets of these types, e.g. 'train;val'")
    p.add_argument(
        "--link", action="store_true", help="hard-link images instead of copying (same file system)"
    )
    p.add_argument("--asset-format", choices=["raw"], default="raw", help="only raw files are supported")
    p.add_argument("-w", "--work-dir", help="accepted for YMIR compatibility")
    p.set_defaults(func=_export)


def _evaluate(args: argparse.Namespace) -> int:
    from mir.ops import evaluate

    commit, result = evaluate.evaluate_dataset(
        **_write_args(args), class_names=args.class_names or "", conf_thr=args.conf_thr, iou_thr=args.iou_thr
    )
    print(f"evaluated into {commit.tag}: map50_95 {result['map50_95']:.4f}  map50 {result['map50']:.4f}")
    for cid, c in result["per_class"].items():
        name = result["class_names"][cid]
        print(
            f"  {name:<20} AP {c['ap']:.4f}  AP50 {c['ap50']:.4f}  TP {c['tp']}  FP {c['fp']}  FN {c['fn']}"
        )
    return 0


def add_evaluate(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "evaluate",
        "score predictions against ground truth; mark every box TP/FP/FN",
        "mir evaluate --src-revs val@infer --dst-rev val@eval --conf-thr 0.05",
    )
    p.add_argument(
        "--class-names", help="evaluate only these classes, e.g. 'person;cat' (default: all present)"
    )
    p.add_argument("--conf-thr", type=float, default=0.0, help="ignore predictions scoring below this")
    p.add_argument(
        "--iou-thr", type=float, default=0.5, help="IoU at which boxes are marked TP (mAP uses .5:.95)"
    )
    _common_write(p)
    p.set_defaults(func=_evaluate)


COMMANDS = [add_import, add_merge, add_filter, add_sampling, add_fuse, add_copy, add_export, add_evaluate]
