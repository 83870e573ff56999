"""Model verification: one uploaded image through a ready model's stage, on the API's CPU, answered at once.

The work is mir's (``mir.verification``: the stage's ONNX export, loaded once per process); this module
chooses the model location and cache folder of the workplace, and turns mir's errors into HTTP ones. It
blocks for the inference, so routes call it through the threadpool.
"""

from __future__ import annotations

from dataclasses import asdict

from mir import verification
from mir.errors import InputFileError, InvalidArgsError, ModelError, NotVerifiableError, StageNotFoundError
from ymir_backend.config import BackendSettings
from ymir_backend.errors import ApiError
from ymir_backend.mlmodels.schemas import VerificationOut, VerifiedBox


def verify(
    settings: BackendSettings,
    *,
    model_id: int,
    model_hash: str,
    stage: str | None,
    image: bytes,
    image_name: str,
    conf_threshold: float,
    max_boxes: int,
    iou_threshold: float,
) -> VerificationOut:
    """Runs ``model_hash@stage`` (default: the best stage) on ``image``.

    Raises:
        ApiError: 422 ``invalid_image`` (not a usable image, too many pixels) or ``stage_not_found``;
            409 ``model_not_verifiable`` (no ONNX export with detections) or ``model_unavailable``.
    """
    try:
        result = verification.verify(
            model_location=settings.models,
            model=f"{model_hash}@{stage or 'best'}",
            image=image,
            image_name=image_name,
            cache_dir=settings.verify_cache,
            conf_threshold=conf_threshold,
            max_boxes=max_boxes,
            iou_threshold=iou_threshold,
            max_pixels=settings.verify_max_pixels,
        )
    except InputFileError as e:
        raise ApiError(422, "invalid_image", str(e)) from e
    except StageNotFoundError as e:
        raise ApiError(422, "stage_not_found", str(e)) from e
    except InvalidArgsError as e:
        raise ApiError(422, "invalid_request", str(e)) from e
    except NotVerifiableError as e:
        raise ApiError(409, "model_not_verifiable", str(e)) from e
    except ModelError as e:
        raise ApiError(409, "model_unavailable", f"{e}; the model's package cannot be read here") from e
    return VerificationOut(
        model_id=model_id,
        stage=result.stage,
        width=result.width,
        height=result.height,
        boxes=[VerifiedBox(**asdict(b)) for b in result.boxes],
        elapsed_ms=result.elapsed_ms,
    )
