"""Images of text lines for OCR: a person's own folder of images with a labels file, rendered lines
for the built-in default, and the one preprocessing every image goes through.

    data = read_labels("lines/labels.csv")            # data.images, data.texts, data.files, data.lines
    image = read_image("lines/0001.png")              # (H, W) float32 in [0, 1], grey levels as stored
    line = line_image(image, height=32)               # (32, W') float32: ink 1, background 0
    images, texts = rendered_lines(1000, seed=0)      # DejaVu lines (rnnlab.data.render), uint8 ink

The labels file is a CSV or TSV (the delimiter is sniffed, rnnlab.data.tables) of two columns,
the image's path and its text. A first row naming the columns `file` and `text` (in any order,
case ignored; other columns beside them are ignored) is the header; without one, the first
column is the file and the second the text. Paths are relative to the labels file's folder and
may not leave it (no absolute paths, no `..` above it). Texts keep their inner spaces; spaces
around them are dropped, and an empty text is an error.

Images are read with Pillow (it comes with matplotlib, the `plot` extra), in the formats PNG,
JPEG, BMP, GIF (first frame), TIFF, WebP and PPM only (Pillow's other plugins, EPS with its
Ghostscript call among them, are never tried), turned upright by their EXIF orientation and made
grey: colour by luminance, transparency laid over white. A file is refused before it is decoded
when its header gives more than MAX_PIXELS pixels (a decompression bomb is a few kilobytes that
claim gigapixels), and an image more than MAX_ASPECT times as wide as it is tall is refused too
(no line of text is that long). Images taller than MAX_HEIGHT rows are scaled down to it on
reading (no model reads more rows): a folder of large scans does not fill the memory.

line_image() makes every image look like a rendered line, the same way for training and reading:
    1. scaled to `height` rows keeping the aspect ratio (linear interpolation, widened to a
       triangle filter when shrinking, as Pillow's bilinear resize: no aliasing)
    2. stretched to [0, 1] (its darkest pixel 0, its brightest 1; a blank image is all 0)
    3. the background is the median of the border pixels: above 0.5 (dark ink on light paper)
       the image is inverted, so ink is always bright
    4. the background subtracted and the rest stretched again: background 0, the strongest ink 1
Applied twice, it changes nothing (after one pass the border's median is 0).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np

from .render import LOWER, TRAIN_FONTS, text_lines_uint8
from .tables import read_table
from .text import DataError

MAX_PIXELS = 2**24  # 16,777,216 pixels (4096 x 4096): more than any photo of one line needs
MAX_ASPECT = 100  # width / height: a 32-px line 3,200 px wide holds some 200 characters
MAX_HEIGHT = 128  # rows kept on reading: the tallest model height rnnlab.estimators reads
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
PILLOW_HINT = 'reading images needs Pillow, which comes with matplotlib: pip install -e ".[plot]"'
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's convert("L")


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise ImportError(PILLOW_HINT) from None
    return Image, ImageOps


# --- one image ---------------------------------------------------------------------------------------
def read_image(path, max_height: int | None = MAX_HEIGHT) -> np.ndarray:
    """The image at `path` as (H, W) float32 grey levels in [0, 1] (0 black, 1 white), scaled down
    to `max_height` rows when taller; a DataError naming the file for anything that is not a
    readable image within MAX_PIXELS and MAX_ASPECT (see the module docstring)."""
    Image, ImageOps = _pillow()
    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a folder, not an image file")
    if not path.is_file():
        raise DataError(path, "no such image file")
    size = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as img:
                size = img.size
                _check_size(size[0], size[1])
                img.seek(0)
                img = ImageOps.exif_transpose(img)
                grey = _grey(img, Image)
    except DataError as err:
        raise DataError(path, err.problem) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        claimed = f"claims {size[0]:,} x {size[1]:,} pixels, " if size else ""
        raise DataError(path, f"{claimed}more than Pillow decodes safely (a decompression bomb?)") from None
    except Image.UnidentifiedImageError:
        raise DataError(path, f"is not an image in a format rnnlab reads ({', '.join(FORMATS)})") from None
    except Exception as err:  # noqa: BLE001 - a decoder of untrusted bytes fails in many ways
        detail = " ".join(str(err).split())[:120] or type(err).__name__
        raise DataError(path, f"cannot be decoded as an image ({detail}); is the file complete?") from None
    if max_height is not None and grey.shape[0] > max_height:
        grey = resize(grey, max_height, max(1, round(grey.shape[1] * max_height / grey.shape[0])))
    return grey.astype(np.float32)


def _check_size(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise DataError("image", f"is {width} x {height} pixels: empty")
    if width * height > MAX_PIXELS:
        raise DataError(
            "image", f"is {width:,} x {height:,} pixels, more than the {MAX_PIXELS:,} rnnlab reads; crop it to the line"
        )
    if width > MAX_ASPECT * height:
        raise DataError(
            "image",
            f"is {width:,} x {height:,} pixels, more than {MAX_ASPECT} times as wide as it is tall; "
            "cut the line into shorter pieces",
        )


def _grey(img, Image) -> np.ndarray:
    """A decoded Pillow image as (H, W) float64 grey levels in [0, 1] (see the module docstring)."""
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError("pixels that are not finite numbers")
        if img.mode.startswith("I;16"):
            return a / 65535.0
        lo, hi = float(a.min()), float(a.max())
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if "A" in img.getbands() or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(index (n_out, k), weight (n_out, k)) of a linear resize from n_in samples to n_out: a tent
    of half-width max(1, n_in / n_out) input samples around each output's centre, taps outside
    the image dropped, each output's weights summing to 1."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centre = (np.arange(n_out) + 0.5) * scale - 0.5  # output j's centre in input coordinates
    k = int(np.ceil(2 * support)) + 1
    index = np.floor(centre - support).astype(np.int64)[:, None] + 1 + np.arange(k)
    weight = np.maximum(0.0, 1.0 - np.abs(index - centre[:, None]) / support)
    weight[(index < 0) | (index >= n_in)] = 0.0
    weight /= weight.sum(axis=1, keepdims=True)
    return np.clip(index, 0, n_in - 1), weight


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) -> (height, width) float64 by separable linear interpolation, antialiased when
    shrinking (step 1 of the module docstring); one tap at a time, so the memory stays that of
    the image and its result."""
    a = np.asarray(image, dtype=np.float64)
    if a.shape == (height, width):
        return a.copy()
    iy, wy = _taps(a.shape[0], height)
    ix, wx = _taps(a.shape[1], width)
    rows = np.zeros((height, a.shape[1]))
    for t in range(iy.shape[1]):
        rows += wy[:, t, None] * a[iy[:, t]]
    out = np.zeros((height, width))
    for t in range(ix.shape[1]):
        out += wx[None, :, t] * rows[:, ix[:, t]]
    return out


def as_grey(image) -> np.ndarray:
    """An image given as an array, (H, W) or (H, W, C) with C = 1, 3 or 4 (alpha dropped), of
    finite numbers in any range, as (H, W) float64; a ValueError says what is wrong with it."""
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"an image must be an array of numbers, got one of dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        a = a[..., 0] if a.shape[2] == 1 else a[..., :3] @ _LUMA
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"an image must have shape (H, W) or (H, W, 1|3|4) with H, W >= 1, got {np.shape(image)}")
    if a.size > MAX_PIXELS:
        raise ValueError(f"an image of {a.shape[1]:,} x {a.shape[0]:,} pixels is more than the {MAX_PIXELS:,} read")
    if not np.isfinite(a).all():
        raise ValueError("an image holds NaN or infinity")
    return a


def line_image(image, height: int) -> np.ndarray:
    """(height, W') float32, ink 1 and background 0: steps 1-4 of the module docstring, with
    W' = round(W * height / H) (at least 1); an image wider than MAX_ASPECT times `height` after
    scaling is a ValueError."""
    a = as_grey(image)
    width = max(1, round(a.shape[1] * height / a.shape[0]))
    if width > MAX_ASPECT * height:
        raise ValueError(
            f"an image of {a.shape[1]:,} x {a.shape[0]:,} pixels is {width:,} wide at height {height}, more than "
            f"{MAX_ASPECT} times its height; cut the line into shorter pieces"
        )
    a = resize(a, height, width)  # 1
    lo, hi = a.min(), a.max()
    if hi - lo <= 1e-9 * max(1.0, abs(hi)):
        return np.zeros((height, width), np.float32)  # blank: no ink anywhere
    a = (a - lo) / (hi - lo)  # 2
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    background = np.partition(border, (border.size - 1) // 2)[(border.size - 1) // 2]  # the lower median
    if background > 0.5:  # 3: dark ink on light paper
        a, background = 1.0 - a, 1.0 - background
    return np.clip((a - background) / (1.0 - background), 0.0, 1.0).astype(np.float32)  # 4


# --- a labelled folder ------------------------------------------------------------------------------
@dataclass
class LabelledImages:
    """A labels file's rows: the images (read_image's arrays), their texts, the paths as written
    and the labels file's line of each."""

    images: list[np.ndarray]
    texts: list[str]
    files: list[str]
    lines: list[int]


def read_labels(path, max_height: int | None = MAX_HEIGHT) -> LabelledImages:
    """The images and texts a labels file lists (see the module docstring); every problem is a
    DataError naming the labels file and the line: a missing or unreadable image, one too large,
    a path outside the folder, an empty text or file name, a row with too few or too many fields."""
    path = Path(path)
    table = read_table(path, header=False)
    if table.delimiter is None:
        raise DataError(
            path,
            "has one column; each line needs an image file and its text, separated by a comma or a tab (file,text)",
        )
    first = [f.casefold() for f in table.rows[0]]
    header = "file" in first and "text" in first
    file_k, text_k = (first.index("file"), first.index("text")) if header else (0, 1)
    width = len(table.rows[0]) if header else 2
    rows = list(zip(table.rows, table.line_numbers))[1 if header else 0 :]
    if not rows:
        raise DataError(path, "holds a header but no images; add lines of file,text")
    folder = path.parent
    out = LabelledImages([], [], [], [])
    for row, line in rows:
        if len(row) <= max(file_k, text_k):
            raise DataError(path, f"line {line}: {len(row)} field(s); expected an image file and its text")
        if len(row) > width and any(row[width:]):
            sep = "tab" if table.delimiter == "\t" else repr(table.delimiter)
            raise DataError(
                path,
                f"line {line}: {len(row)} fields, more than {width}; a text holding a {sep} goes in double quotes "
                '("like, this")',
            )
        name, text = row[file_k], row[text_k]
        if not name:
            raise DataError(path, f"line {line}: the image file is empty")
        if not text:
            raise DataError(path, f"line {line}: the text of {name} is empty")
        if _escapes(name):
            raise DataError(
                path,
                f"line {line}: {name!r} lies outside {folder}; image paths are relative to the labels file's "
                "folder and stay inside it",
            )
        try:
            image = read_image(folder / name, max_height)
        except DataError as err:
            hint = " (a header row names the columns file and text)" if line == rows[0][1] and not header else ""
            raise DataError(path, f"line {line}: {name}: {err.problem}{hint}") from None
        out.images.append(image)
        out.texts.append(text)
        out.files.append(name)
        out.lines.append(line)
    return out


def _escapes(name: str) -> bool:
    """Whether a path written in a labels file leaves the file's folder: absolute (a drive or a
    leading slash of either kind) or climbing above it with `..`."""
    if PurePath(name).is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = os.path.normpath(name.replace("\\", "/")).split("/")
    return parts[0] == ".."


# --- rendered lines (the built-in default) ----------------------------------------------------------
def rendered_lines(
    n: int,
    fonts=TRAIN_FONTS,
    seed: int = 0,
    min_len: int = 3,
    max_len: int = 10,
    alphabet: str = LOWER,
    height: int = 32,
) -> tuple[list[np.ndarray], list[str]]:
    """n random strings of min_len..max_len characters of `alphabet`, each rendered in a font drawn
    from `fonts` (rnnlab.data.render.text_lines_uint8, seeded): (images (height, W_i) uint8, ink 255
    and background 0, each cropped to its own width; texts)."""
    rng = np.random.default_rng(seed)
    images, texts, _, _ = text_lines_uint8(n, list(fonts), alphabet, min_len, max_len, rng, height)
    return images, texts
