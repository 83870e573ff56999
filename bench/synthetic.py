"""Seeded synthetic detection datasets in Pascal VOC layout, for tests and benchmarks.

Writes ``<out>/images/<name>.jpg``, ``<out>/annotations/<name>.xml`` and ``<out>/index.txt`` (absolute
image paths, one per line). Objects are filled shapes on textured backgrounds; class ``i`` is drawn as
shape ``SHAPES[i % len(SHAPES)]`` with fill style ``i // len(SHAPES)`` (solid, outlined, striped), so any
list of class names works (``["person", "cat", "dog"]`` is as good as the default). Colours are random and
carry no class information.

"Unlike" objects (``unlike_fraction``) are shapes no class uses but that sit between the class shapes
(rounded squares, ellipses, semicircles, trapezoids, pentagons, random blobs), in the same colours and
sizes; they are not annotated, and an image that holds them holds nothing else. The names of those
images go to ``<out>/unlike.txt``. Mining tests use them as the objects a model has never seen.

Only NumPy and Pillow are used; 128 px images are written at a few thousand per second.

Example:
    >>> from bench.synthetic import generate_voc
    >>> root = generate_voc(Path("/tmp/shapes"), n_images=200, seed=1, classes=["person", "cat", "dog"])
    >>> (root / "index.txt").read_text().splitlines()[0]   # '/tmp/shapes/images/shapes_000000.jpg'
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw

DEFAULT_CLASSES: tuple[str, ...] = ("circle", "square", "triangle")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "cross_x", "hexagon", "arrow")
UNLIKE_SHAPES: tuple[str, ...] = ("rounded_square", "ellipse", "semicircle", "trapezoid", "pentagon", "blob")
STYLES: tuple[str, ...] = ("solid", "outline", "striped")


@dataclass(frozen=True)
class _Obj:
    """One drawn object: its class index (-1 for an unlike object) and its box, pixel xyxy, exclusive max."""

    cls: int
    x0: float
    y0: float
    x1: float
    y1: float


def _background(rng: np.random.Generator, width: int, height: int, clutter: float) -> Image.Image:
    """A smooth random colour field plus fine noise; ``clutter`` (0..1) adds lines and specks."""
    coarse = rng.uniform(40, 215, size=(rng.integers(2, 6), rng.integers(2, 6), 3)).astype(np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.int16)
    arr = arr + rng.integers(-12, 13, size=(height, width, 1), dtype=np.int16)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if clutter > 0:
        draw = ImageDraw.Draw(img)
        n_lines = int(rng.poisson(clutter * 8))
        for _ in range(n_lines):
            pts = rng.uniform(0, 1, size=4) * (width, height, width, height)
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
            draw.line([float(v) for v in pts], fill=colour, width=int(rng.integers(1, 3)))
        n_specks = int(rng.poisson(clutter * 20))
        for _ in range(n_specks):
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            r = rng.uniform(0.5, 2.0)
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    return img


def _polygon(kind: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    """Vertices of a polygonal shape of circumradius ``r`` centred at ``(cx, cy)``, rotated by ``rot`` rad."""
    if kind == "square":
        angles = [math.pi / 4 + k * math.pi / 2 for k in range(4)]
        radii = [r] * 4
    elif kind == "triangle":
        angles = [-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
        radii = [r] * 3
    elif kind == "diamond":
        angles = [k * math.pi / 2 for k in range(4)]
        radii = [r, r * 0.6, r, r * 0.6]
    elif kind == "star":
        angles = [-math.pi / 2 + k * math.pi / 5 for k in range(10)]
        radii = [r if k % 2 == 0 else r * 0.45 for k in range(10)]
    elif kind in ("hexagon", "pentagon", "octagon"):
        n = {"hexagon": 6, "pentagon": 5, "octagon": 8}[kind]
        angles = [-math.pi / 2 + k * 2 * math.pi / n for k in range(n)]
        radii = [r] * n
    elif kind == "arrow":
        pts = [(-1.0, -0.3), (0.2, -0.3), (0.2, -0.75), (1.0, 0.0), (0.2, 0.75), (0.2, 0.3), (-1.0, 0.3)]
        angles = [math.atan2(y, x) for x, y in pts]
        radii = [r * math.hypot(x, y) / 1.25 for x, y in pts]
    elif kind == "cross_x" or kind == "plus":
        base = [
            (0.25, 1.0),
            (0.25, 0.25),
            (1.0, 0.25),
            (1.0, -0.25),
            (0.25, -0.25),
            (0.25, -1.0),
            (-0.25, -1.0),
            (-0.25, -0.25),
            (-1.0, -0.25),
            (-1.0, 0.25),
            (-0.25, 0.25),
            (-0.25, 1.0),
        ]
        extra = math.pi / 4 if kind == "cross_x" else 0.0
        angles = [math.atan2(y, x) + extra for x, y in base]
        radii = [r * math.hypot(x, y) / math.sqrt(2) * 1.35 for x, y in base]
    else:  # pragma: no cover - internal misuse
        raise ValueError(f"unknown polygon kind {kind!r}")
    return [
        (cx + rr * math.cos(a + rot), cy + rr * math.sin(a + rot))
        for a, rr in zip(angles, radii, strict=True)
    ]


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    *,
    kind: str,
    style: str,
    cx: float,
    cy: float,
    r: float,
    colour: tuple[int, int, int],
) -> tuple[float, float, float, float]:
    """Draws one shape and returns its box (pixel xyxy, exclusive max)."""
    rot = float(
        rng.uniform(-0.15, 0.15) if kind in ("square", "triangle", "diamond") else rng.uniform(-0.3, 0.3)
    )
    line_w = max(2, int(r * 0.3))
    if kind == "circle":
        xy = [cx - r, cy - r, cx + r, cy + r]
        if style == "outline":
            draw.ellipse(xy, outline=colour, width=line_w)
        else:
            draw.ellipse(xy, fill=colour)
        box = (cx - r, cy - r, cx + r, cy + r)
    elif kind == "rounded_square":
        side = r * 0.8
        draw.rounded_rectangle([cx - side, cy - side, cx + side, cy + side], radius=side * 0.6, fill=colour)
        box = (cx - side, cy - side, cx + side, cy + side)
    elif kind == "ellipse":
        ry = r * float(rng.uniform(0.45, 0.6))
        draw.ellipse([cx - r, cy - ry, cx + r, cy + ry], fill=colour)
        box = (cx - r, cy - ry, cx + r, cy + ry)
    elif kind == "semicircle":
        draw.chord([cx - r, cy - r, cx + r, cy + r], start=180, end=360, fill=colour)
        box = (cx - r, cy - r, cx + r, cy)
    elif kind == "trapezoid":
        pts = [
            (cx - r, cy + r * 0.6),
            (cx + r, cy + r * 0.6),
            (cx + r * 0.45, cy - r * 0.6),
            (cx - r * 0.45, cy - r * 0.6),
        ]
        draw.polygon(pts, fill=colour)
        box = (cx - r, cy - r * 0.6, cx + r, cy + r * 0.6)
    elif kind == "blob":
        n = int(rng.integers(5, 9))
        angles = np.sort(rng.uniform(0, 2 * math.pi, size=n))
        radii = rng.uniform(0.4, 1.0, size=n) * r
        pts = [
            (cx + float(rr * math.cos(a)), cy + float(rr * math.sin(a)))
            for a, rr in zip(angles, radii, strict=True)
        ]
        draw.polygon(pts, fill=colour)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        box = (min(xs), min(ys), max(xs), max(ys))
    else:
        pts = _polygon(kind, cx, cy, r, rot)
        if style == "outline":
            draw.polygon(pts, outline=colour, width=line_w)
        else:
            draw.polygon(pts, fill=colour)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        box = (min(xs), min(ys), max(xs), max(ys))
    if style == "striped" and kind not in UNLIKE_SHAPES:
        stripe = tuple(255 - c for c in colour)
        x0, y0, x1, y1 = box
        step = max(3.0, r * 0.35)
        y = y0 + step / 2
        while y < y1:
            # Stripes only inside the shape's box; they read as texture on the object.
            draw.line([(x0 + r * 0.3, y), (x1 - r * 0.3, y)], fill=stripe, width=max(1, int(step / 3)))
            y += step
    return box


def _voc_xml(name: str, width: int, height: int, objects: Sequence[_Obj], classes: Sequence[str]) -> str:
    """Pascal VOC annotation text; box max is inclusive (``xmax = x + w - 1``) as YMIR exports it."""
    parts = [
        "<annotation>",
        f"  <filename>{escape(name)}.jpg</filename>",
        f"  <size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
    ]
    for obj in objects:
        if obj.cls < 0:
            continue
        xmin = max(0, int(math.floor(obj.x0)))
        ymin = max(0, int(math.floor(obj.y0)))
        xmax = min(width - 1, int(math.ceil(obj.x1)) - 1)
        ymax = min(height - 1, int(math.ceil(obj.y1)) - 1)
        if xmax <= xmin or ymax <= ymin:
            continue
        parts += [
            "  <object>",
            f"    <name>{escape(classes[obj.cls])}</name>",
            "    <pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>",
            f"    <bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>",
            "  </object>",
        ]
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def _overlap_share(box: tuple[float, float, float, float], other: _Obj) -> float:
    """Share of ``other``'s area that ``box`` would cover."""
    ix = max(0.0, min(box[2], other.x1) - max(box[0], other.x0))
    iy = max(0.0, min(box[3], other.y1) - max(box[1], other.y0))
    area = max(1e-6, (other.x1 - other.x0) * (other.y1 - other.y0))
    return ix * iy / area


def _pick_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated random colour (one channel low, one high); colour never tells the class."""
    c = rng.integers(0, 256, size=3)
    c[int(rng.integers(0, 3))] = int(rng.integers(0, 50))
    c[int(rng.integers(0, 3))] = int(rng.integers(205, 256))
    return (int(c[0]), int(c[1]), int(c[2]))


def render_image(
    rng: np.random.Generator,
    *,
    n_classes: int,
    image_size: tuple[int, int],
    objects_per_image: tuple[int, int],
    object_size: tuple[float, float],
    clutter: float,
    occlusion: float,
    class_weights: np.ndarray,
    unlike: bool,
) -> tuple[Image.Image, list[_Obj]]:
    """Renders one image and returns it with its objects (``cls == -1`` for unlike objects)."""
    width, height = image_size
    img = _background(rng, width, height, clutter)
    draw = ImageDraw.Draw(img)
    n_obj = int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))
    kinds: list[int] = []
    for _ in range(n_obj):
        # An unlike image holds only unlike objects: nothing in it looks like the training classes.
        if unlike:
            kinds.append(-1)
        else:
            kinds.append(int(rng.choice(n_classes, p=class_weights)))
    objects: list[_Obj] = []
    side = min(width, height)
    for cls in kinds:
        for _ in range(20):  # rejection sampling for the allowed overlap
            r = float(rng.uniform(object_size[0], object_size[1])) * side / 2
            cx = float(rng.uniform(r, width - r))
            cy = float(rng.uniform(r, height - r))
            box = (cx - r, cy - r, cx + r, cy + r)
            if all(_overlap_share(box, o) <= occlusion for o in objects):
                break
        else:
            continue
        colour = _pick_colour(rng)
        if cls < 0:
            kind = UNLIKE_SHAPES[int(rng.integers(0, len(UNLIKE_SHAPES)))]
            style = "solid"
        else:
            kind = SHAPES[cls % len(SHAPES)]
            style = STYLES[(cls // len(SHAPES)) % len(STYLES)]
        x0, y0, x1, y1 = _draw_shape(draw, rng, kind=kind, style=style, cx=cx, cy=cy, r=r, colour=colour)
        objects.append(
            _Obj(cls, max(0.0, x0), max(0.0, y0), min(float(width), x1 + 1), min(float(height), y1 + 1))
        )
    return img, objects


def generate_voc(
    out_dir: Path,
    *,
    n_images: int,
    seed: int = 0,
    classes: Sequence[str] = DEFAULT_CLASSES,
    image_size: tuple[int, int] = (128, 128),
    objects_per_image: tuple[int, int] = (1, 3),
    object_size: tuple[float, float] = (0.15, 0.4),
    clutter: float = 0.3,
    occlusion: float = 0.0,
    class_weights: Sequence[float] | None = None,
    unlike_fraction: float = 0.0,
    name_prefix: str = "shapes",
    jpeg_quality: int = 90,
) -> Path:
    """Writes a seeded synthetic detection dataset in Pascal VOC layout and returns ``out_dir``.

    The same arguments always give byte-identical files.

    Args:
        out_dir: Dataset root; created if missing. ``images/``, ``annotations/`` and ``index.txt`` go there.
        n_images: How many images to write.
        seed: Seed of the NumPy generator that drives everything.
        classes: Class names, in class-index order; any non-empty, distinct names (up to 24 distinct looks).
        image_size: ``(width, height)`` in pixels.
        objects_per_image: Inclusive range of objects per image (``(0, 0)`` gives background-only images).
        object_size: Range of object diameter as a fraction of the shorter image side.
        clutter: 0..1, amount of distracting lines and specks on the background.
        occlusion: 0..1, the largest share of an earlier object a later one may cover (0: no overlap).
        class_weights: Relative frequency per class (class imbalance); uniform when ``None``.
        unlike_fraction: Share of images that hold unlike objects (unannotated shapes no class uses); their
            names are listed in ``<out_dir>/unlike.txt``.
        name_prefix: Image names are ``<name_prefix>_<six-digit index>``.
        jpeg_quality: JPEG quality of the written images.

    Returns:
        ``out_dir``. The index of absolute image paths is ``out_dir / "index.txt"``.

    Raises:
        ValueError: On empty or duplicate class names, or knobs out of range.
    """
    names = [str(c) for c in classes]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"classes must be non-empty and distinct, got {names!r}")
    if n_images < 0 or objects_per_image[0] < 0 or objects_per_image[1] < objects_per_image[0]:
        raise ValueError(
            "n_images must be >= 0 and objects_per_image a (min, max) range with 0 <= min <= max"
        )
    if not 0 < object_size[0] <= object_size[1] <= 1:
        raise ValueError(f"object_size must satisfy 0 < min <= max <= 1, got {object_size!r}")
    weights = np.ones(len(names)) if class_weights is None else np.asarray(class_weights, dtype=np.float64)
    if weights.shape != (len(names),) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("class_weights must hold one non-negative weight per class, not all zero")
    weights = weights / weights.sum()

    out_dir = Path(out_dir).resolve()
    img_dir, ann_dir = out_dir / "images", out_dir / "annotations"
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    index_lines: list[str] = []
    unlike_names: list[str] = []
    for i in range(n_images):
        name = f"{name_prefix}_{i:06d}"
        unlike = bool(rng.random() < unlike_fraction)
        img, objects = render_image(
            rng,
            n_classes=len(names),
            image_size=image_size,
            objects_per_image=objects_per_image,
            object_size=object_size,
            clutter=clutter,
            occlusion=occlusion,
            class_weights=weights,
            unlike=unlike,
        )
        img_path = img_dir / f"{name}.jpg"
        img.save(img_path, "JPEG", quality=jpeg_quality)
        (ann_dir / f"{name}.xml").write_text(_voc_xml(name, image_size[0], image_size[1], objects, names))
        index_lines.append(str(img_path))
        if unlike:
            unlike_names.append(name)
    (out_dir / "index.txt").write_text("".join(f"{line}\n" for line in index_lines))
    if unlike_fraction > 0:
        (out_dir / "unlike.txt").write_text("".join(f"{n}\n" for n in unlike_names))
    return out_dir


def add_gt_as_predictions(
    dataset: Path, *, every: int = 1, confidence: float = 0.9
) -> dict[str, tuple[int, int]]:
    """Give a VOC dataset of :func:`generate_voc` a ``predictions/`` folder holding its own gt boxes
    (with ``confidence``) on every ``every``-th image in name order: predictions whose evaluation is
    known. Returns per class (gt boxes, predicted boxes).

    Every prediction matches a gt box exactly, so precision is 1 at every recall and COCO's
    101-point AP of a class with k of its n boxes predicted is ``(floor(100 k / n) + 1) / 101`` at
    every IoU threshold: 1.0 for ``every=1``.
    """
    out = dataset / "predictions"
    out.mkdir(exist_ok=True)
    counts: dict[str, list[int]] = {}
    for i, xml in enumerate(sorted((dataset / "annotations").glob("*.xml"))):
        text = xml.read_text()
        kept = i % every == 0
        for name in re.findall(r"<name>([^<]+)</name>", text):
            c = counts.setdefault(name, [0, 0])
            c[0] += 1
            c[1] += kept
        if kept:
            scored = text.replace("</name>", f"</name>\n    <confidence>{confidence}</confidence>")
            (out / xml.name).write_text(scored)
    return {name: (n, kept) for name, (n, kept) in counts.items()}


def expected_ap(counts: dict[str, tuple[int, int]]) -> float:
    """The mAP (every IoU threshold alike) of :func:`add_gt_as_predictions`'s predictions."""
    per_class = [
        (math.floor(100 * kept / n + 1e-9) + 1) / 101 if kept else 0.0 for n, kept in counts.values()
    ]
    return sum(per_class) / len(per_class)


def zip_voc(dataset: Path) -> bytes:
    """A dataset of :func:`generate_voc` (its ``images/``, ``annotations/`` and any ``predictions/``) as
    the zip an upload takes; its index files, which hold absolute paths, stay out."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(dataset.rglob("*")):
            if p.is_file() and p.suffix in (".jpg", ".xml"):
                zf.write(p, str(p.relative_to(dataset)))
    return buf.getvalue()


def import_voc(repo: Path, dataset: Path, *, dst: str, media: Path) -> None:
    """Import a dataset of :func:`generate_voc` (ground truth only) into the mir repository ``repo`` as
    ``dst``, adding its class names to the repository's label file."""
    from mir.ops.importing import import_dataset  # here: generating data needs no mir

    import_dataset(
        root=repo,
        index_file=dataset / "index.txt",
        gt_dir=dataset / "annotations",
        dst=dst,
        media_location=media,
        unknown_types_strategy="add",
        bar=False,
    )
