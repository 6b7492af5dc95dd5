"""Text-line images for OCR, rendered offline with the DejaVu TrueType fonts that matplotlib ships.

    line = render_line("hello", "DejaVuSerif", height=32)
    line.image          # (32, width) float32 in [0, 1], ink = 1, background = 0
    line.boxes          # [(x0, x1), ...] one half-open column range per character
    data = text_lines(256, rng=np.random.default_rng(0))     # a padded batch from TRAIN_FONTS
    digits = mnist_strings(images, labels, 256, rng=rng)      # MNIST digits side by side

matplotlib is optional (the `plot` extra) and is imported only when a font is opened. Glyphs are
drawn with matplotlib.ft2font.FT2Font one character at a time (no figure, no Agg canvas), so the
column range of every character is known exactly:

    pen = 0; for each character c
        bitmap, left, top, advance = glyph(c)       (cached per font, pixel size and character)
        ink columns  [round(pen) + left, + bitmap width)
        cell columns [round(pen), round(pen + advance))
        box(c) = the smallest range holding both (a space has no ink: its box is its cell)
        pen += advance                              (no kerning: DejaVu's is small at 32 px)

Boxes are ordered (x0 and x1 never decrease for left-to-right text), lie inside the image, and the
union of the boxes holds all ink; neighbouring boxes may overlap by the overhang of italic glyphs.

Vertical layout: the pixel size defaults to 0.9 * height / ((ascender - descender) / units_per_EM),
the line's ascender-to-descender band centred in the image; ink outside the image (tall accents at
large sizes) is clipped. `jitter` scales the size by a factor drawn from U(1 - jitter, 1 + jitter).

Slant is a horizontal shear, x' = x + slant * (cy - y) with cy the centre row, so positive slant
leans right; rows are shifted with linear interpolation and the image widens by
2 * ceil(|slant| * cy). A box moves by the shear of the centre row and widens to hold its glyph's
sheared ink. Noise is additive gaussian, N(0, noise^2) per pixel, clipped back to [0, 1].

Fonts: fonts() lists the twelve shipped DejaVu faces (DejaVuSansDisplay and DejaVuSerifDisplay are
left out: they hold only ~47 large-operator glyphs, no letters or digits). The split:
    HELD_OUT_FONTS = DejaVuSerif-Italic, DejaVuSansMono-Bold
    TRAIN_FONTS    = the other ten
Each held-out face is a family x style combination whose family and style both occur in training
(Serif, Italic in DejaVuSerif-BoldItalic; SansMono, Bold in DejaVuSans-Bold), so a test on them
asks whether a model generalises to an unseen combination, not to an unseen kind of writing.

A character the font lacks (FreeType glyph index 0, e.g. U+E000, private use) is a ValueError
naming the character and the font; there is no silent fallback to the .notdef box.
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..nn.core import positive_int

DIGITS = string.digits
LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
LETTERS = LOWER + UPPER

# A small fixed vocabulary for word lines (common English words, lower case).
WORDS = (
    "the of and to in is was for on that with as by at from his her it an are were which be this "
    "or had not but one all they have new more also two first time after can many other year "
    "some only over such most into made then three may used well very about when where people "
    "world city water light small large house river night music paper number letter"
).split()

HELD_OUT_FONTS = ("DejaVuSerif-Italic", "DejaVuSansMono-Bold")
_ALL_FONTS = (
    "DejaVuSans",
    "DejaVuSans-Bold",
    "DejaVuSans-Oblique",
    "DejaVuSans-BoldOblique",
    "DejaVuSerif",
    "DejaVuSerif-Bold",
    "DejaVuSerif-Italic",
    "DejaVuSerif-BoldItalic",
    "DejaVuSansMono",
    "DejaVuSansMono-Bold",
    "DejaVuSansMono-Oblique",
    "DejaVuSansMono-BoldOblique",
)
TRAIN_FONTS = tuple(f for f in _ALL_FONTS if f not in HELD_OUT_FONTS)

_MPL_HINT = 'rendering text lines needs matplotlib: pip install -e ".[plot]"'
_MARGIN = 2  # empty columns left and right of the ink


def _matplotlib():
    try:
        import matplotlib
        from matplotlib import ft2font
    except ImportError:
        raise ImportError(_MPL_HINT) from None
    return matplotlib, ft2font


def fonts() -> dict[str, Path]:
    """Name -> file of the twelve DejaVu faces matplotlib ships (see the module docstring)."""
    matplotlib, _ = _matplotlib()
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    found = {name: folder / f"{name}.ttf" for name in _ALL_FONTS}
    missing = [name for name, path in found.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"matplotlib at {folder} lacks the fonts {', '.join(missing)}")
    return found


@functools.cache
def _face(name: str):
    if not isinstance(name, str) or name not in _ALL_FONTS:
        raise ValueError(f"unknown font {name!r}; choose from {', '.join(_ALL_FONTS)}")
    _, ft2font = _matplotlib()
    return ft2font.FT2Font(str(fonts()[name]))


@functools.lru_cache(maxsize=16384)
def _glyph(name: str, size: float, char: str) -> tuple[np.ndarray, int, int, float]:
    """(bitmap float32 cropped to its ink, left column from the pen, top row from the baseline, advance)."""
    face = _face(name)
    if face.get_char_index(ord(char)) == 0:
        raise ValueError(f"font {name} has no glyph for {char!r} (U+{ord(char):04X})")
    face.set_size(size, 72)  # 72 dpi: the size is in pixels
    advance = face.load_char(ord(char)).linearHoriAdvance / 65536.0
    face.set_text(char)
    face.draw_glyphs_to_bitmap()
    image = np.asarray(face.get_image())
    # col 0 of the image lies at floor(xmin) from the pen; the baseline is H - 1 - descent rows down
    x_origin = math.floor(face.get_bitmap_offset()[0] / 64.0)
    baseline = image.shape[0] - 1 - round(face.get_descent() / 64.0)
    rows, cols = np.nonzero(image.any(1))[0], np.nonzero(image.any(0))[0]
    if rows.size == 0:
        return np.zeros((0, 0), np.float32), 0, 0, advance
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    bitmap = image[r0:r1, c0:c1].astype(np.float32) / 255.0
    return bitmap, int(x_origin + c0), int(r0 - baseline), advance


@dataclass(frozen=True)
class RenderedLine:
    """One rendered line: image (height, width) float32 in [0, 1], one (x0, x1) box per character."""

    text: str
    image: np.ndarray
    boxes: list[tuple[int, int]]
    font: str

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def default_size(font: str, height: int) -> float:
    """The pixel size at which the font's ascender-to-descender band fills 90% of `height` rows."""
    face = _face(font)
    return 0.9 * height * face.units_per_EM / (face.ascender - face.descender)


def _check_fraction(name: str, value: float, upper: float | None = None) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (upper is not None and value >= upper):
        bound = f" and below {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be a finite number >= 0{bound}, got {value!r}")
    return value


def render_line(
    text: str,
    font: str = "DejaVuSans",
    height: int = 32,
    size: float | None = None,
    slant: float = 0.0,
    noise: float = 0.0,
    jitter: float = 0.0,
    rng: np.random.Generator | None = None,
) -> RenderedLine:
    """`text` drawn in `font` on a (height, width) canvas; see the module docstring for the layout.

    size: pixel size (default: default_size(font, height)); slant: horizontal shear (0.2 leans
    right by 0.2 px per row); noise: gaussian standard deviation; jitter: relative size jitter.
    noise > 0 or jitter > 0 draw from `rng`, which is then required.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    height = positive_int("height", height)
    noise = _check_fraction("noise", noise)
    jitter = _check_fraction("jitter", jitter, upper=1.0)
    slant = float(slant)
    if not math.isfinite(slant) or abs(slant) > 2:
        raise ValueError(f"slant must be a finite number in [-2, 2], got {slant!r}")
    if (noise > 0 or jitter > 0) and not isinstance(rng, np.random.Generator):
        raise ValueError("noise and jitter draw random numbers: pass rng=np.random.default_rng(seed)")
    face = _face(font)
    size = default_size(font, height) if size is None else float(size)
    if not math.isfinite(size) or size <= 0:
        raise ValueError(f"size must be a positive number of pixels, got {size!r}")
    if jitter > 0:
        size *= float(rng.uniform(1 - jitter, 1 + jitter))
    size = round(size * 4) / 4  # quarter pixels: keeps the glyph cache small under jitter

    # baseline: the ascender-to-descender band centred in the image
    scale = size / face.units_per_EM
    band = (face.ascender - face.descender) * scale
    baseline = round((height - band) / 2 + face.ascender * scale)

    placed = []  # (bitmap, ink x, ink row, cell x0, cell x1)
    pen = 0.0
    for char in text:
        bitmap, left, top, advance = _glyph(font, size, char)
        cell0 = round(pen)
        placed.append((bitmap, cell0 + left, baseline + top, cell0, max(round(pen + advance), cell0 + 1)))
        pen += advance
    lefts = [min(p[3], p[1]) if p[0].size else p[3] for p in placed]
    rights = [max(p[4], p[1] + p[0].shape[1]) if p[0].size else p[4] for p in placed]
    shift = _MARGIN - min(lefts)
    width = max(rights) + shift + _MARGIN

    image = np.zeros((height, width), np.float32)
    ink_rows = []  # per character: the rows its ink covers in the image (clipped), or None
    for bitmap, x, y, _, _ in placed:
        h, w = bitmap.shape
        y0, y1 = max(y, 0), min(y + h, height)
        if bitmap.size == 0 or y0 >= y1:
            ink_rows.append(None)
            continue
        region = image[y0:y1, x + shift : x + shift + w]
        np.maximum(region, bitmap[y0 - y : y1 - y], out=region)
        ink_rows.append((y0, y1))
    boxes = []
    for (bitmap, x, _, c0, c1), rows in zip(placed, ink_rows):
        if rows is None:
            boxes.append((c0 + shift, c1 + shift))
        else:
            boxes.append((min(c0, x) + shift, max(c1, x + bitmap.shape[1]) + shift))

    if slant != 0.0:
        image, boxes = _shear(image, placed, ink_rows, shift, slant)
    if noise > 0:
        image += rng.normal(0.0, noise, image.shape).astype(np.float32)
        np.clip(image, 0.0, 1.0, out=image)
    return RenderedLine(text=text, image=image, boxes=boxes, font=font)


def _shear(image, placed, ink_rows, shift, slant):
    """x' = x + pad + slant * (cy - y), row by row with linear interpolation (module docstring)."""
    height, width = image.shape
    cy = (height - 1) / 2
    pad = math.ceil(abs(slant) * cy)
    offsets = pad + slant * (cy - np.arange(height))  # >= 0 by the choice of pad
    out = np.zeros((height, width + 2 * pad + 1), np.float32)
    for y in range(height):
        k = int(math.floor(offsets[y]))
        f = float(offsets[y] - k)
        out[y, k : k + width] += (1 - f) * image[y]
        out[y, k + 1 : k + 1 + width] += f * image[y]
    np.clip(out, 0.0, 1.0, out=out)
    sheared = []
    for (bitmap, x, _, c0, c1), rows in zip(placed, ink_rows):
        lo, hi = c0 + shift + pad, c1 + shift + pad  # the cell, sheared at the centre row
        if rows is not None:
            ends = offsets[[rows[0], rows[1] - 1]]
            lo = min(lo, x + shift + math.floor(ends.min()))
            hi = max(hi, x + shift + bitmap.shape[1] + math.floor(ends.max()) + 1)
        sheared.append((int(lo), int(hi)))
    return out[:, : max(hi for _, hi in sheared) + _MARGIN], sheared


def pad_batch(lines: Sequence[RenderedLine], width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images of equal height, zero-padded on the right to `width` (default: the widest).

    Returns images (N, height, width) float32 and widths (N,) int64, each line's own width.
    """
    if len(lines) == 0:
        raise ValueError("pad_batch needs at least one line")
    heights = {line.image.shape[0] for line in lines}
    if len(heights) != 1:
        raise ValueError(f"lines of one batch must share a height, got heights {sorted(heights)}")
    widths = np.array([line.width for line in lines], np.int64)
    width = int(widths.max()) if width is None else positive_int("width", width)
    if width < widths.max():
        raise ValueError(f"width {width} is narrower than the widest line ({int(widths.max())} columns)")
    images = np.zeros((len(lines), heights.pop(), width), np.float32)
    for i, line in enumerate(lines):
        images[i, :, : line.width] = line.image
    return images, widths


def random_strings(
    rng: np.random.Generator, n: int, alphabet: str = LOWER, min_len: int = 1, max_len: int = 12
) -> list[str]:
    """n strings of characters drawn uniformly from `alphabet`, lengths uniform in [min_len, max_len]."""
    n = positive_int("n", n)
    min_len, max_len = _check_lengths(min_len, max_len)
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(f"alphabet must be a non-empty string, got {alphabet!r}")
    symbols = np.array(list(alphabet))
    lengths = rng.integers(min_len, max_len + 1, size=n)
    return ["".join(symbols[rng.integers(0, len(symbols), size=k)]) for k in lengths]


def random_words(
    rng: np.random.Generator, n: int, words: Sequence[str] = WORDS, min_words: int = 1, max_words: int = 3
) -> list[str]:
    """n lines of min_words..max_words words drawn uniformly from `words`, joined by single spaces."""
    n = positive_int("n", n)
    min_words, max_words = _check_lengths(min_words, max_words, "words")
    if len(words) == 0 or not all(isinstance(w, str) and w for w in words):
        raise ValueError("words must be a non-empty sequence of non-empty strings")
    counts = rng.integers(min_words, max_words + 1, size=n)
    return [" ".join(words[i] for i in rng.integers(0, len(words), size=k)) for k in counts]


def _check_lengths(low, high, what: str = "len") -> tuple[int, int]:
    low, high = positive_int(f"min_{what}", low), positive_int(f"max_{what}", high)
    if low > high:
        raise ValueError(f"min_{what} ({low}) must not exceed max_{what} ({high})")
    return low, high


@dataclass(frozen=True)
class TextLines:
    """A padded batch: images (N, H, W) float32, widths (N,), texts, boxes and font per line."""

    images: np.ndarray
    widths: np.ndarray
    texts: list[str]
    boxes: list[list[tuple[int, int]]]
    fonts: list[str]


def text_lines(
    n: int,
    fonts: Sequence[str] = TRAIN_FONTS,
    alphabet: str = LOWER,
    min_len: int = 1,
    max_len: int = 12,
    rng: np.random.Generator | None = None,
    height: int = 32,
    words: Sequence[str] | None = None,
    slant: float = 0.0,
    noise: float = 0.0,
    jitter: float = 0.0,
) -> TextLines:
    """n lines, each in a font drawn uniformly from `fonts`, padded to the widest.

    Texts are random_strings(rng, n, alphabet, min_len, max_len), or with `words` given,
    random_words(rng, n, words, min_len, max_len) (lengths then count words). Each line's slant is
    drawn from U(-slant, slant); noise and jitter as in render_line.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("text_lines draws random texts: pass rng=np.random.default_rng(seed)")
    if isinstance(fonts, str) or len(fonts) == 0:
        raise ValueError(f"fonts must be a non-empty sequence of font names, got {fonts!r}")
    for font in fonts:
        _face(font)  # an unknown name fails here, before any drawing
    if words is None:
        texts = random_strings(rng, n, alphabet, min_len, max_len)
    else:
        texts = random_words(rng, n, words, min_len, max_len)
    chosen = [fonts[i] for i in rng.integers(0, len(fonts), size=len(texts))]
    slants = rng.uniform(-abs(slant), abs(slant), size=len(texts)) if slant else np.zeros(len(texts))
    lines = [
        render_line(t, f, height=height, slant=float(s), noise=noise, jitter=jitter, rng=rng)
        for t, f, s in zip(texts, chosen, slants)
    ]
    images, widths = pad_batch(lines)
    return TextLines(images, widths, texts, [line.boxes for line in lines], chosen)


def text_lines_uint8(
    n: int,
    fonts: Sequence[str] = TRAIN_FONTS,
    alphabet: str = LOWER,
    min_len: int = 1,
    max_len: int = 12,
    rng: np.random.Generator | None = None,
    height: int = 32,
    chunk: int = 1000,
    **style,
) -> tuple[list[np.ndarray], list[str], list[list[tuple[int, int]]], list[str]]:
    """text_lines for many lines: rendered `chunk` at a time (one padded batch of all of them would
    be as wide as the widest) and kept as uint8, ink 255 and background 0, each cropped to its own
    width, a quarter of float32's memory. Returns (images, texts, boxes, fonts); `style` is
    text_lines' slant, noise and jitter. The chunk size is part of the draw: the same rng and chunk
    give the same lines."""
    images, texts, boxes, chosen = [], [], [], []
    for start in range(0, positive_int("n", n), positive_int("chunk", chunk)):
        part = text_lines(min(chunk, n - start), fonts, alphabet, min_len, max_len, rng, height, **style)
        images += [np.round(image[:, :width] * 255).astype(np.uint8) for image, width in zip(part.images, part.widths)]
        texts += part.texts
        boxes += part.boxes
        chosen += part.fonts
    return images, texts, boxes, chosen


@dataclass(frozen=True)
class DigitStrings:
    """MNIST digit strings: images (N, 28, W) float32 in [0, 1], widths, labels (int64 arrays), boxes."""

    images: np.ndarray
    widths: np.ndarray
    labels: list[np.ndarray]
    boxes: list[list[tuple[int, int]]]


def mnist_strings(
    images: np.ndarray,
    labels: np.ndarray,
    n: int,
    min_len: int = 1,
    max_len: int = 8,
    rng: np.random.Generator | None = None,
    gap: tuple[int, int] = (0, 6),
) -> DigitStrings:
    """n strings of MNIST digits side by side, each digit drawn uniformly from (images, labels).

    images (m, h, w) uint8 (as load_mnist returns them) or floats in [0, 1]; labels (m,). Between
    neighbouring digits lie g blank columns, g uniform in [gap[0], gap[1]]; there is no margin.
    The box of a digit is its full w columns, [x, x + w); pixels are copied, never blended.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("mnist_strings draws random digits: pass rng=np.random.default_rng(seed)")
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"images must be (m, h, w) with m >= 1, got shape {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must be ({images.shape[0]},) to match the images, got shape {labels.shape}")
    n = positive_int("n", n)
    min_len, max_len = _check_lengths(min_len, max_len)
    g0, g1 = (int(g) for g in gap)
    if not 0 <= g0 <= g1:
        raise ValueError(f"gap must be (low, high) with 0 <= low <= high, got {gap!r}")
    pixels = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    _, h, w = pixels.shape
    picks, boxes = [], []
    for k in rng.integers(min_len, max_len + 1, size=n):
        index = rng.integers(0, len(pixels), size=k)
        gaps = np.concatenate([[0], rng.integers(g0, g1 + 1, size=k - 1)])
        starts = np.cumsum(gaps) + w * np.arange(k)
        picks.append(index)
        boxes.append([(int(s), int(s) + w) for s in starts])
    widths = np.array([b[-1][1] for b in boxes], np.int64)
    out = np.zeros((n, h, int(widths.max())), np.float32)
    for i, (index, line) in enumerate(zip(picks, boxes)):
        for j, (x0, x1) in zip(index, line):
            out[i, :, x0:x1] = pixels[j]
    return DigitStrings(out, widths, [labels[index].astype(np.int64) for index in picks], boxes)


def glyph_crops(
    images: np.ndarray, boxes: Sequence[Sequence[tuple[int, int]]], width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each character's columns cut out of its line, for a reader that is told where the characters
    are (the lectures' segmented model).

    images (N, H, W) and boxes[n] = [(x0, x1), ...] as text_lines returns them -> (crops (L, N, H,
    width) float32 with L the most characters in a line, zeros past each line's end; lengths (N,)).
    A box narrower than `width` sits centred in its crop; a wider one keeps its central `width`
    columns (the ink a wide glyph loses is at its edges).
    """
    images = np.asarray(images)
    if images.ndim != 3 or len(boxes) != images.shape[0]:
        raise ValueError(
            f"images must be (N, H, W) with one list of boxes per line, got shape {images.shape} and {len(boxes)} lists"
        )
    width = positive_int("width", width)
    lengths = np.array([len(b) for b in boxes], np.int64)
    crops = np.zeros((max(1, int(lengths.max(initial=0))), len(boxes), images.shape[1], width), np.float32)
    for n, line in enumerate(boxes):
        for i, (x0, x1) in enumerate(line):
            if not 0 <= x0 < x1 <= images.shape[2]:
                raise ValueError(f"box {i} of line {n}, ({x0}, {x1}), is not a column range inside the image")
            if x1 - x0 > width:  # keep the centre
                x0 += (x1 - x0 - width) // 2
                x1 = x0 + width
            left = (width - (x1 - x0)) // 2
            crops[i, n, :, left : left + x1 - x0] = images[n, :, x0:x1]
    return crops, lengths
