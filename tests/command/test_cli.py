"""The command line: help with examples for every command, exit codes, YMIR's flag spellings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mir.cli import build_parser
from tests.command.conftest import CliResult, make_voc_set

DOC = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted({name for name, p in sub.choices.items() if name == p.prog.split()[-1]})  # type: ignore[union-attr]


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_with_example_and_docs(command: str, mir: Callable[..., CliResult]) -> None:
    with pytest.raises(SystemExit) as e:
        mir(command, "--help")
    assert e.value.code == 0
    assert f"### {command}" in DOC or f", {command}" in DOC or f"### branch, {command}" in DOC


def test_help_shows_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["merge", "--help"])
    out = capsys.readouterr().out
    assert "example:" in out and "mir merge --src-revs" in out


def test_exit_codes_and_messages(tmp_path: Path, mir: Callable[..., CliResult]) -> None:
    root = tmp_path / "r"
    r = mir("show", "-r", root)
    assert r.code == 3 and "not a mir repository" in r.err and "mir init" in r.err
    assert mir("init", "-r", root).code == 0
    r = mir("show", "-r", root, "nope@t1")
    assert r.code == 4 and "'nope@t1' does not exist" in r.err
    r = mir("merge", "-r", root, "--src-revs", "master", "--dst-rev", "m")
    assert r.code == 2 and "needs a task id" in r.err
    r = mir("filter", "-r", root, "--src-revs", "master", "--dst-rev", "f@1", "-p", "zebra")
    assert r.code == 6 and "zebra" in r.err
    with pytest.raises(SystemExit) as e:
        mir("merge", "-r", root)
    assert e.value.code == 2


def test_ymir_flag_spellings(tmp_path: Path, mir: Callable[..., CliResult]) -> None:
    ds = make_voc_set(tmp_path / "d", {"a": [("cat", 1, 1, 5, 5)], "b": []})
    root, media = tmp_path / "r", tmp_path / "m"
    assert mir("init", "-r", root).code == 0
    r = mir(
        "import",
        "-r",
        root,
        "--asset-path",
        ds.index,
        "--gt-dir",
        ds.voc,
        "--gen-dir",
        media,
        "--anno-type",
        "det:voc",
        "--unknown-types-strategy",
        "add",
        "--dst-rev",
        "a@t1",
        "-w",
        tmp_path / "w",
    )
    assert r.code == 0, r.err
    assert "2 assets" in r.out and "1 gt boxes" in r.out
    r = mir(
        "import",
        "-r",
        root,
        "--index-file",
        ds.index,
        "--gt-dir",
        ds.voc,
        "--media-location",
        media,
        "--anno-type",
        "no-annos",
        "--dst-rev",
        "b@t1",
    )
    assert r.code == 0 and "0 gt boxes" in r.out, r.err
    r = mir(
        "export",
        "-r",
        root,
        "--src-revs",
        "a@t1",
        "--asset-dir",
        tmp_path / "x",
        "--media-location",
        media,
        "--annotation-dir",
        tmp_path / "xa",
        "--format",
        "voc",
        "--class_names",
        "cat",
    )
    assert r.code == 0, r.err
    assert len((tmp_path / "x" / "index.tsv").read_text().splitlines()) == 2


def test_missing_index_line_via_cli(tmp_path: Path, mir: Callable[..., CliResult]) -> None:
    root = tmp_path / "r"
    mir("init", "-r", root)
    (tmp_path / "index.txt").write_text("missing.jpg\n")
    r = mir(
        "import",
        "-r",
        root,
        "--index-file",
        tmp_path / "index.txt",
        "--gen-dir",
        tmp_path / "m",
        "--dst-rev",
        "a@t1",
    )
    assert r.code == 7
    assert "index.txt:1" in r.err and "missing.jpg" in r.err and "fix:" in r.err
