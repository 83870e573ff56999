"""Annotation formats: an explicit table of readers and writers, name resolution and detection.

Each format is a module with ``read`` (a :class:`~mir.formats.base.Reader`) and ``write`` (a
:class:`~mir.formats.base.Writer`). The tables are plain dicts, on purpose: no plugin discovery.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mir.errors import InvalidArgsError
from mir.formats import _common as common
from mir.formats import ark, coco, labelstudio, voc, yolo
from mir.formats.base import Reader, Writer
from mir.formats.labelstudio import labeling_config

__all__ = [
    "ALIASES",
    "FORMATS",
    "READERS",
    "WRITERS",
    "detect",
    "holds_no_files",
    "labeling_config",
    "resolve_format",
]

FORMATS: tuple[str, ...] = ("voc", "coco", "yolo", "ark", "labelstudio")

READERS: dict[str, Reader] = {
    "voc": voc.read,
    "coco": coco.read,
    "yolo": yolo.read,
    "ark": ark.read,
    "labelstudio": labelstudio.read,
}

WRITERS: dict[str, Writer] = {
    "voc": voc.write,
    "coco": coco.write,
    "yolo": yolo.write,
    "ark": ark.write,
    "labelstudio": labelstudio.write,
}

# YMIR's ``det:voc`` / ``det-voc`` spellings and common names of the same formats.
ALIASES: dict[str, str] = {
    **dict.fromkeys(("det:voc", "det-voc", "pascal-voc", "pascal_voc", "voc-xml", "voc_xml"), "voc"),
    **dict.fromkeys(("det:coco", "det-coco", "coco-json", "coco_json"), "coco"),
    **dict.fromkeys(("det:yolo", "det-yolo", "ultralytics", "yolo-txt", "yolo_txt"), "yolo"),
    **dict.fromkeys(("det:ark", "det-ark", "ark-txt", "ark_txt"), "ark"),
    **dict.fromkeys(("ls", "label-studio", "label_studio", "det:ls", "det:labelstudio"), "labelstudio"),
}

_JSON_HEAD = 1 << 20  # bytes of a JSON file read to tell COCO from Label Studio
_SAMPLE_FILES = 20  # label files looked at to tell YOLO from ark


def resolve_format(name: str) -> str:
    """The canonical format name for ``name`` or an alias of it (case-insensitive)."""
    key = name.strip().lower()
    if key in READERS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise InvalidArgsError(
        f"unknown annotation format {name!r}",
        fix=f"use one of {', '.join(FORMATS)} (aliases: {', '.join(sorted(ALIASES))})",
    )


def detect(source: Path) -> str:
    """Guess the format of the folder or file ``source`` from the files it holds.

    Cheap: it lists folders and reads at most a few small files and the head of one JSON file.
    When no format or more than one fits, the error says why each format was rejected or which
    ones fit, so the user can pass the format explicitly.
    """
    if not source.exists():
        raise InvalidArgsError(f"annotation source {source} does not exist", fix="check the path")
    probes: dict[str, Callable[[Path], str | None]] = {
        "voc": _probe_voc,
        "coco": _probe_coco,
        "yolo": _probe_yolo,
        "ark": _probe_ark,
        "labelstudio": _probe_labelstudio,
    }
    reasons = {name: probe(source) for name, probe in probes.items()}
    fitting = [name for name, reason in reasons.items() if reason is None]
    if len(fitting) == 1:
        return fitting[0]
    if fitting:
        evidence = "; ".join(f"{name} ({_evidence(name, source)})" for name in fitting)
        raise InvalidArgsError(
            f"{source} mixes annotation formats: {evidence}",
            fix="keep one format in the folder, or name the annotation format explicitly "
            f"({', '.join(fitting)})",
        )
    why = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
    raise InvalidArgsError(
        f"cannot tell the annotation format of {source} ({why})",
        fix=f"name the annotation format explicitly ({', '.join(FORMATS)})",
    )


def holds_no_files(source: Path) -> bool:
    """Whether ``source`` is a folder without any file below it (hidden files aside): an unlabeled
    set's empty ``annotations/``, which means "no annotations" rather than an unknown format."""
    if not source.is_dir():
        return False
    for _, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(not f.startswith(".") for f in files):
            return False
    return True


_EVIDENCE_SUFFIXES = {"voc": (".xml",), "yolo": (".txt", ".yaml"), "ark": (".txt",)}


def _evidence(name: str, source: Path, limit: int = 5) -> str:
    """The files that make ``source`` look like format ``name``, for the error of a mixed folder."""
    if name in ("coco", "labelstudio"):
        path, _ = _json_head(source, coco.FILE_NAME if name == "coco" else labelstudio.FILE_NAME)
        return path.name if path else "?"
    suffixes = _EVIDENCE_SUFFIXES[name]
    found: list[str] = []
    for directory in common.shard_dirs(source):
        for entry in sorted(os.listdir(directory)):
            if entry.lower().endswith(suffixes):
                found.append(os.path.relpath(os.path.join(directory, entry), source))
    shown = ", ".join(found[:limit])
    return shown + (f" and {len(found) - limit} more" if len(found) > limit else "")


def _probe_voc(source: Path) -> str | None:
    if not source.is_dir():
        return "not a folder"
    for directory in common.shard_dirs(source):
        if any(name.endswith(voc.SUFFIX) for name in os.listdir(directory)):
            return None
    return "no .xml files in the folder or its <hh>/ subfolders"


def _json_head(source: Path, default_name: str) -> tuple[Path | None, str]:
    """The JSON file a single-file format would read, and its first non-blank bytes."""
    if source.is_file():
        path: Path | None = source if source.suffix.lower() == ".json" else None
    elif (source / default_name).is_file():
        path = source / default_name
    else:
        candidates = [p for p in source.iterdir() if p.suffix.lower() == ".json" and p.is_file()]
        path = candidates[0] if len(candidates) == 1 else None
    if path is None:
        return None, ""
    with open(path, "rb") as handle:
        return path, handle.read(_JSON_HEAD).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")


def _probe_coco(source: Path) -> str | None:
    path, head = _json_head(source, coco.FILE_NAME)
    if path is None:
        return f"no {coco.FILE_NAME} nor a single .json file"
    if not head.startswith("{"):
        return f"{path.name} is not a JSON object"
    if not any(f'"{key}"' in head for key in ("images", "annotations", "categories")):
        return f"{path.name} has no images, annotations or categories"
    return None


def _probe_labelstudio(source: Path) -> str | None:
    path, head = _json_head(source, labelstudio.FILE_NAME)
    if path is None:
        return f"no {labelstudio.FILE_NAME} nor a single .json file"
    if not head.startswith("["):
        return f"{path.name} is not a JSON list of tasks"
    return None


def _probe_yolo(source: Path) -> str | None:
    if not source.is_dir():
        return "not a folder"
    if not (source / yolo.CLASSES_FILE).is_file() and not (source / yolo.DATA_YAML).is_file():
        return f"no {yolo.CLASSES_FILE} or {yolo.DATA_YAML}"
    line = _sample_line(source)
    if line is None:
        if (source / yolo.DATA_YAML).is_file() or (source / yolo.LABELS_DIR).is_dir():
            return None
        return "no non-empty label file to look at"
    if "," in line:
        return f"label lines are comma-separated ({line[:40]!r})"
    return None


def _probe_ark(source: Path) -> str | None:
    if not source.is_dir():
        return "not a folder"
    if not any((source / name).is_file() for name in ark.CLASS_FILES):
        return f"no {' or '.join(ark.CLASS_FILES)}"
    line = _sample_line(source)
    if line is None:
        if (source / yolo.DATA_YAML).is_file() or (source / yolo.LABELS_DIR).is_dir():
            return "laid out like YOLO (data.yaml or labels/)"
        return "no non-empty label file to look at"
    if "," not in line:
        return f"label lines are not comma-separated ({line[:40]!r})"
    return None


def _sample_line(source: Path) -> str | None:
    """The first non-blank line of the first few .txt label files under ``source``."""
    skip = {yolo.CLASSES_FILE, *ark.CLASS_FILES}
    dirs = common.shard_dirs(source)[:8]
    labels = source / yolo.LABELS_DIR
    if labels.is_dir():
        dirs += [parent for parent, _, _ in os.walk(labels)][:8]
    looked = 0
    for directory in dirs:
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".txt") or name in skip:
                continue
            looked += 1
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.strip():
                        return line.strip()
            if looked >= _SAMPLE_FILES:
                return None
    return None
