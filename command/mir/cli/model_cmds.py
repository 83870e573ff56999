"""Model commands: train, mining, infer, models (import, list, show, export, verify)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mir.cli.repo_cmds import Sub, _add, _root
from mir.errors import InvalidArgsError

if TYPE_CHECKING:
    from mir.ops.executing import TaskOptions


def _options(args: argparse.Namespace) -> TaskOptions:
    from mir.ops.executing import TaskOptions

    media = args.media_location or getattr(args, "gen_dir", None)
    if not media:
        raise InvalidArgsError("no media location given", fix="pass --media-location (import's --gen-dir)")
    gpus = [g.strip() for g in (args.gpu_ids or "").split(",") if g.strip()]
    return TaskOptions(
        model_location=Path(args.model_location).expanduser(),
        media_location=Path(media).expanduser(),
        executor=args.executor,
        work_dir=Path(args.work_dir) if args.work_dir else None,
        gpu_ids=gpus,
        timeout=args.timeout,
        user=args.user,
    )


def _task_flags(p: argparse.ArgumentParser, *, model: bool) -> None:
    p.add_argument("--src-revs", required=True, help="source revision(s); tr:/va: set types as in merge")
    p.add_argument("--dst-rev", required=True, help="new version, written branch@task_id")
    p.add_argument(
        "--executor",
        default="",
        help="an image name (Docker), 'local:<command>', or empty for our own executor as a local process",
    )
    p.add_argument(
        "--task-config-file",
        help="YAML of the template values you changed (flat, or YMIR's {executor_config: ...})",
    )
    p.add_argument("--model-location", required=True, help="where model packages are stored")
    p.add_argument("--media-location", help="where images are stored (import's --gen-dir)")
    p.add_argument(
        "-w", "--work-dir", help="work directory (default: a temporary one); kept when the task fails"
    )
    p.add_argument("--gpu-ids", default="", help="GPUs to use, e.g. '0,1' (default: none, the CPU)")
    p.add_argument("--timeout", type=float, help="stop the executor after this many seconds")
    p.add_argument(
        "-s",
        "--strategy",
        choices=["stop", "host", "guest"],
        default="stop",
        help="how sources sharing assets merge",
    )
    p.add_argument("--user", default="", help="who runs the task (recorded in the commit)")
    if model:
        p.add_argument(
            "--model-hash", required=True, help="model to use: <hash>@<stage> (stage: default best)"
        )


def _task_args(args: argparse.Namespace) -> dict[str, Any]:
    """What ``_task_flags`` declared (less ``--model-hash``), as an op's keywords."""
    return {
        "root": _root(args),
        "src_revs": args.src_revs,
        "dst": args.dst_rev,
        "options": _options(args),
        "task_config_file": Path(args.task_config_file) if args.task_config_file else None,
        "strategy": args.strategy,
    }


def _train(args: argparse.Namespace) -> int:
    from mir.ops import training

    report = training.train(
        **_task_args(args),
        pretrained=args.model_hash,
        class_names=args.class_names or "",
        unlabeled_revs=args.unlabeled_revs or "",
    )
    m = report.metrics
    print(
        f"trained model {report.model_hash} (best stage {report.best_stage}) into {report.commit.tag}: "
        f"map50_95 {m['map50_95']:.4f}  map50 {m['map50']:.4f} (measured by mir on the validation assets)"
    )
    print(f"trained classes: {', '.join(report.class_names)} (from {report.class_names_source})")
    return 0


def add_train(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "train",
        "train a model with an executor; mir evaluates its best stage",
        "mir train --src-revs 'tr:train@import;va:val@import' --dst-rev model-0@trained "
        "--model-location ~/ymir-models --media-location ~/ymir-assets --task-config-file train.yaml",
    )
    _task_flags(p, model=False)
    p.add_argument(
        "--model-hash", help="pretrained model <hash>@<stage> to start from (the previous round's)"
    )
    p.add_argument(
        "--class-names", help="classes to train, e.g. 'person;cat' (default: the config's, or all)"
    )
    p.add_argument(
        "--unlabeled-revs",
        help="version(s) of unlabelled images to train on with pseudo-labels, e.g. the mining pool "
        "(sets the config's pseudo_labels: true unless it says otherwise)",
    )
    p.set_defaults(func=_train)


def _mining(args: argparse.Namespace) -> int:
    from mir.ops import mining

    report = mining.mine(
        **_task_args(args),
        model=args.model_hash,
        topk=args.topk,
        add_prediction=args.add_prediction,
        algorithm=args.mining_algorithm,
    )
    print(
        f"mined {report.selected} of {report.candidates} assets into {report.commit.tag}"
        + (f" with {report.predictions} predicted boxes" if args.add_prediction else "")
    )
    return 0


def add_mining(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "mining",
        "keep the top-k most useful assets for labeling, scored by a model",
        "mir mining --src-revs pool@import --dst-rev mined@t1 --topk 200 --model-hash <hash>@best "
        "--model-location ~/ymir-models --media-location ~/ymir-assets",
    )
    _task_flags(p, model=True)
    p.add_argument("--topk", type=int, required=True, help="how many assets to keep")
    p.add_argument("--add-prediction", action="store_true", help="also store the model's boxes on them")
    p.add_argument(
        "--mining-algorithm", help="overrides the template: balanced, entropy, aldd, cald, kcenter, random"
    )
    p.add_argument("--cache", help="accepted for YMIR compatibility (assets are hard-linked)")
    p.set_defaults(func=_mining)


def _infer(args: argparse.Namespace) -> int:
    from mir.ops import mining

    report = mining.infer(**_task_args(args), model=args.model_hash)
    print(f"predicted {report.predictions} boxes on {report.selected} assets into {report.commit.tag}")
    return 0


def add_infer(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "infer",
        "store a model's predictions on every asset of a version",
        "mir infer --src-revs val@import --dst-rev val@infer --model-hash <hash>@best "
        "--model-location ~/ymir-models --media-location ~/ymir-assets",
    )
    _task_flags(p, model=True)
    p.set_defaults(func=_infer)


def _models(args: argparse.Namespace) -> int:
    from mir import models

    location = Path(args.model_location).expanduser().absolute()
    if args.action == "import":
        if not args.package:
            raise InvalidArgsError(
                "`mir models import` needs a package file", fix="mir models import model.tar.gz"
            )
        digest, info = models.import_package(Path(args.package).expanduser(), location)
        print(
            f"imported model {digest} (stages: {', '.join(info['stages'])}; best {info['best_stage_name']})"
        )
    elif args.action == "list":
        print("map50 / map50_95: COCO AP at IoU .5 / over IoU .5:.95, measured by mir on the validation")
        print("assets (- for an imported model); executor_map50: the executor's claim for its best stage")
        for digest, info in models.list_models(location).items():
            best = info["best_stage_name"]
            measured = models.read_metrics(location, digest) or {}
            claim = models.stage_metrics(info["stages"][best]).get("executor_map50")
            print(
                f"{digest}  best {best:<12} map50 {_num(measured.get('map50'))}  "
                f"map50_95 {_num(measured.get('map50_95'))}  executor_map50 {_num(claim)}  "
                f"stages {', '.join(info['stages'])}"
            )
    elif args.action == "verify":
        return _verify(args, location)
    elif args.action == "show":
        if not args.package:
            raise InvalidArgsError("`mir models show` needs a model hash", fix="see `mir models list`")
        info = models.read_info(models.package_path(location, models.parse_model_ref(args.package).hash))
        print(json.dumps(info, indent=1, default=str))
    else:
        if not args.package or not args.output:
            raise InvalidArgsError(
                "`mir models export` needs a model hash and -o FILE",
                fix="mir models export <hash> -o model.tar.gz",
            )
        src = models.package_path(location, models.parse_model_ref(args.package).hash)
        shutil.copyfile(src, Path(args.output).expanduser())
        print(f"exported {src.name} to {args.output}")
    return 0


def _default_cache_dir() -> Path:
    """Where ``models verify`` extracts ONNX files: the user's cache folder, not the model location."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mir" / "verification"


def _verify(args: argparse.Namespace, location: Path) -> int:
    from mir import verification
    from mir.errors import InputFileError

    if not args.package or not args.image:
        raise InvalidArgsError(
            "`mir models verify` needs a model and --image",
            fix="mir models verify <hash>@best --image photo.jpg --model-location ~/ymir-models",
        )
    image = Path(args.image).expanduser()
    try:
        data = image.read_bytes()
    except OSError as e:
        raise InputFileError(image, f"cannot be read ({e.strerror})", fix="give the path of an image") from e
    result = verification.verify(
        model_location=location,
        model=args.package,
        image=data,
        image_name=str(image),
        cache_dir=Path(args.cache_dir).expanduser() if args.cache_dir else _default_cache_dir(),
        conf_threshold=args.conf_thr,
        max_boxes=args.max_boxes,
        iou_threshold=args.iou_thr,
    )
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=1))
        return 0
    print(
        f"model {result.model_hash[:12]}@{result.stage} on {image} ({result.width}x{result.height}): "
        f"{len(result.boxes)} box(es) scoring >= {args.conf_thr} in {result.elapsed_ms:.0f} ms"
    )
    for b in result.boxes:
        print(f"  {b.class_name:<16} {b.score:.3f}  x {b.x:.1f}  y {b.y:.1f}  w {b.w:.1f}  h {b.h:.1f}")
    return 0


def add_models(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "models",
        "import, list, show, export or verify model packages",
        "mir models import ~/Downloads/model.tar.gz --model-location ~/ymir-models\n"
        "  mir models verify <hash>@best --image photo.jpg --model-location ~/ymir-models",
    )
    p.add_argument("action", choices=["import", "list", "show", "export", "verify"])
    p.add_argument(
        "package",
        nargs="?",
        help="package file (import), model hash (show, export) or <hash>@<stage> (verify; default best)",
    )
    p.add_argument("--model-location", required=True, help="where model packages are stored")
    p.add_argument("-o", "--output", help="export: file to write")
    p.add_argument("--image", help="verify: the image (JPEG, PNG, BMP or WebP) to run the model on")
    p.add_argument(
        "--conf-thr", type=float, default=0.25, help="verify: keep boxes scoring at least this (default 0.25)"
    )
    p.add_argument("--iou-thr", type=float, default=0.6, help="verify: class-wise NMS IoU (default 0.6)")
    p.add_argument("--max-boxes", type=int, default=100, help="verify: at most this many boxes (default 100)")
    p.add_argument(
        "--cache-dir", help="verify: where ONNX files are extracted (default ~/.cache/mir/verification)"
    )
    p.add_argument("--json", action="store_true", help="verify: print the result as JSON")
    p.set_defaults(func=_models)


COMMANDS = [add_train, add_mining, add_infer, add_models]


def _num(value: object) -> str:
    """A metric for a table: four decimals, or ``-`` when unknown."""
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
