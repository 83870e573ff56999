"""mir import: what lands in the repository, and every kind of broken input."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from mir.errors import InputFileError, RevisionExistsError, RevisionNotFoundError, UnknownClassesError
from mir.ops import history
from mir.ops.importing import import_dataset
from mir.store import media as media_store
from mir.store.repo import Repo
from tests.command.conftest import make_image, make_voc_set, tree_bytes, voc_xml


def _import(repo: Path, media: Path, index: Path, dst: str = "a@t1", **kw: object):  # type: ignore[no-untyped-def]
    return import_dataset(root=repo, index_file=index, dst=dst, media_location=media, bar=False, **kw)  # type: ignore[arg-type]


def test_import_voc_stores_assets_boxes_and_classes(repo: Path, media: Path, tmp_path: Path) -> None:
    ds = make_voc_set(
        tmp_path / "d",
        {"a": [("person", 1, 2, 10, 20), ("cat", 5, 5, 30, 40)], "b": [("Person", 0, 0, 63, 47)], "c": []},
        cks={"a": {"weather": "sunny"}},
    )
    report = _import(repo, media, ds.index, gt_dir=ds.voc, unknown_types_strategy="add")
    assert report.assets == 3 and report.gt_boxes == 3
    r = Repo(repo)
    snap = r.read(r.resolve("a@t1"))
    assert sorted(snap.assets["asset_id"].to_pylist()) == sorted(ds.ids.values())
    assert r.labels().names() == ["cat", "person"]
    boxes = {
        (b["asset_id"], r.labels().name_of(b["class_id"]), b["x"], b["y"], b["w"], b["h"])
        for b in snap.gt.to_pylist()
    }
    # VOC boxes are inclusive: w = xmax - xmin + 1
    assert (ds.ids["a"], "person", 1.0, 2.0, 10.0, 19.0) in boxes
    assert (ds.ids["b"], "person", 0.0, 0.0, 64.0, 48.0) in boxes
    row = [r for r in snap.assets.to_pylist() if r["asset_id"] == ds.ids["a"]][0]
    assert (row["width"], row["height"], row["channels"], row["image_format"]) == (64, 48, 3, "jpeg")
    assert dict(row["tags"]) == {"weather": "sunny"}
    for asset_id in ds.ids.values():
        assert media_store.asset_path(media, asset_id).is_file()


def test_identical_images_are_stored_once(repo: Path, media: Path, tmp_path: Path) -> None:
    make_image(tmp_path / "x.png", seed=3, fmt="PNG")
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "y.png").write_bytes((tmp_path / "x.png").read_bytes())
    index = tmp_path / "index.txt"
    index.write_text(f"{tmp_path / 'x.png'}\ncopy/y.png\n")
    report = _import(repo, media, index)
    assert report.assets == 1 and report.duplicates == 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP"])
def test_every_image_format_reads_its_size(repo: Path, media: Path, tmp_path: Path, fmt: str) -> None:
    make_image(tmp_path / f"i.{fmt.lower()}", size=(33, 21), fmt=fmt)
    index = tmp_path / "index.txt"
    index.write_text(f"i.{fmt.lower()}\n")
    _import(repo, media, index)
    r = Repo(repo)
    row = r.read(r.resolve("a@t1")).assets.to_pylist()[0]
    assert (row["width"], row["height"], row["image_format"]) == (
        33,
        21,
        {"JPEG": "jpeg"}.get(fmt, fmt.lower()),
    )


def test_folder_lines_are_skipped(repo: Path, media: Path, tmp_path: Path) -> None:
    # YMIR's README builds the index with `find DIR`, which lists folders too
    make_image(tmp_path / "imgs" / "a.jpg")
    index = tmp_path / "index.txt"
    index.write_text(f"{tmp_path / 'imgs'}\n{tmp_path / 'imgs' / 'a.jpg'}\n")
    assert _import(repo, media, index).assets == 1


# -- broken input: each names the file (and line) and leaves the repository unchanged -------------
@pytest.fixture
def unchanged(repo: Path):  # type: ignore[no-untyped-def]
    before = tree_bytes(repo)
    yield
    assert tree_bytes(repo) == before


def _bad_index(tmp_path: Path, bad_line: str) -> Path:
    make_image(tmp_path / "ok.jpg")
    index = tmp_path / "index.txt"
    index.write_text(f"ok.jpg\n\n{bad_line}\n")
    return index


def test_missing_image_names_index_line(repo: Path, media: Path, tmp_path: Path, unchanged: None) -> None:
    index = _bad_index(tmp_path, str(tmp_path / "nope.jpg"))
    with pytest.raises(InputFileError) as e:
        _import(repo, media, index)
    assert e.value.line == 3 and "nope.jpg" in str(e.value) and "does not exist" in str(e.value)
    assert str(index) in str(e.value)


def test_unreadable_image(repo: Path, media: Path, tmp_path: Path, unchanged: None) -> None:
    make_image(tmp_path / "file.jpg")
    index = _bad_index(tmp_path, str(tmp_path / "file.jpg" / "inner.jpg"))  # ENOTDIR even as root
    with pytest.raises(InputFileError, match="cannot read image file") as e:
        _import(repo, media, index)
    assert e.value.line == 3


@pytest.mark.parametrize(
    "content,problem",
    [
        (b"", "empty"),
        (b"hello, I am a text file\n", "not an image"),
        (b"GIF", "unsupported image format GIF"),
    ],
)
def test_non_images(
    repo: Path, media: Path, tmp_path: Path, unchanged: None, content: bytes, problem: str
) -> None:
    if content == b"GIF":
        make_image(tmp_path / "bad.jpg", fmt="GIF")
    else:
        (tmp_path / "bad.jpg").write_bytes(content)
    with pytest.raises(InputFileError, match=problem) as e:
        _import(repo, media, _bad_index(tmp_path, "bad.jpg"))
    assert e.value.line == 3 and "bad.jpg" in str(e.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image(repo: Path, media: Path, tmp_path: Path, unchanged: None, fmt: str) -> None:
    make_image(tmp_path / "full.img", size=(200, 150), fmt=fmt)
    data = (tmp_path / "full.img").read_bytes()
    (tmp_path / "cut.img").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="truncated") as e:
        _import(repo, media, _bad_index(tmp_path, "cut.img"))
    assert e.value.line == 3


def test_empty_index(repo: Path, media: Path, tmp_path: Path, unchanged: None) -> None:
    index = tmp_path / "index.txt"
    index.write_text("\n# only a comment\n")
    with pytest.raises(InputFileError, match="lists no images"):
        _import(repo, media, index)


def test_missing_index(repo: Path, media: Path, tmp_path: Path, unchanged: None) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        _import(repo, media, tmp_path / "none.txt")


def test_malformed_xml_names_file(repo: Path, media: Path, tmp_path: Path, unchanged: None) -> None:
    ds = make_voc_set(tmp_path / "d", {"a": [("cat", 1, 1, 5, 5)]})
    (ds.voc / "a.xml").write_text("<annotation><object><name>cat</name><bndbox><xmin>1</xmin>")
    with pytest.raises(InputFileError) as e:
        _import(repo, media, ds.index, gt_dir=ds.voc, unknown_types_strategy="add")
    assert "a.xml" in str(e.value)


@pytest.mark.parametrize(
    "box,problem",
    [
        ((1, 1, 100, 10), "outside"),
        ((-20, 1, 10, 10), "outside"),
        ((10, 10, 8, 20), "zero or negative size"),
    ],
)
def test_bad_boxes_name_file_and_stop(
    repo: Path, media: Path, tmp_path: Path, unchanged: None, box: tuple[int, int, int, int], problem: str
) -> None:
    ds = make_voc_set(tmp_path / "d", {"a": [("cat", *box)]})
    with pytest.raises(InputFileError, match=problem) as e:
        _import(repo, media, ds.index, gt_dir=ds.voc, unknown_types_strategy="add")
    assert "a.xml" in str(e.value) and "--invalid-boxes" in str(e.value)


def test_bad_boxes_clip_or_drop(repo: Path, media: Path, tmp_path: Path) -> None:
    ds = make_voc_set(
        tmp_path / "d", {"a": [("cat", 1, 1, 100, 10), ("cat", 10, 10, 8, 20), ("dog", 2, 2, 9, 9)]}
    )
    clipped = _import(
        repo, media, ds.index, gt_dir=ds.voc, unknown_types_strategy="add", invalid_box_strategy="clip"
    )
    assert clipped.gt_boxes == 2
    r = Repo(repo)
    xs = sorted((b["x"], b["w"]) for b in r.read(r.resolve("a@t1")).gt.to_pylist())
    assert xs == [(1.0, 63.0), (2.0, 8.0)]
    dropped = _import(repo, media, ds.index, "a@t2", gt_dir=ds.voc, invalid_box_strategy="drop")
    assert dropped.gt_boxes == 1


@pytest.mark.parametrize("name", ["cat;dog", "cat,dog"])
def test_class_name_with_separator(
    repo: Path, media: Path, tmp_path: Path, unchanged: None, name: str
) -> None:
    ds = make_voc_set(tmp_path / "d", {"a": [(name, 1, 1, 5, 5)]})
    with pytest.raises(InputFileError, match="may not contain") as e:
        _import(repo, media, ds.index, gt_dir=ds.voc, unknown_types_strategy="add")
    assert "a.xml" in str(e.value)


def test_unknown_class_strategies(repo: Path, media: Path, tmp_path: Path) -> None:
    history.add_label(root=repo, name="bike", aliases=["bicycle"])
    ds = make_voc_set(
        tmp_path / "d", {"a": [("bicycle", 1, 1, 5, 5), ("zebra", 2, 2, 6, 6)], "b": [("Bike", 1, 1, 9, 9)]}
    )
    before = tree_bytes(repo)
    with pytest.raises(UnknownClassesError) as e:
        _import(repo, media, ds.index, gt_dir=ds.voc)
    assert "zebra" in str(e.value) and "a.xml" in str(e.value)
    assert tree_bytes(repo) == before
    ignored = _import(repo, media, ds.index, "a@ignore", gt_dir=ds.voc, unknown_types_strategy="ignore")
    assert ignored.gt_boxes == 2 and ignored.ignored_boxes == {"zebra": 1}
    assert Repo(repo).labels().names() == ["bike"]
    added = _import(repo, media, ds.index, "a@add", gt_dir=ds.voc, unknown_types_strategy="add")
    assert added.gt_boxes == 3 and added.added_classes == ["zebra"]
    assert Repo(repo).labels().names() == ["bike", "zebra"]


def test_destination_exists_and_unknown_parent(repo: Path, media: Path, tmp_path: Path) -> None:
    index = _bad_index(tmp_path, "ok.jpg")
    _import(repo, media, index)
    before = tree_bytes(repo)
    with pytest.raises(RevisionExistsError, match="already exists"):
        _import(repo, media, index)
    with pytest.raises(RevisionNotFoundError, match="nobranch"):
        _import(repo, media, index, "b@t1", src_rev="nobranch")
    assert tree_bytes(repo) == before


def test_same_stem_different_images_with_annotations(
    repo: Path, media: Path, tmp_path: Path, unchanged: None
) -> None:
    make_image(tmp_path / "x" / "a.jpg", seed=1)
    make_image(tmp_path / "y" / "a.jpg", seed=2)
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "a.xml").write_text(voc_xml("a.jpg", (64, 48), [("cat", 1, 1, 4, 4)]))
    index = tmp_path / "index.txt"
    index.write_text("x/a.jpg\ny/a.jpg\n")
    with pytest.raises(InputFileError, match="same file stem") as e:
        _import(repo, media, index, gt_dir=tmp_path / "voc", unknown_types_strategy="add")
    assert e.value.line == 2


def test_media_store_repairs_a_killed_writers_partial_file(tmp_path: Path) -> None:
    data = b"\xff\xd8" + b"x" * 1000
    media_store.store_bytes(tmp_path, "ab" * 20, data)
    path = media_store.asset_path(tmp_path, "ab" * 20)
    path.write_bytes(data[:100])  # what a writer killed mid-write leaves
    assert media_store.store_bytes(tmp_path, "ab" * 20, data) is True
    assert path.read_bytes() == data
    assert media_store.store_bytes(tmp_path, "ab" * 20, data) is False
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


@pytest.mark.parametrize("pool_kind", ["serial", "process"])
def test_images_are_read_straight_from_a_zip(
    repo: Path, media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool_kind: str
) -> None:
    import zipfile

    from mir import parallel

    monkeypatch.setenv("MIR_POOL", pool_kind)
    monkeypatch.setenv("MIR_WORKERS", "2")
    monkeypatch.setattr("mir.ops.importing.pool", partial(parallel.pool, min_items=1))
    monkeypatch.setattr("mir.ops.importing._CHUNK", 2)
    stems = [f"s{i}" for i in range(7)]
    ds = make_voc_set(tmp_path / "d", {s: [("cat", 1, 1, 10, 10)] for s in stems})
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for s in stems:
            zf.write(tmp_path / "d" / "images" / f"{s}.jpg", f"top/images/{s}.jpg")
    index = tmp_path / "members.txt"
    index.write_text("".join(f"top/images/{s}.jpg\n" for s in stems))
    report = _import(repo, media, index, gt_dir=ds.voc, archive=archive, unknown_types_strategy="add")
    assert report.assets == 7 and report.gt_boxes == 7
    snap = Repo(repo).read(Repo(repo).resolve("a@t1"))
    assert sorted(snap.assets["asset_id"].to_pylist()) == sorted(ds.ids.values())
    assert sorted(snap.assets["origin_name"].to_pylist()) == sorted(f"{s}.jpg" for s in stems)
    for asset_id in ds.ids.values():
        assert media_store.asset_path(media, asset_id).is_file()
    from mir.ops import importing

    assert importing._ZIPS == {}  # the archive is closed again (an upload is deleted after its import)


def test_a_broken_zip_entry_names_the_archive_and_the_entry(
    repo: Path, media: Path, tmp_path: Path, unchanged: None
) -> None:
    import zipfile

    make_image(tmp_path / "ok.jpg")
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "ok.jpg", "images/ok.jpg")
        zf.writestr("images/bad.jpg", b"hello, I am a text file\n")
    index = tmp_path / "members.txt"
    index.write_text("images/ok.jpg\nimages/bad.jpg\nimages/gone.jpg\n")
    with pytest.raises(InputFileError, match="not an image") as e:
        _import(repo, media, index, archive=archive)
    assert str(archive) in str(e.value) and "images/bad.jpg" in str(e.value)
    index.write_text("images/ok.jpg\nimages/gone.jpg\n")
    with pytest.raises(InputFileError, match="images/gone.jpg: is not an entry of the archive"):
        _import(repo, media, index, archive=archive)
