"""Images and data: load/save, resize and crop, ImageNet labels, image folders.

Images are uint8 arrays of shape (H, W, 3) in RGB order.  Pillow does the
decoding and the (antialiased) bilinear resize, as torchvision's evaluation
transform does, so preprocessing matches the published accuracy figures.
"""
import json
import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["data_dir", "data_roots", "load_image", "save_image", "to_rgb", "resize_short_side",
           "center_crop", "prepare_images", "list_images", "IMAGE_EXTENSIONS",
           "imagenet_class_names", "imagenet_sample", "sample_photos", "available_images",
           "find_image", "pick_image", "image_names", "embedded_image_path", "ImageSet", "EMBEDDED_IMAGES",
           "CS231N_IMAGES", "IMAGE_KINDS", "PACKAGE_DATA", "shipped_weights_dir",
           "MAX_IMAGE_PIXELS", "max_image_pixels"]

#: Data shipped inside the package: the class table and the three paintings.
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def data_dir(required=False):
    """The data folder: ``$MINICNN_DATA`` when set (``none`` or an empty value
    means no data folder; a missing path is no data folder either, never a
    fallback), else ``../shared/data`` next to a source checkout, else None
    (or a FileNotFoundError saying what to set when ``required``).

    The data folder is optional: without it minicnn uses the embedded images
    (:func:`available_images`) and what ``python -m minicnn data fetch`` put in
    the cache (:func:`data_roots`)."""
    env = os.environ.get("MINICNN_DATA")
    if env is not None:
        candidates = [] if env.strip().lower() in ("", "none", "0") else [Path(env)]
    else:
        candidates = [Path(__file__).resolve().parents[1] / ".." / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    if required:
        raise FileNotFoundError("no data folder: set MINICNN_DATA to a data folder "
                                f"(looked in {', '.join(map(str, candidates)) or 'nothing'}); "
                                "the embedded images need none (minicnn.data.available_images)")
    return None


def to_rgb(img):
    """Convert an image array to uint8 RGB (H, W, 3): grey (H, W) or (H, W, 1) is
    repeated, RGBA is composited on white, floats in [0, 1] are scaled to 0..255,
    16-bit images (uint16, 0..65535) are scaled to 0..255, other integers clipped.
    NaN or infinite pixels and empty images are refused (ValueError)."""
    img = np.asarray(img)
    if img.ndim >= 2 and (img.shape[0] == 0 or img.shape[1] == 0):
        raise ValueError(f"img is empty: shape {img.shape} (an image needs at least 1x1 pixels)")
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating):
            if not np.isfinite(img).all():
                raise ValueError(f"img contains {int((~np.isfinite(img)).sum())} NaN or "
                                 "infinite pixels; expected finite values in 0..1 or 0..255")
            if img.size and img.max() <= 1.0:
                img = img * 255.0
            img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        elif img.dtype == np.uint16:
            img = np.round(img.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
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


#: The largest image :func:`load_image` decodes, in pixels (Pillow's own default,
#: about 89 million, e.g. 9500 x 9500); raise it with ``$MINICNN_MAX_IMAGE_PIXELS``.
MAX_IMAGE_PIXELS = 89_478_485


def max_image_pixels():
    """The pixel limit in force: ``$MINICNN_MAX_IMAGE_PIXELS`` or :data:`MAX_IMAGE_PIXELS`."""
    text = os.environ.get("MINICNN_MAX_IMAGE_PIXELS")
    if not text:
        return MAX_IMAGE_PIXELS
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"MINICNN_MAX_IMAGE_PIXELS must be a whole number of pixels, "
                         f"got {text!r}") from None
    if value < 1:
        raise ValueError(f"MINICNN_MAX_IMAGE_PIXELS must be positive, got {value}")
    return value


def load_image(path, size=None):
    """Read an image file as uint8 RGB (H, W, 3); ``size`` resizes the short side.

    16-bit files (greyscale ``I;16``, 32-bit integer ``I``) are scaled to 8 bits
    from their own bit depth; transparency is composited on white.  Files of more
    than :func:`max_image_pixels` pixels are refused before decoding (ValueError
    naming ``$MINICNN_MAX_IMAGE_PIXELS``), as are files that are not images."""
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    limit = max_image_pixels()
    saved = Image.MAX_IMAGE_PIXELS               # Pillow refuses at twice its limit:
    Image.MAX_IMAGE_PIXELS = limit               # make that ours while this file opens
    try:
        with warnings.catch_warnings(), Image.open(path) as im:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            w, h = im.size
            if w * h > limit:
                raise ValueError(f"{path} is {w}x{h} = {w * h:,} pixels, more than the limit "
                                 f"of {limit:,}; set MINICNN_MAX_IMAGE_PIXELS to allow more")
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                img = to_rgb(np.asarray(im, dtype=np.uint16))
            elif im.mode == "I":
                a = np.asarray(im, dtype=np.int64)
                img = to_rgb(a.astype(np.uint16) if a.min() >= 0 and a.max() <= 65535 else
                             np.clip(a, 0, 255))
            elif im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                img = to_rgb(np.asarray(im.convert("RGBA")))
            else:
                img = np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{path}: more pixels than the limit of {limit:,} ({exc}); set "
                         "MINICNN_MAX_IMAGE_PIXELS to allow more") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read {path} as an image: {exc}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
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
    """The 1000 ImageNet class names in index order (``names``, ``short_names``,
    ``clean_names`` or ``wnids``), from the table shipped with the package
    (``minicnn/_data/imagenet_classes.json``; see ``DATA_LICENSES.md``)."""
    table = _class_table()
    if kind not in table or kind == "source":
        raise ValueError(f"kind must be one of {sorted(k for k in table if k != 'source')}, "
                         f"got {kind!r}")
    return list(table[kind])


def _class_table():
    global _CLASS_TABLE
    if _CLASS_TABLE is None:
        with open(PACKAGE_DATA / "imagenet_classes.json") as f:
            _CLASS_TABLE = json.load(f)
    return _CLASS_TABLE


_CLASS_TABLE = None


# --------------------------------------------------------------------------- which images
#: Images that a fresh machine has without any download: photos and textures
#: bundled inside the scikit-image and scikit-learn wheels (both dependencies)
#: and the three public-domain paintings shipped in ``minicnn/_data/styles``.
#: name -> (package, file, kind, ImageNet class index or -1, licence).  Labels
#: are given only where an ImageNet class plainly fits the photo.
EMBEDDED_IMAGES = {
    "chelsea": ("skimage", "chelsea.png", "photos", 281, "CC0 (Stefan van der Walt)"),
    "coffee": ("skimage", "coffee.png", "photos", 967, "CC0 (Rachel Michetti)"),
    "astronaut": ("skimage", "astronaut.png", "photos", -1, "public domain (NASA)"),
    "rocket": ("skimage", "rocket.jpg", "photos", -1, "public domain (SpaceX)"),
    "motorcycle_left": ("skimage", "motorcycle_left.png", "photos", -1,
                        "Middlebury 2014 stereo data set"),
    "horse": ("skimage", "horse.png", "photos", -1, "CC0 (Andreas Preuss)"),
    "camera": ("skimage", "camera.png", "photos", -1, "CC0 (Lav Varshney)"),
    "coins": ("skimage", "coins.png", "photos", -1, "no known copyright (Brooklyn Museum)"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg", "photos", -1,
                          "public domain (NASA)"),
    "china": ("sklearn", "china.jpg", "photos", 698, "CC BY 2.0, shipped by scikit-learn"),
    "flower": ("sklearn", "flower.jpg", "photos", -1, "CC BY 2.0, shipped by scikit-learn"),
    "brick": ("skimage", "brick.png", "textures", -1, "CC0 (cc0textures.com)"),
    "grass": ("skimage", "grass.png", "textures", -1, "CC0 (DeviantArt, linolafett)"),
    "gravel": ("skimage", "gravel.png", "textures", -1, "CC0 (cc0textures.com)"),
    "starry_night": ("minicnn", "styles/starry_night.jpg", "styles", -1,
                     "public domain (van Gogh, 1889)"),
    "the_scream": ("minicnn", "styles/the_scream.jpg", "styles", -1,
                   "public domain (Munch, 1893)"),
    "composition_vii": ("minicnn", "styles/composition_vii.jpg", "styles", -1,
                        "public domain (Kandinsky, 1913)"),
}

#: Images of the cs231n assignment that are not redistributable here (no stated
#: licence, or CC BY with attribution): found in a data folder or after
#: ``python -m minicnn data fetch cs231n``; name -> path inside the data root.
CS231N_IMAGES = {"kitten": "images/kitten.jpg", "sky": "images/sky.jpg",
                 "tubingen": "images/styles/tubingen.jpg"}

#: The kinds of :func:`available_images`.
IMAGE_KINDS = ("photos", "dataset", "content", "styles", "textures")

FETCH_HINT = {
    "cs231n": "python -m minicnn data fetch cs231n",
    "imagenet-sample": "python -m minicnn data fetch imagenet-sample",
}


class ImageSet(list):
    """A list of image paths with what a caller needs to know about them.

    Attributes: ``labels`` (N,) int ImageNet class indices (-1 where unknown),
    ``names`` (file stems), ``source`` (where they came from: the data folder,
    the fetched cache, or ``embedded``) and ``hint`` (how to get more)."""

    def __init__(self, paths, labels, source, kind, hint=""):
        super().__init__(Path(p) for p in paths)
        self.labels = np.asarray(labels, dtype=np.int64).reshape(len(self))
        self.names = [p.stem for p in self]
        self.source, self.kind, self.hint = source, kind, hint

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ImageSet(list.__getitem__(self, index), self.labels[index], self.source,
                            self.kind, self.hint)
        return list.__getitem__(self, index)

    @property
    def has_labels(self):
        """True when every image has a known class."""
        return bool(len(self)) and bool((self.labels >= 0).all())


def data_roots():
    """Folders laid out like the shared data folder, in lookup order: the data
    folder (:func:`data_dir`) and the fetched-data cache (see
    :mod:`minicnn.datasets`), those that exist."""
    roots = []
    root = data_dir()
    if root is not None:
        roots.append(root)
    try:
        from .datasets import fetched_data_dir
    except ImportError:                                   # pragma: no cover
        fetched = None
    else:
        fetched = fetched_data_dir()
    if fetched is not None and Path(fetched).is_dir() and fetched not in roots:
        roots.append(Path(fetched))
    return roots


def _find_in_roots(relative):
    for root in data_roots():
        path = root / relative
        if path.exists():
            return path
    return None


def shipped_weights_dir():
    """The folder of shipped networks and manifests: ``minicnn/pretrained_weights``
    in an installed wheel, ``pretrained_weights/`` at the top of a source checkout."""
    installed = Path(__file__).resolve().parent / "pretrained_weights"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / \
        "pretrained_weights"


def embedded_image_path(name):
    """Path of an embedded image (see :data:`EMBEDDED_IMAGES`) inside its package."""
    if name not in EMBEDDED_IMAGES:
        raise ValueError(f"name must be an embedded image ({', '.join(EMBEDDED_IMAGES)}), "
                         f"got {name!r}")
    package, file = EMBEDDED_IMAGES[name][:2]
    if package == "minicnn":
        path = PACKAGE_DATA / file
    elif package == "skimage":
        import skimage
        path = Path(skimage.__file__).parent / "data" / file
    else:
        import sklearn.datasets
        path = Path(sklearn.datasets.__file__).parent / "images" / file
    if not path.is_file():
        raise FileNotFoundError(f"embedded image {name!r} is missing: {path} (the installed "
                                f"{package} does not bundle it; reinstall minicnn's "
                                "dependencies, scikit-image>=0.22)")
    return path


def _embedded(kind):
    names = [n for n, spec in EMBEDDED_IMAGES.items() if spec[2] == kind]
    return names, [embedded_image_path(n) for n in names], [EMBEDDED_IMAGES[n][3] for n in names]


def find_image(name):
    """Path of a named image: a cs231n image (``kitten``, ``sky``, ``tubingen``,
    from the data folder or the fetched cache) or an embedded one (``chelsea``,
    ``starry_night``, ``brick``, ...; the data folder's copy of a painting wins).

    Raises FileNotFoundError saying how to fetch a cs231n image that is not here,
    ValueError listing the names for an unknown one."""
    name = str(name)
    if name in CS231N_IMAGES:
        path = _find_in_roots(CS231N_IMAGES[name])
        if path is None:
            raise FileNotFoundError(
                f"image {name!r} is a cs231n image that this machine does not have: run "
                f"`{FETCH_HINT['cs231n']}` (or set MINICNN_DATA), or use an embedded image "
                f"({', '.join(n for n, s in EMBEDDED_IMAGES.items() if s[2] == 'photos')})")
        return path
    if name in EMBEDDED_IMAGES:
        if EMBEDDED_IMAGES[name][2] == "styles":
            path = _find_in_roots(f"images/styles/{name}.jpg")
            if path is not None:
                return path
        return embedded_image_path(name)
    raise ValueError(f"unknown image name {name!r}; known names: "
                     f"{', '.join(list(CS231N_IMAGES) + list(EMBEDDED_IMAGES))}")


def pick_image(*names):
    """Path of the first named image this machine has, e.g. ``pick_image("kitten",
    "chelsea")``: the cs231n kitten when present, else the embedded cat."""
    if not names:
        raise ValueError("pick_image needs at least one image name")
    for name in names[:-1]:
        try:
            return find_image(name)
        except FileNotFoundError:
            continue
    return find_image(names[-1])


def image_names():
    """Every name :func:`find_image` accepts, with ``True`` where it is on this machine."""
    out = {}
    for name in list(CS231N_IMAGES) + list(EMBEDDED_IMAGES):
        try:
            out[name] = find_image(name).is_file()
        except FileNotFoundError:
            out[name] = False
    return out


def available_images(kind="photos", limit=None):
    """Which images this machine has, as an :class:`ImageSet`.

    kind:
      ``photos``   the cs231n photos (kitten, sky) when a data folder or the
                   fetched cache has them, then the embedded photos;
      ``dataset``  a labelled set for dataset techniques (nearest neighbours,
                   t-SNE, max patches, fast-style training): the 1000-photo
                   ``imagenet_sample`` of the data folder or the fetched cache,
                   else the embedded photos and textures (about 15 images);
      ``content``  content photos for style transfer: tubingen when present,
                   then the embedded photos;
      ``styles``   the three paintings (the data folder's copies, else the
                   downscaled ones shipped with minicnn);
      ``textures`` brick, grass and gravel (scikit-image).
    limit: at most this many (the first ones).
    """
    if kind not in IMAGE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(IMAGE_KINDS)}, got {kind!r}")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    if kind == "dataset":
        folder = _find_in_roots("imagenet_sample/labels.tsv")
        if folder is not None:
            paths, labels = _read_labels_tsv(folder.parent, limit)
            return ImageSet(paths, labels, f"data folder {folder.parent}", kind)
        names_p, paths_p, labels_p = _embedded("photos")
        names_t, paths_t, labels_t = _embedded("textures")
        out = ImageSet(paths_p + paths_t, labels_p + labels_t, "embedded", kind,
                       hint=f"for 1000 labelled ImageNet photos run "
                            f"`{FETCH_HINT['imagenet-sample']}` (or pass --folder DIR)")
    elif kind in ("photos", "content"):
        wanted = ("kitten", "sky") if kind == "photos" else ("tubingen",)
        found = [p for p in (_find_in_roots(CS231N_IMAGES[n]) for n in wanted) if p is not None]
        _, paths, labels = _embedded("photos")
        source = "data folder and embedded" if found else "embedded"
        out = ImageSet(found + paths, [-1] * len(found) + labels, source, kind,
                       hint="" if found else f"for the cs231n photos run `{FETCH_HINT['cs231n']}`")
    elif kind == "styles":
        names, _, labels = _embedded("styles")
        paths = [find_image(n) for n in names]
        out = ImageSet(paths, labels, "data folder" if paths[0].parent != PACKAGE_DATA / "styles"
                       else "embedded", kind)
    else:
        _, paths, labels = _embedded(kind)
        out = ImageSet(paths, labels, "embedded", kind)
    return out if limit is None else out[:int(limit)]


def _read_labels_tsv(folder, limit=None):
    paths, labels = [], []
    with open(folder / "labels.tsv") as f:
        next(f)
        for line in f:
            name, index = line.rstrip("\n").split("\t")[:2]
            paths.append(folder / name)
            labels.append(int(index))
            if limit is not None and len(paths) >= limit:
                break
    return paths, labels


def imagenet_sample(limit=None):
    """(paths, labels) of the labelled ImageNet photos in ``imagenet_sample`` of the
    data folder or the fetched cache; FileNotFoundError saying how to fetch them
    when neither has them (see :func:`available_images` for a fallback)."""
    labels_tsv = _find_in_roots("imagenet_sample/labels.tsv")
    if labels_tsv is None:
        raise FileNotFoundError(
            "the ImageNet sample (1000 labelled photos) is not on this machine: run "
            f"`{FETCH_HINT['imagenet-sample']}` or set MINICNN_DATA to a data folder "
            "that has imagenet_sample/")
    paths, labels = _read_labels_tsv(labels_tsv.parent, limit)
    return paths, np.array(labels)


def sample_photos():
    """Paths of the sample photos that scikit-learn ships (china.jpg, flower.jpg)."""
    return [embedded_image_path("china"), embedded_image_path("flower")]
