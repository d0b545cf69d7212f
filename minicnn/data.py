"""Images and data: load/save, resize and crop, ImageNet labels, image folders.

Images are uint8 arrays of shape (H, W, 3) in RGB order.  Pillow does the
decoding and the (antialiased) bilinear resize, as torchvision's evaluation
transform does, so preprocessing matches the published accuracy figures.
"""
import json
import os
from pathlib import Path

import numpy as np

__all__ = ["data_dir", "load_image", "save_image", "to_rgb", "resize_short_side", "center_crop",
           "prepare_images", "list_images", "IMAGE_EXTENSIONS", "imagenet_class_names",
           "imagenet_sample", "sample_photos"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def data_dir(required=False):
    """The shared data folder: ``$MINICNN_DATA``, else ``../shared/data`` next to the
    source checkout, else None (or a clear error when ``required``)."""
    env = os.environ.get("MINICNN_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    if required:
        raise FileNotFoundError("no data folder: set MINICNN_DATA to the shared data folder "
                                f"(looked in {', '.join(map(str, candidates))})")
    return None


def to_rgb(img):
    """Convert an image array to uint8 RGB (H, W, 3): grey (H, W) or (H, W, 1) is
    repeated, RGBA is composited on white, floats in [0, 1] are scaled to 0..255."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating):
            if img.size and img.max() <= 1.0:
                img = img * 255.0
            img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        elif np.issubdtype(img.dtype, np.integer) or img.dtype == bool:
            img = np.clip(img, 0, 255).astype(np.uint8)
        else:
            raise TypeError(f"img must be a numeric image array, got dtype {img.dtype}")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f"img must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = np.round(img[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(img)


def load_image(path, size=None):
    """Read an image file as uint8 RGB (H, W, 3); ``size`` resizes the short side."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                img = to_rgb(np.asarray(im.convert("RGBA")))
            else:
                img = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read {path} as an image: {exc}") from None
    if size is not None:
        img = resize_short_side(img, size)
    return np.ascontiguousarray(img)


def save_image(path, img):
    """Write a uint8 (H, W, 3) or (H, W) image (float images in [0, 1] are scaled)."""
    from PIL import Image
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.clip(img if img.dtype == np.uint8 else np.round(img * 255), 0, 255)
        Image.fromarray(img.astype(np.uint8), "L").save(path)
    else:
        Image.fromarray(to_rgb(img)).save(path)
    return path


def resize_short_side(img, size):
    """Resize so that the shorter side has ``size`` pixels (Pillow bilinear,
    antialiased when shrinking, like torchvision's Resize on PIL images)."""
    from PIL import Image
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    h, w = img.shape[:2]
    if min(h, w) == size:
        return img
    if h <= w:
        new_h, new_w = size, int(size * w / h)
    else:
        new_h, new_w = int(size * h / w), size
    return np.asarray(Image.fromarray(img).resize((new_w, new_h), Image.BILINEAR))


def center_crop(img, crop):
    """Centre crop of ``crop`` x ``crop`` (or (h, w)) pixels, rounding as torchvision."""
    ch, cw = (crop, crop) if np.isscalar(crop) else crop
    h, w = img.shape[:2]
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} is larger than the image ({h}x{w}); "
                         f"resize first or use a smaller crop")
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return img[top:top + ch, left:left + cw]


def prepare_images(img, size=256, crop=224):
    """One image (H, W, 3), a batch (N, H, W, 3) or a list of images -> uint8
    (N, h, w, 3): each converted to RGB, short side resized to ``size``
    (None keeps it) and centre-cropped to ``crop`` (None keeps all)."""
    if isinstance(img, np.ndarray) and img.ndim == 4:
        images = list(img)
    elif isinstance(img, (list, tuple)):
        images = list(img)
    else:
        images = [img]
    if not images:
        raise ValueError("img is an empty list of images")
    out = []
    for i, im in enumerate(images):
        if isinstance(im, (str, os.PathLike)):
            im = load_image(im)
        im = to_rgb(im)
        if size is not None:
            im = resize_short_side(im, size)
        if crop is not None:
            im = center_crop(im, crop)
        out.append(im)
    shapes = {im.shape for im in out}
    if len(shapes) != 1:
        raise ValueError(f"images have different sizes after resizing {sorted(shapes)}; "
                         "pass crop= to make them equal")
    return np.stack(out)


def list_images(folder):
    """Sorted image files of a folder (by file name); raises on a missing or empty folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"image folder {folder} contains no images "
                         f"({', '.join(IMAGE_EXTENSIONS)})")
    return files


def imagenet_class_names(kind="short_names"):
    """The 1000 ImageNet class names in index order from the data folder's
    ``imagenet_classes.json`` (``names``, ``short_names``, ``clean_names`` or
    ``wnids``), or None when no data folder is available."""
    root = data_dir()
    if root is None or not (root / "imagenet_classes.json").is_file():
        return None
    with open(root / "imagenet_classes.json") as f:
        table = json.load(f)
    if kind not in table:
        raise ValueError(f"kind must be one of {sorted(k for k in table if k != 'source')}")
    return list(table[kind])


def imagenet_sample(limit=None):
    """(paths, labels) of the labelled ImageNet photos in ``<data>/imagenet_sample``."""
    root = data_dir(required=True) / "imagenet_sample"
    paths, labels = [], []
    with open(root / "labels.tsv") as f:
        next(f)
        for line in f:
            name, index, _ = line.rstrip("\n").split("\t")
            paths.append(root / name)
            labels.append(int(index))
            if limit is not None and len(paths) >= limit:
                break
    return paths, np.array(labels)


def sample_photos():
    """Paths of the sample photos that scikit-learn ships (china.jpg, flower.jpg)."""
    try:
        import sklearn.datasets
    except ImportError:  # pragma: no cover
        return []
    root = Path(sklearn.datasets.__file__).parent / "images"
    return sorted(root.glob("*.jpg"))
