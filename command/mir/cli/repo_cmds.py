"""Repository commands: init, branch, checkout, tag, log, status, show, diff, labels, gc."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from mir.ops import history
from mir.store.repo import Commit, Repo

Sub = Any  # argparse's private _SubParsersAction


def _add(
    sub: Sub,
    parent: argparse.ArgumentParser,
    name: str,
    helptext: str,
    example: str,
    aliases: tuple[str, ...] = (),
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        parents=[parent],
        help=helptext,
        description=helptext,
        aliases=list(aliases),
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return p


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root).expanduser().absolute()


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _line(c: Commit) -> str:
    t = c.task
    return (
        f"{c.id[:10]}  {c.branch}@{c.tid:<16} {t.get('type', ''):<9} {_when(c.time)}  "
        f"{c.stats['assets']} assets, {c.stats['gt']['boxes']} gt, {c.stats['pred']['boxes']} pred"
    )


# -- init ---------------------------------------------------------------------------------------
def _init(args: argparse.Namespace) -> int:
    repo = history.init(root=_root(args), label_file=Path(args.label_file) if args.label_file else None)
    print(f"initialised an empty mir repository in {repo.mir}")
    return 0


def add_init(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(sub, parent, "init", "create an empty repository", "mir init -r ~/mir-demo-repo")
    p.add_argument("--label-file", help="start from this labels.yaml (YMIR's layout)")
    p.add_argument("--with-empty-rev", help=argparse.SUPPRESS)
    p.set_defaults(func=_init)


# -- branch / checkout / tag --------------------------------------------------------------------
def _branch(args: argparse.Namespace) -> int:
    root = _root(args)
    if args.delete:
        history.delete_branch(root=root, name=args.delete)
        print(f"deleted branch {args.delete}")
    elif args.name:
        c = history.create_branch(root=root, name=args.name, start=args.start)
        print(f"created branch {args.name} at {c.id[:10]} ({c.tag})")
    else:
        head = Repo(root).head_branch()
        for name, c in history.branches(root=root).items():
            print(f"{'*' if name == head else ' '} {name:<24} {c.id[:10]} {c.tag}")
    return 0


def add_branch(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "branch",
        "list, create or delete branches",
        "mir branch experiment dataset-a@t1    # create;  mir branch -D experiment;  mir branch",
    )
    p.add_argument("name", nargs="?", help="branch to create")
    p.add_argument("start", nargs="?", help="revision it starts at (default: the checked-out branch)")
    p.add_argument("-D", "--delete", metavar="BRANCH", help="delete this branch (its tags stay)")
    p.set_defaults(func=_branch)


def _checkout(args: argparse.Namespace) -> int:
    history.checkout(root=_root(args), branch=args.branch, create=args.b)
    print(f"on branch {args.branch}")
    return 0


def add_checkout(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "checkout",
        "choose the branch commands read by default",
        "mir checkout master",
        aliases=("co",),
    )
    p.add_argument("branch")
    p.add_argument("-b", action="store_true", help="create the branch first")
    p.set_defaults(func=_checkout)


def _tag(args: argparse.Namespace) -> int:
    root = _root(args)
    if args.name:
        c = history.create_tag(root=root, name=args.name, rev=args.rev or Repo(root).head_branch())
        print(f"tagged {c.id[:10]} as {args.name}")
        return 0
    for tag, cid in history.tags(root=root, branch=args.branch).items():
        print(f"{tag:<40} {cid[:10]}")
    return 0


def add_tag(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "tag",
        "list tags, or add a name@id tag to a revision",
        "mir tag release@v1 tr-va@merged    # or: mir tag --branch tr-va",
    )
    p.add_argument("name", nargs="?", help="new tag, written name@id")
    p.add_argument("rev", nargs="?", help="revision to tag (default: the checked-out branch)")
    p.add_argument("--branch", help="list only this branch's tags")
    p.set_defaults(func=_tag)


# -- log / status / show / diff -----------------------------------------------------------------
def _log(args: argparse.Namespace) -> int:
    commits = history.log(root=_root(args), rev=args.rev, limit=args.limit)
    if args.json:
        print(json.dumps([c.__dict__ for c in commits], indent=1, default=str))
        return 0
    for c in commits:
        print(_line(c))
        t = c.task
        if t.get("src_revs"):
            print(f"            from {t['src_revs']}" + (f" by {t['user']}" if t.get("user") else ""))
    return 0


def add_log(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(sub, parent, "log", "history of a branch with its tasks", "mir log tr-va -n 5")
    p.add_argument("rev", nargs="?", help="branch or branch@tid (default: the checked-out branch)")
    p.add_argument("-n", "--limit", type=int, help="show at most this many commits")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_log)


def _status(args: argparse.Namespace) -> int:
    s = history.status(root=_root(args))
    print(f"on branch {s.head_branch}" + (f" at {s.head.id[:10]} ({s.head.tag})" if s.head else " (empty)"))
    print(f"{s.branches} branches, {s.tags} tags, {s.commits} commits")
    print("a write is in progress (the lock is held)" if s.write_in_progress else "no write in progress")
    for item in s.leftovers:
        print(f"leftover of an interrupted write: {item}")
    return 0


def add_status(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(sub, parent, "status", "the checked-out branch and whether a write is running", "mir status")
    p.set_defaults(func=_status)


def _show(args: argparse.Namespace) -> int:
    info = history.show(root=_root(args), rev=args.src_revs or args.rev)
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    tvt = info["tvt"]
    print(f"{info['tag']}  commit {info['commit'][:10]}")
    print(
        f"assets: {info['assets']} (train {tvt['train']}, val {tvt['val']}, test {tvt['test']}, "
        f"unknown {tvt['unknown']}), {info['bytes'] / 1e6:.1f} MB"
    )
    for side in ("gt", "pred"):
        s = info[side]
        print(f"{side}: {s['boxes']} boxes on {s['positive_assets']} assets ({s['negative_assets']} without)")
        for name, c in s["classes"].items():
            print(f"  {name:<24} {c['images']:>8} images {c['boxes']:>9} boxes")
        for key, values in s["tags"].items():
            print(f"  box tag {key}: " + ", ".join(f"{v} ({n})" for v, n in values.items()))
    for key, values in info["image_tags"].items():
        print(f"image tag {key}: " + ", ".join(f"{v} ({n})" for v, n in values.items()))
    t = info["task"]
    who = t.get("user") or "-"
    print(f"task: {t.get('type')} {t.get('tid')} {t.get('state')} by {who} at {_when(t['time'])}")
    if t.get("src_revs"):
        print(f"  from {t['src_revs']}")
    if t.get("model"):
        print(
            f"  model {t['model'].get('model_hash', '')} best stage {t['model'].get('best_stage_name', '')}"
        )
    if args.verbose:
        print(json.dumps(t, indent=1, default=str))
    return 0


def add_show(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "show",
        "asset counts, classes, tags and the task of a version",
        "mir show tr-va@merged --json",
    )
    p.add_argument("rev", nargs="?", help="revision (default: the checked-out branch)")
    p.add_argument("--src-revs", "--src-rev", dest="src_revs", help="same as REV (YMIR's spelling)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verbose", action="store_true", help="also print the whole task record")
    p.set_defaults(func=_show)


def _diff(args: argparse.Namespace) -> int:
    from mir.ops.diff import diff

    d = diff(root=_root(args), a=args.a, b=args.b)
    if args.json:
        print(json.dumps({"counts": d.counts(), **d.__dict__}, indent=1))
        return 0
    labels = {
        "added_assets": "assets added",
        "removed_assets": "assets removed",
        "changed_gt": "assets whose ground truth changed",
        "changed_pred": "assets whose predictions changed",
        "changed_type": "assets whose train/val/test type changed",
    }
    for key, text in labels.items():
        items: list[str] = getattr(d, key)
        print(f"{len(items):>8} {text}")
        for asset in items[: args.limit]:
            print(f"           {asset}")
    return 0


def add_diff(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "diff",
        "assets and annotations added, removed or changed between two versions",
        "mir diff tr-va@merged tr-va@merged-1",
    )
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--limit", type=int, default=5, help="asset ids listed per kind of change")
    p.add_argument("--json", action="store_true", help="machine-readable output, every asset id")
    p.set_defaults(func=_diff)


# -- labels -------------------------------------------------------------------------------------
def _labels(args: argparse.Namespace) -> int:
    repo = Repo(_root(args))
    if args.action == "add":
        if not args.names:
            from mir.errors import InvalidArgsError

            raise InvalidArgsError(
                "`mir labels add` needs a class name", fix="e.g. mir labels add bike bicycle"
            )
        main, *aliases = args.names
        cid, labels = history.add_label(root=_root(args), name=main, aliases=aliases)
        print(f"{cid}\t{labels.name_of(cid)}\t{','.join(labels.labels[cid].aliases)}")
        return 0
    for lb in repo.labels().labels:
        print(f"{lb.id}\t{lb.name}\t{','.join(lb.aliases)}")
    return 0


def add_labels(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "labels",
        "list class names, or add one with aliases",
        "mir labels add bike bicycle    # 'bicycle' in annotations becomes 'bike'",
    )
    p.add_argument("action", nargs="?", choices=["list", "add"], default="list")
    p.add_argument("names", nargs="*", help="for add: the class name, then its aliases")
    p.set_defaults(func=_labels)


# -- gc -----------------------------------------------------------------------------------------
def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n < 1e9 else f"{n / 1e9:.2f} GB"  # as `mir status` counts


def _gc(args: argparse.Namespace) -> int:
    from mir.ops import gc

    repos = [Path(r).expanduser() for r in args.repo]
    for folder in args.repos_in:
        repos += gc.repositories_in(Path(folder).expanduser())
    report = gc.collect(
        Path(args.media_location).expanduser().absolute(),
        repos,
        older_than_hours=args.older_than_hours,
        delete=args.delete,
        wait_seconds=args.wait,
    )
    print(
        f"{report.files} image file(s) in the media location; {report.referenced} named by "
        f"{report.tables} version(s) of {report.repositories} repositor(ies)"
    )
    print(
        f"{report.unreferenced} named by none ({_size(report.unreferenced_bytes)}), "
        f"{report.too_young} of them kept as younger than {args.older_than_hours:g} h"
    )
    if args.delete:
        print(f"removed {report.removed} file(s), {_size(report.removed_bytes)}")
    else:
        n, size = len(report.removable), _size(report.removable_bytes)
        print(f"would remove {n} file(s), {size} (pass --delete to remove them)")
    return 0


def add_gc(sub: Sub, parent: argparse.ArgumentParser) -> None:
    p = _add(
        sub,
        parent,
        "gc",
        "report (or --delete) image files of a media location that no version names",
        "mir gc --media-location ~/ymir-assets --repos-in ~/projects --delete",
    )
    p.add_argument("--media-location", "--gen-dir", required=True, help="the media location to clean")
    p.add_argument(
        "--repo", action="append", default=[], help="a repository using the location (repeat for each)"
    )
    p.add_argument(
        "--repos-in", action="append", default=[], help="a folder whose sub-folders are such repositories"
    )
    p.add_argument(
        "--older-than-hours",
        type=float,
        default=24.0,
        help="remove only files older than this (default 24): writers that take no lock stay safe",
    )
    p.add_argument("--delete", action="store_true", help="remove the files (default: only report)")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for running imports (default 0)")
    p.set_defaults(func=_gc)


COMMANDS = [
    add_init, add_branch, add_checkout, add_tag, add_log, add_status, add_show, add_diff, add_labels, add_gc
]  # fmt: skip
