"""Class names with stable integer ids and aliases, kept in the repository's ``labels.yaml``.

The file keeps YMIR's layout (``labels: [{id, name, aliases, create_time, update_time}]``) so a
YMIR label file can be used as is. Ids are list positions and are never reused; names and aliases
are compared lower-cased and stripped, and one alias resolves to exactly one class.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mir.atomic import write_atomic
from mir.errors import InputFileError, InvalidLabelError, UnknownClassesError

LABELS_VERSION = "2.0.0"
_FORBIDDEN = (",", ";")


def normalise(name: str) -> str:
    """The canonical spelling of a class name: stripped, lower-case."""
    return name.strip().lower()


def check_label(name: str) -> str:
    """Validate and normalise one class name or alias."""
    norm = normalise(name)
    if not norm:
        raise InvalidLabelError("empty class name", fix="give a non-empty name")
    bad = [c for c in _FORBIDDEN if c in norm]
    if bad:
        raise InvalidLabelError(
            f"class name {name!r} contains {' and '.join(repr(c) for c in bad)}",
            fix="',' and ';' separate names on the command line; rename the class",
        )
    if any(ord(c) < 32 for c in norm):
        raise InvalidLabelError(f"class name {name!r} contains a control character", fix="rename the class")
    return norm


@dataclass
class Label:
    """One class: its id, main name and aliases."""

    id: int
    name: str
    aliases: list[str] = field(default_factory=list)
    create_time: float = 0.0
    update_time: float = 0.0


@dataclass
class Labels:
    """The label registry of one repository (or a user's label file)."""

    labels: list[Label] = field(default_factory=list)

    # -- lookups --------------------------------------------------------------------------------
    def lookup(self) -> dict[str, int]:
        """Map every name and alias (normalised) to its class id."""
        table: dict[str, int] = {}
        for label in self.labels:
            table[label.name] = label.id
            for alias in label.aliases:
                table[alias] = label.id
        return table

    def id_of(self, name: str) -> int | None:
        """The id of ``name`` (or of the class it is an alias of)."""
        return self.lookup().get(normalise(name))

    def name_of(self, class_id: int) -> str:
        """Main name of ``class_id``."""
        return self.labels[class_id].name

    def names(self) -> list[str]:
        """Main names in id order."""
        return [label.name for label in self.labels]

    def ids_of(self, names: Iterable[str], *, where: str = "") -> list[int]:
        """Resolve names to ids; any unknown name is an error listing all of them."""
        table = self.lookup()
        wanted = [normalise(n) for n in names]
        unknown = sorted({n for n in wanted if n not in table})
        if unknown:
            raise UnknownClassesError(unknown, where=where, fix="list the classes with `mir labels`")
        return [table[n] for n in wanted]

    # -- changes --------------------------------------------------------------------------------
    def add(self, name: str, aliases: Sequence[str] = ()) -> int:
        """Add a class (or new aliases to an existing one); returns its id."""
        main = check_label(name)
        alias_norm = [check_label(a) for a in aliases]
        table = self.lookup()
        now = time.time()
        if main in table:
            label = self.labels[table[main]]
            if label.name != main:
                raise InvalidLabelError(
                    f"{name!r} is already an alias of {label.name!r}",
                    fix=f"add aliases to {label.name!r} instead",
                )
        else:
            label = Label(id=len(self.labels), name=main, create_time=now, update_time=now)
            self.labels.append(label)
        for alias in alias_norm:
            owner = table.get(alias)
            if owner is not None and owner != label.id:
                raise InvalidLabelError(
                    f"alias {alias!r} already names class {self.labels[owner].name!r}",
                    fix="an alias may belong to one class only",
                )
            if alias != label.name and alias not in label.aliases:
                label.aliases.append(alias)
                label.update_time = now
            table[alias] = label.id
        return label.id

    # -- files ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """YMIR's labels.yaml layout."""
        return {
            "labels": [
                {
                    "id": lb.id,
                    "name": lb.name,
                    "aliases": list(lb.aliases),
                    "create_time": lb.create_time,
                    "update_time": lb.update_time,
                }
                for lb in self.labels
            ],
            "ymir_version": LABELS_VERSION,
        }

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename), so readers see the old or the new file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        write_atomic(path, text, prefix=".labels-", suffix=".tmp")  # Repo._sweep removes strays by this name


def load_labels(path: Path) -> Labels:
    """Read a labels.yaml (missing file = no classes); checks ids and uniqueness."""
    if not path.exists():
        return Labels()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise InputFileError(
            path,
            f"not valid YAML ({e})",
            line=None if line is None else line + 1,
            fix="repair or restore the label file",
        ) from e
    items = data.get("labels") or [] if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InputFileError(
            path, "expected a mapping with a 'labels' list", fix="repair or restore the label file"
        )
    labels = Labels()
    seen: dict[str, int] = {}
    for pos, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item:
            raise InputFileError(path, f"labels[{pos}] has no 'name'", fix="repair the label file")
        if int(item.get("id", pos)) != pos:
            raise InputFileError(
                path,
                f"labels[{pos}] has id {item.get('id')}, expected {pos}",
                fix="ids must be 0, 1, 2... in order",
            )
        name = check_label(str(item["name"]))
        aliases = [check_label(str(a)) for a in item.get("aliases") or []]
        for n in [name, *aliases]:
            if n in seen and seen[n] != pos:
                raise InputFileError(
                    path,
                    f"name {n!r} is used by classes {seen[n]} and {pos}",
                    fix="a name or alias may belong to one class only",
                )
            seen[n] = pos
        labels.labels.append(
            Label(
                id=pos,
                name=name,
                aliases=aliases,
                create_time=float(item.get("create_time") or 0),
                update_time=float(item.get("update_time") or 0),
            )
        )
    return labels


def merge_csv_labels(labels: Labels, path: Path) -> None:
    """Add the classes of a YMIR ``labels.csv`` (``id,,name,alias...``; ``#`` comments) to ``labels``.

    An id already used by another name is an error naming the line: ids never change meaning.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(path, f"cannot read the label file ({e})") from e
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 3 or not fields[0].isdigit() or not fields[2]:
            raise InputFileError(
                path,
                f"expected 'id,,name[,alias...]', got {raw!r}",
                line=no,
                fix="one class per line, ids from 0",
            )
        cid, name, aliases = int(fields[0]), normalise(fields[2]), [a for a in fields[3:] if a]
        if cid < len(labels.labels):
            if labels.labels[cid].name != name:
                raise InputFileError(
                    path,
                    f"id {cid} is {name!r} here but {labels.labels[cid].name!r} in the repository",
                    line=no,
                    fix="ids may not change meaning; use a new id",
                )
            labels.add(name, aliases)
        elif cid == len(labels.labels):
            labels.add(name, aliases)
        else:
            raise InputFileError(
                path,
                f"id {cid} skips ids (next free id is {len(labels.labels)})",
                line=no,
                fix="number classes 0, 1, 2... without gaps",
            )
