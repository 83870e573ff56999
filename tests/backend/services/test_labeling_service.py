"""labeling.service: the label task's request, and the signed image links Label Studio loads."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from PIL import Image
from sqlalchemy.orm import Session

from mir.store import media
from tests.backend.services.conftest import make_project, make_user, make_version
from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError
from ymir_backend.labeling import service
from ymir_backend.labeling.schemas import LabelingIn
from ymir_backend.services.engine import Engine
from ymir_controller.protocol import label_url_key, label_url_signature


def test_a_label_task_names_the_classes_and_annotators(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner, classes=("cat", "dog"))
    src = make_version(db, project, group="street")
    body = LabelingIn(annotators=["ann@example.com"], instruction="boxes around pets", pre_annotations="gt")

    task = service.label(db, engine, user=owner, dataset_id=src.id, body=body)

    req = task.request
    assert (req["kind"], req["src_rev"], req["class_names"]) == ("label", src.rev, ["cat", "dog"])
    assert (req["annotators"], req["pre_annotations"]) == (["ann@example.com"], "gt")
    assert req["title"].startswith(f"{project.name} · street-labeled v1")


def test_no_classes_and_bad_annotators_are_refused(db: Session, engine: Engine) -> None:
    owner = make_user(db)
    project = make_project(db, owner, classes=())
    src = make_version(db, project)
    with pytest.raises(ApiError) as no_classes:
        service.label(db, engine, user=owner, dataset_id=src.id, body=LabelingIn())
    assert no_classes.value.status == 422 and no_classes.value.detail.startswith("class_names:")
    with pytest.raises(ApiError) as bad:
        service.label(
            db, engine, user=owner, dataset_id=src.id, body=LabelingIn(class_names=["a"], annotators=["x"])
        )
    assert bad.value.detail == "annotators: 'x' is not an e-mail address"


def test_image_links_need_a_valid_unexpired_signature(settings: BackendSettings) -> None:
    asset = "a" * 40
    later = int(time.time()) + 60
    with pytest.raises(ApiError) as forged:
        service.signed_image(settings, task_id="t1", asset_id=asset, expires=later, sig="0" * 64)
    assert (forged.value.status, forged.value.code) == (403, "bad_signature")
    past = int(time.time()) - 1
    sig = label_url_signature(label_url_key(settings.root), "t1", asset, past)
    with pytest.raises(ApiError) as expired:
        service.signed_image(settings, task_id="t1", asset_id=asset, expires=past, sig=sig)
    assert expired.value.code == "link_expired"
    sig = label_url_signature(label_url_key(settings.root), "t1", asset, later)
    with pytest.raises(ApiError) as missing:
        service.signed_image(settings, task_id="t1", asset_id=asset, expires=later, sig=sig)
    assert (missing.value.status, missing.value.code) == (404, "asset_not_found")


@pytest.mark.parametrize(
    ("fmt", "media_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_a_signed_link_serves_the_image_with_its_type(
    settings: BackendSettings, fmt: str, media_type: str
) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 10, 10)).save(buf, fmt)
    asset = hashlib.sha1(buf.getvalue()).hexdigest()
    media.store_bytes(settings.root / "media", asset, buf.getvalue())
    later = int(time.time()) + 60
    sig = label_url_signature(label_url_key(settings.root), "t2", asset, later)

    path, got = service.signed_image(settings, task_id="t2", asset_id=asset, expires=later, sig=sig)

    assert got == media_type and path.read_bytes() == buf.getvalue()
