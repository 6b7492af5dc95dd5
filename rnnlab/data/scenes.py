"""Rendered scenes and their captions, for image captioning (NumPy only, no plotting library).

A scene is a small RGB canvas (3, H, W), float32 in [0, 1], with one or two shapes on a dark,
noisy background, and the caption that describes it, generated from what was drawn:

    one shape                        a red circle
    two shapes of the same kind      two green triangles
    two different shapes, side by    a blue square left of a yellow circle      (the left one first)
    side or one over the other       a red triangle above a green square        (the upper one first)

Shapes: circle, square, triangle (apex up); colours: red, green, blue, yellow; a shape's
half-size r is 4..6 pixels on the default 32 x 32 canvas, its brightness 75..100%, and every
pixel gets Gaussian noise. Two shapes never overlap, and the relation is never a near-diagonal
call: for "left of" the horizontal gap between the centres is at least 1/0.6 times the vertical
one (and the other way round for "above"), so the first-named shape is always the one with the
smaller x + y.

Compositional split. An object type is a (colour, shape); a pair is two different types (in
either order and either relation). The held-out pairs, by default :func:`held_out_pairs`, never
occur in the "train" or "seen" draws, in any order or relation; the "unseen" draws hold only
them. So a model that reads "unseen" scenes right has put together colours, shapes and
relations it saw only in other company. The default rule: a type is held out with the type one
colour on and one shape on (cyclically, in the orders of COLOURS and SHAPES): red circle with
green square, green triangle with blue circle, yellow square with red triangle, ... 12 of the 66
pairs; every type keeps 9 partners in training and appears in exactly two held-out pairs.

Splits of :func:`draw_scenes`:
    "train"   a mix: one shape (15%), two of one type (15%), a training pair (70%)
    "seen"    training pairs only (new draws: held-out scenes of training combinations)
    "unseen"  held-out pairs only (combinations never drawn in "train" or "seen")

Captions are word lists; :data:`VOCAB` (a :class:`rnnlab.data.seq2seq.TokenVocab`: <pad>,
<bos>, <eos>, <unk> then the words) turns them into the decoder's ids with ``encode_target``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .seq2seq import TokenVocab

COLOURS = {  # name -> RGB
    "red": (1.0, 0.15, 0.1),
    "green": (0.1, 0.85, 0.2),
    "blue": (0.2, 0.35, 1.0),
    "yellow": (1.0, 0.9, 0.1),
}
SHAPES = ("circle", "square", "triangle")
RELATIONS = ("left of", "above")
SPLITS = ("train", "seen", "unseen")
TYPES = tuple((c, s) for c in COLOURS for s in SHAPES)  # the 12 object types
WORDS = ("a", "two", *COLOURS, *SHAPES, *(s + "s" for s in SHAPES), "left", "of", "above")
VOCAB = TokenVocab(WORDS)
MIX = (0.15, 0.15, 0.7)  # shares of one shape, two of one type, a pair, in "train"
MAX_WORDS = 8  # "a red circle left of a blue square"


@dataclass(frozen=True)
class Thing:
    """One drawn shape: its type, centre (x, y) in pixels from the top-left corner, half-size r."""

    colour: str
    shape: str
    x: float
    y: float
    r: float

    @property
    def type(self) -> tuple[str, str]:
        return (self.colour, self.shape)


@dataclass
class Scenes:
    """A batch of scenes: images (n, 3, H, W) float32, captions (word lists), the things drawn
    (in caption order), the relation of each (None for one shape or two of one type) and its
    pair of types (a frozenset of two (colour, shape), None unless two different types)."""

    images: np.ndarray
    captions: list[list[str]]
    things: list[tuple[Thing, ...]]
    relations: list[str | None]
    pairs: list[frozenset | None]

    def __len__(self) -> int:
        return len(self.captions)


def held_out_pairs() -> frozenset:
    """The default held-out pairs: each type with the type one colour and one shape on (cyclic)."""
    colours = list(COLOURS)
    pairs = set()
    for c, colour in enumerate(colours):
        for s, shape in enumerate(SHAPES):
            other = (colours[(c + 1) % len(colours)], SHAPES[(s + 1) % len(SHAPES)])
            pairs.add(frozenset({(colour, shape), other}))
    return frozenset(pairs)


def all_pairs() -> list[frozenset]:
    """The 66 unordered pairs of different types."""
    return [frozenset({a, b}) for i, a in enumerate(TYPES) for b in TYPES[i + 1 :]]


def caption(things: tuple[Thing, ...], relation: str | None) -> list[str]:
    """The words for what was drawn; `things` in caption order (left or upper one first)."""
    if len(things) == 1:
        return ["a", things[0].colour, things[0].shape]
    a, b = things
    if a.type == b.type:
        return ["two", a.colour, a.shape + "s"]
    if relation not in RELATIONS:
        raise ValueError(f"two different shapes need a relation, one of {RELATIONS}, got {relation!r}")
    return ["a", a.colour, a.shape, *relation.split(), "a", b.colour, b.shape]


def _mask(thing: Thing, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    dx, dy, r = xx - thing.x, yy - thing.y, thing.r
    if thing.shape == "circle":
        return dx * dx + dy * dy <= r * r
    if thing.shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.85 * r  # about a circle's area
    return (dy >= -r) & (dy <= 0.8 * r) & (np.abs(dx) <= (dy + r) / 1.8)  # apex up, base 2r wide


def _place(rng, H: int, W: int, rmin: int, rmax: int, relation: str):
    """Two non-overlapping centres and half-sizes, the first left of (or above) the second: the
    first's coordinate along the relation's axis, then the second's at least ra + rb + 2 further,
    then the other coordinates, at most 0.6 times that gap apart."""
    along_size, across_size = (W, H) if relation == "left of" else (H, W)
    for _ in range(100):
        ra, rb = (int(r) for r in rng.integers(rmin, rmax + 1, size=2))
        a_hi = along_size - 1 - rb - (ra + rb + 2)
        if a_hi < ra + 1:
            continue
        a_al = rng.uniform(ra + 1, a_hi)
        b_al = rng.uniform(a_al + ra + rb + 2, along_size - 1 - rb)
        a_ac = rng.uniform(ra + 1, across_size - 1 - ra)
        lo, hi = max(rb + 1, a_ac - 0.6 * (b_al - a_al)), min(across_size - 1 - rb, a_ac + 0.6 * (b_al - a_al))
        if lo > hi:
            continue
        b_ac = rng.uniform(lo, hi)
        if relation == "left of":
            return (a_al, a_ac, ra), (b_al, b_ac, rb)
        return (a_ac, a_al, ra), (b_ac, b_al, rb)
    raise ValueError(f"could not place two shapes of half-size {rmin}..{rmax} on a {H} x {W} canvas")


def _check_pairs(held_out) -> frozenset:
    pairs = frozenset(frozenset(p) for p in held_out)
    for p in pairs:
        if len(p) != 2 or not p <= set(TYPES):
            raise ValueError(f"a held-out pair must be two different (colour, shape) types of {TYPES}, got {set(p)}")
    if len(pairs) >= len(all_pairs()):
        raise ValueError("held_out leaves no pair for training")
    if not pairs:
        raise ValueError("held_out is empty: the 'unseen' split would have nothing to draw")
    return pairs


def draw_scenes(
    rng: np.random.Generator,
    n: int,
    split: str = "train",
    *,
    height: int = 32,
    width: int = 32,
    noise: float = 0.05,
    held_out=None,
) -> Scenes:
    """n scenes of `split` ("train", "seen" or "unseen", see the module docstring), drawn from `rng`
    alone (the same generator state gives the same scenes). held_out: the held-out pairs (an
    iterable of two-type sets; None: :func:`held_out_pairs`)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 24:
            raise ValueError(f"{name} must be an integer of at least 24 pixels, got {value!r}")
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    held = _check_pairs(held_out_pairs() if held_out is None else held_out)
    pool = held if split == "unseen" else [p for p in all_pairs() if p not in held]
    pool = sorted(sorted(p) for p in pool)  # a fixed order, so rng alone decides
    rmin, rmax = max(2, min(height, width) // 8), max(3, min(height, width) * 3 // 16)
    yy, xx = np.mgrid[0:height, 0:width] + 0.5  # pixel centres
    images = np.empty((n, 3, height, width), np.float32)
    captions, things_all, relations, pairs = [], [], [], []
    for k in range(n):
        kind = int(np.searchsorted(np.cumsum(MIX), rng.random() * sum(MIX))) if split == "train" else 2
        relation = RELATIONS[rng.integers(len(RELATIONS))]
        if kind == 0:
            r = int(rng.integers(rmin, rmax + 1))
            spots = [(rng.uniform(r + 1, width - 1 - r), rng.uniform(r + 1, height - 1 - r), r)]
            types = [TYPES[rng.integers(len(TYPES))]]
        else:
            spots = list(_place(rng, height, width, rmin, rmax, relation))
            if kind == 1:
                types = [TYPES[rng.integers(len(TYPES))]] * 2
            else:
                types = [tuple(t) for t in pool[rng.integers(len(pool))]]
                if rng.random() < 0.5:
                    types.reverse()
        things = tuple(Thing(c, s, float(x), float(y), float(r)) for (c, s), (x, y, r) in zip(types, spots))
        image = np.full((3, height, width), rng.uniform(0.0, 0.1), np.float32)
        for t in things:
            colour = np.asarray(COLOURS[t.colour], np.float32) * rng.uniform(0.75, 1.0)
            image[:, _mask(t, yy, xx)] = colour[:, None]
        if noise:
            image += rng.normal(0.0, noise, image.shape).astype(np.float32)
        images[k] = np.clip(image, 0.0, 1.0)
        two_types = len(things) == 2 and things[0].type != things[1].type
        captions.append(caption(things, relation if two_types else None))
        things_all.append(things)
        relations.append(relation if two_types else None)
        pairs.append(frozenset({things[0].type, things[1].type}) if two_types else None)
    return Scenes(images, captions, things_all, relations, pairs)
