"""Model packages: a tar of every stage's files plus ``ymir-info.yaml``, stored by its sha1.

The layout is YMIR's (``<stage>/<file>``, ``attachments/<section>/<file>``, ``ymir-info.yaml`` with
``stages``, ``best_stage_name``, ``executor_config``, ``task_context``, ``package_version``), so YMIR's
own packages import here and ours open in YMIR. Packages live at ``<model-location>/<sha1>``;
``hash@stage`` names one stage.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from mir.atomic import write_atomic
from mir.errors import InvalidArgsError, ModelError

PACKAGE_VERSION = "2.0.0"
INFO = "ymir-info.yaml"
METRICS_DIR = ".metrics"  # <model-location>/.metrics/<hash>.json: what mir measured of a package
_STAGE_FIELDS = ("files", "stage_name", "timestamp")


@dataclass
class ModelRef:
    """``hash@stage`` (stage None = the best stage)."""

    hash: str
    stage: str | None = None


def parse_model_ref(text: str) -> ModelRef:
    """Parse ``--model-hash hash[@stage]``."""
    h, _, stage = text.strip().partition("@")
    if not h or not all(c in "0123456789abcdef" for c in h.lower()):
        raise InvalidArgsError(
            f"invalid model reference {text!r}", fix="write <model hash>@<stage>, see `mir models`"
        )
    return ModelRef(hash=h.lower(), stage=stage or None)


def sha1_file(path: Path) -> str:
    """Hex sha1 of a file, read in 1 MiB blocks."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_path(model_location: Path, model_hash: str) -> Path:
    """Where a package is stored; a unique prefix of the hash is enough."""
    exact = model_location / model_hash
    if exact.is_file():
        return exact
    matches = (
        [p for p in model_location.glob(f"{model_hash}*") if p.is_file()] if model_location.is_dir() else []
    )
    if len(matches) == 1 and len(model_hash) >= 6:
        return matches[0]
    raise ModelError(
        f"model {model_hash} is not in {model_location}", fix="check --model-location and `mir models list`"
    )


def pack(
    *,
    models_dir: Path,
    stages: dict[str, dict[str, Any]],
    best_stage: str,
    model_location: Path,
    executor_config: dict[str, Any],
    task_context: dict[str, Any],
    attachments: dict[str, list[str]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Pack ``models_dir`` (stage folders as the executor wrote them) and store it; returns (hash, info)."""
    info: dict[str, Any] = {
        "package_version": PACKAGE_VERSION,
        "executor_config": executor_config,
        "task_context": task_context,
        "stages": stages,
        "best_stage_name": best_stage,
        "object_type": 2,
        "attachments": attachments or {},
    }
    model_location.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=model_location, prefix=".pack-")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for name, stage in sorted(stages.items()):
                for f in stage["files"]:
                    src = models_dir / name / f
                    if not src.is_file():
                        src = models_dir / f
                    tar.add(src, arcname=f"{name}/{f}")
            for section, files in (attachments or {}).items():
                for f in files:
                    tar.add(models_dir / "attachments" / section / f, arcname=f"attachments/{section}/{f}")
            data = yaml.safe_dump(info, sort_keys=False, allow_unicode=True).encode()
            entry = tarfile.TarInfo(INFO)
            entry.size = len(data)
            entry.mtime = int(time.time())
            tar.addfile(entry, io.BytesIO(data))
        digest = sha1_file(Path(tmp))
        os.replace(tmp, model_location / digest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest, info


def stage_metrics(stage: dict[str, Any]) -> dict[str, Any]:
    """A stage's metrics under the glossary's names: the executor's claims, prefixed ``executor_``.

    Packages keep the executor contract's keys (``mAP`` is the executor's AP@0.5); shown beside mir's own
    ``map50``/``map50_95`` they would read as the same number, so ``mAP`` becomes ``executor_map50`` and
    every other metric ``executor_<name>``.
    """
    out: dict[str, Any] = {}
    for key, value in stage.items():
        if key in _STAGE_FIELDS:
            continue
        out["executor_map50" if key == "mAP" else f"executor_{key.lower()}"] = value
    return out


def write_metrics(model_location: Path, model_hash: str, metrics: dict[str, Any]) -> None:
    """Keep what mir measured for a model beside its package (written atomically).

    The package's hash covers its content, so the evaluation made after packing cannot go inside it;
    ``mir models list`` reads it from here.
    """
    folder = model_location / METRICS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / f"{model_hash}.json", json.dumps(metrics), prefix=".tmp-")


def drop_metrics(model_location: Path, model_hash: str) -> None:
    """Forget what mir measured for a model whose package is gone."""
    (model_location / METRICS_DIR / f"{model_hash}.json").unlink(missing_ok=True)


def read_metrics(model_location: Path, model_hash: str) -> dict[str, Any] | None:
    """What mir measured for a model (None for an imported package never evaluated here)."""
    path = model_location / METRICS_DIR / f"{model_hash}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


MAX_PACKAGE_ENTRIES = 100_000  # files a model package may hold
MAX_PACKAGE_RATIO = 250.0  # its files may total at most this many times the package's size...
_RATIO_FLOOR = 1 << 20  # ...or this many bytes, whichever is more (weights hardly compress)


def _safe_members(tar: tarfile.TarFile, source: Path) -> list[tarfile.TarInfo]:
    """The members, each checked (no links, devices or paths outside), read lazily and counted:
    at most :data:`MAX_PACKAGE_ENTRIES`, and all together no more than :data:`MAX_PACKAGE_RATIO`
    times the package's own size (a gzip bomb of many small entries adds up like one big one)."""
    budget = max(int(MAX_PACKAGE_RATIO * source.stat().st_size), _RATIO_FLOOR)
    members: list[tarfile.TarInfo] = []
    total = 0
    for m in tar:
        p = PurePosixPath(m.name)
        if p.is_absolute() or ".." in p.parts or m.issym() or m.islnk() or m.isdev():
            raise ModelError(
                f"{source.name}: unsafe entry {m.name!r} in the model package",
                fix="a package may hold plain files under <stage>/ only",
            )
        members.append(m)
        total += max(m.size, 0)
        if len(members) > MAX_PACKAGE_ENTRIES:
            raise ModelError(
                f"{source.name}: the model package holds more than {MAX_PACKAGE_ENTRIES} entries",
                fix="a package holds the files of its stages and ymir-info.yaml",
            )
        if total > budget:
            raise ModelError(
                f"{source.name}: the model package expands to more than {MAX_PACKAGE_RATIO:.0f} times "
                f"its {source.stat().st_size} bytes (a tar bomb?)",
                fix="pack the stage files without padding; weights do not compress that much",
            )
    return members


def read_info(package: Path) -> dict[str, Any]:
    """``ymir-info.yaml`` of a package, checked: stages with files present, a best stage."""
    try:
        with tarfile.open(package, "r:*") as tar:
            members = {m.name.removeprefix("./"): m for m in _safe_members(tar, package)}
            if INFO not in members:
                raise ModelError(f"{package} holds no {INFO}", fix="is this a YMIR model package?")
            extracted = tar.extractfile(members[INFO])
            info = yaml.safe_load(extracted.read() if extracted else b"")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ModelError(
            f"{package} is not a readable model package ({e})", fix="re-download or re-export it"
        ) from e
    except yaml.YAMLError as e:
        raise ModelError(f"{package}: {INFO} is not valid YAML ({e})") from e
    if not isinstance(info, dict) or not isinstance(info.get("stages"), dict) or not info["stages"]:
        raise ModelError(f"{package}: {INFO} lists no stages", fix="is this a YMIR model package?")
    for name, stage in info["stages"].items():
        files = (stage or {}).get("files") if isinstance(stage, dict) else None
        if not isinstance(files, list) or not files:
            raise ModelError(f"{package}: stage {name!r} lists no files")
        for f in files:
            if f"{name}/{f}" not in members:
                raise ModelError(f"{package}: stage {name!r} names {f!r}, which the package does not hold")
    best = info.get("best_stage_name") or next(iter(info["stages"]))
    if best not in info["stages"]:
        raise ModelError(f"{package}: best_stage_name {best!r} is not one of its stages")
    info["best_stage_name"] = best
    return info


def extract_stage(
    package: Path, stage: str, dest: Path, *, only: Collection[str] | None = None
) -> list[Path]:
    """Unpack one stage's files (those named in ``only``, if given) into ``dest/<stage>/``; returns them."""
    info = read_info(package)
    if stage == "best" and stage not in info["stages"]:
        stage = info["best_stage_name"]
    if stage not in info["stages"]:
        raise ModelError(
            f"model has no stage {stage!r} (stages: {', '.join(info['stages'])})",
            fix="pick one of those after '@'",
        )
    out = []
    with tarfile.open(package, "r:*") as tar:
        for f in info["stages"][stage]["files"]:
            if only is not None and f not in only:
                continue
            member = tar.getmember(f"{stage}/{f}")
            target = dest / stage / f
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            if src is None:
                raise ModelError(f"{package}: {stage}/{f} is not a regular file")
            with open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append(target)
    return out


def resolve_stage(info: dict[str, Any], stage: str | None) -> str:
    """The stage a reference names: none or ``best`` mean the package's best stage."""
    if stage is None or (stage == "best" and stage not in info["stages"]):
        return str(info["best_stage_name"])
    return stage


def import_package(source: Path, model_location: Path) -> tuple[str, dict[str, Any]]:
    """Check a package (ours or YMIR's) and store it under its sha1."""
    if not source.is_file():
        raise ModelError(f"{source} does not exist", fix="give the path of a model package (.tar or .tar.gz)")
    info = read_info(source)
    digest = sha1_file(source)
    model_location.mkdir(parents=True, exist_ok=True)
    target = model_location / digest
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=model_location, prefix=".import-")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest, info


def list_models(model_location: Path) -> dict[str, dict[str, Any]]:
    """Every readable package in the model location, by hash."""
    out: dict[str, dict[str, Any]] = {}
    if not model_location.is_dir():
        return out
    for p in sorted(model_location.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            try:
                out[p.name] = read_info(p)
            except ModelError:
                continue
    return out
