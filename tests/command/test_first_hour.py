"""mir as a new user meets it: an unlabeled set with an empty annotation folder imports, a folder mixing
formats names its files, exports keep the imported file names, and a Docker executor without an Engine
says how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mir.errors import ExecutorError, InvalidArgsError
from mir.executors.runtime import DockerRuntime
from mir.ops import export, history, importing
from tests.command.conftest import CliResult, make_voc_set


def test_empty_annotation_dir_imports_the_images_unlabeled(
    repo: Path, media: Path, tmp_path: Path, mir: Callable[..., CliResult]
) -> None:
    s = make_voc_set(tmp_path / "pool", {"a": [("cat", 1, 1, 10, 10)], "b": []})
    empty = tmp_path / "pool" / "annotations"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"\0")  # hidden files do not count
    result = mir(
        "import",
        "-r",
        repo,
        "--index-file",
        s.index,
        "--annotation-dir",
        empty,
        "--gen-dir",
        media,
        "--dst-rev",
        "pool@import",
    )
    assert result.code == 0, result.err
    shown = history.show(root=repo, rev="pool@import")
    assert shown["assets"] == 2 and shown["gt"]["boxes"] == 0


def test_a_folder_mixing_formats_names_each_files(repo: Path, media: Path, tmp_path: Path) -> None:
    s = make_voc_set(tmp_path / "mixed", {"a": [("cat", 1, 1, 10, 10)], "b": []})
    (s.voc / "instances.json").write_text('{"images": [], "annotations": [], "categories": []}')
    with pytest.raises(InvalidArgsError) as err:
        importing.import_dataset(
            root=repo, index_file=s.index, dst="m@import", media_location=media, gt_dir=s.voc
        )
    message = str(err.value)
    assert "mixes annotation formats" in message
    assert "voc (a.xml, b.xml)" in message and "coco (instances.json)" in message
    assert "keep one format in the folder" in err.value.fix
    assert [c.tid for c in history.log(root=repo)] == ["init"]  # nothing committed


def test_export_keeps_original_names_unique_with_relative_index(
    repo: Path, media: Path, tmp_path: Path
) -> None:
    for n, seed in ((1, 1), (2, 2)):
        s = make_voc_set(tmp_path / f"set{n}", {"photo": [("cat", 1, 1, 10, 10)], "Other": []}, seed=seed)
        importing.import_dataset(
            root=repo,
            index_file=s.index,
            dst=f"s{n}@import",
            media_location=media,
            gt_dir=s.voc,
            unknown_types_strategy="add",
        )
    from mir.ops import merge

    merge.merge(root=repo, src_revs="s1@import;s2@import", dst="all@merged")
    out = tmp_path / "export"
    export.export_dataset(
        root=repo,
        src_rev="all@merged",
        asset_dir=out / "images",
        media_location=media,
        gt_dir=out / "annotations",
        anno_format="voc",
        original_names=True,
        relative_to=out,
    )
    images = sorted(p.name for p in (out / "images").iterdir() if p.suffix == ".jpg")
    assert len(images) == 4 and "photo.jpg" in images and "Other.jpg" in images
    assert len([n for n in images if n.startswith("photo_")]) == 1  # the clash got the asset id's prefix
    index = (out / "annotations" / "index.tsv").read_text().splitlines()
    for line in index:
        image, annotation = line.split("\t")
        assert not Path(image).is_absolute() and (out / image).is_file()
        assert (out / annotation).is_file() and Path(annotation).stem == Path(image).stem
    # the export imports again by file stem, with every box
    again = tmp_path / "again"
    history.init(root=again)
    (out / "index.txt").write_text("".join(f"{out / 'images' / n}\n" for n in images))
    report = importing.import_dataset(
        root=again,
        index_file=out / "index.txt",
        dst="x@import",
        media_location=media,
        gt_dir=out / "annotations",
        unknown_types_strategy="add",
    )
    assert report.gt_boxes == 2


def test_docker_runtime_without_an_engine_puts_the_hint_in_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("docker")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(ExecutorError) as err:
        _ = DockerRuntime("acme/detector:1").client
    assert "cannot reach the Docker Engine" in err.value.message
    assert "start the Docker daemon" in err.value.fix and "DOCKER_HOST" in err.value.fix
