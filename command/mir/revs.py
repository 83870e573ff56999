"""Revision strings in YMIR's syntax: ``[tr:|va:|te:]branch[@task_id]`` joined by ``;``.

``--src-revs "tr:a@t1;va:b"`` reads task ``t1`` of branch ``a`` as training assets and the head of
branch ``b`` as validation assets; ``--dst-rev branch@tid`` names the commit a command creates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mir.errors import InvalidArgsError
from mir.store.enums import TVT_PREFIXES, Tvt

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Rev:
    """One parsed revision: ``tvt`` is the type a merge assigns (``None`` keeps stored types)."""

    branch: str
    tid: str | None = None
    tvt: Tvt | None = None

    def __str__(self) -> str:
        prefix = ""
        if self.tvt is not None:
            prefix = {v: k for k, v in TVT_PREFIXES.items()}[self.tvt] + ":"
        return f"{prefix}{self.branch}{'@' + self.tid if self.tid else ''}"

    @property
    def tag(self) -> str:
        """The tag name ``branch@tid`` (only meaningful when ``tid`` is set)."""
        return f"{self.branch}@{self.tid}"


def check_name(value: str, what: str) -> str:
    """Validate a branch name or task id (letters, digits, ``_ . -``; not starting with ``.``/``-``)."""
    if not _NAME.match(value) or value.endswith(".lock") or ".." in value:
        raise InvalidArgsError(
            f"invalid {what} {value!r}",
            fix="use letters, digits, '_', '-' and '.', starting with a letter, digit or '_'",
        )
    return value


def parse_rev(text: str, *, need_tid: bool = False, allow_tvt: bool = True) -> Rev:
    """Parse one revision, e.g. ``tr:a@t1``."""
    raw = text.strip()
    if not raw:
        raise InvalidArgsError("empty revision", fix="write branch[@task_id], e.g. 'a@t1'")
    if ";" in raw:
        raise InvalidArgsError(f"{text!r} holds several revisions where one is expected", fix="drop the ';'")
    tvt: Tvt | None = None
    if ":" in raw:
        prefix, _, raw = raw.partition(":")
        if ":" in raw:
            raise InvalidArgsError(
                f"revision {text!r} has more than one ':'", fix="write [tr:|va:|te:]branch[@tid]"
            )
        if prefix:
            if not allow_tvt:
                raise InvalidArgsError(
                    f"revision {text!r} may not carry a type prefix", fix=f"drop '{prefix}:'"
                )
            if prefix not in TVT_PREFIXES:
                raise InvalidArgsError(
                    f"unknown type prefix {prefix!r} in {text!r}",
                    fix="use tr: (train), va: (val) or te: (test)",
                )
            tvt = TVT_PREFIXES[prefix]
    if raw.count("@") > 1:
        raise InvalidArgsError(f"revision {text!r} has more than one '@'", fix="write branch@task_id")
    branch, _, tid = raw.partition("@")
    check_name(branch, "branch name")
    if tid:
        check_name(tid, "task id")
    elif "@" in raw:
        raise InvalidArgsError(
            f"revision {text!r} has an empty task id after '@'", fix="write branch@task_id"
        )
    if need_tid and not tid:
        raise InvalidArgsError(f"revision {text!r} needs a task id", fix=f"write {branch}@<task_id>")
    return Rev(branch=branch, tid=tid or None, tvt=tvt)


def parse_revs(text: str) -> list[Rev]:
    """Parse ``rev;rev;...`` (whitespace around ``;`` is ignored, empty parts are errors)."""
    parts = [p.strip() for p in text.split(";")]
    if not text.strip() or any(not p for p in parts):
        raise InvalidArgsError(f"empty revision in {text!r}", fix="separate revisions with single ';'")
    return [parse_rev(p) for p in parts]
