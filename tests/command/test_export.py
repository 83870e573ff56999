"""mir export in every format, read back by mir import: the same boxes on the same images."""

from __future__ import annotations

from pathlib import Path

import pytest

from mir.errors import InputFileError, UnknownClassesError
from mir.ops.export import export_dataset
from mir.ops.importing import import_dataset
from mir.store.repo import Repo
from tests.command.conftest import make_voc_set


def _boxes(repo: Path, rev: str) -> set[tuple[str, str, float, float, float, float]]:
    r = Repo(repo)
    snap = r.read(r.resolve(rev))
    labels = r.labels()
    return {
        (b["asset_id"], labels.name_of(b["class_id"]), b["x"], b["y"], b["w"], b["h"])
        for b in snap.gt.to_pylist()
    }


@pytest.fixture
def imported(repo: Path, media: Path, tmp_path: Path) -> Path:
    ds = make_voc_set(
        tmp_path / "d",
        {"a": [("person", 1, 2, 10, 20), ("cat", 5, 5, 30, 40)], "b": [("dog", 0, 0, 63, 47)], "c": []},
    )
    import_dataset(
        root=repo,
        index_file=ds.index,
        dst="a@t1",
        media_location=media,
        gt_dir=ds.voc,
        unknown_types_strategy="add",
        bar=False,
    )
    return repo


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo", "ark", "labelstudio"])
def test_export_then_import_gives_same_boxes(imported: Path, media: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    report = export_dataset(
        root=imported,
        src_rev="a@t1",
        asset_dir=out / "images",
        gt_dir=out / "gt",
        media_location=media,
        anno_format=fmt,
        bar=False,
    )
    assert report.assets == 3 and report.gt_index is not None
    index_lines = (out / "gt" / "index.tsv").read_text().splitlines()
    assert all(
        Path(line.split("\t")[0]).is_file() and Path(line.split("\t")[1]).is_file() for line in index_lines
    )
    import_dataset(
        root=imported,
        index_file=out / "images" / "index.tsv",
        dst="back@t1",
        media_location=media,
        gt_dir=out / "gt",
        anno_format=fmt,
        bar=False,
    )
    assert _boxes(imported, "back@t1") == _boxes(imported, "a@t1")


def test_export_class_subset_and_link(imported: Path, media: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_dataset(
        root=imported,
        src_rev="a@t1",
        asset_dir=out / "images",
        gt_dir=out / "gt",
        media_location=media,
        anno_format="yolo",
        class_names="dog;person",
        link=True,
        bar=False,
    )
    assert (out / "gt" / "classes.txt").read_text().split() == ["dog", "person"]
    first = Path((out / "images" / "index.tsv").read_text().splitlines()[0])
    assert first.stat().st_nlink >= 2  # hard-linked to the media location
    with pytest.raises(UnknownClassesError, match="zebra"):
        export_dataset(
            root=imported, src_rev="a@t1", asset_dir=out / "x", media_location=media, class_names="zebra"
        )


def test_export_missing_media(imported: Path, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="media location"):
        export_dataset(
            root=imported, src_rev="a@t1", asset_dir=tmp_path / "x", media_location=tmp_path / "none"
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="missing from the media location"):
        export_dataset(
            root=imported, src_rev="a@t1", asset_dir=tmp_path / "x", media_location=tmp_path / "empty"
        )
