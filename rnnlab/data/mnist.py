"""MNIST digits from the IDX files LeCun distributes (gzipped or not), checked as they are read.

    images, labels = load_mnist("data/mnist")   # (n, 28, 28) uint8, (n,) int64

The folder must hold t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz) (the test set,
what the experiment reads), or the train-* pair. IDX: a big-endian header, magic 0x00000803 for
images (count, rows, cols) and 0x00000801 for labels (count), then one unsigned byte per value.
Every problem is a DataError naming the file: missing, not gzip, wrong magic, truncated, counts
that disagree, labels outside 0..9.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .text import DataError

IMAGES_MAGIC, LABELS_MAGIC = 0x803, 0x801


def _read(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror or err})") from None
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(path, f"is not a complete gzip file ({err})") from None
    return raw


def read_idx(path, magic: int, dims: int) -> np.ndarray:
    """The array in one IDX file: `dims` sizes after the magic number, then uint8 values."""
    path = Path(path)
    data = _read(path)
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(path, f"holds {len(data)} bytes, fewer than the {header}-byte IDX header")
    found, *shape = struct.unpack(f">I{dims}I", data[:header])
    if found != magic:
        raise DataError(
            path,
            f"magic number 0x{found:08x}, expected 0x{magic:08x} "
            f"({'images' if magic == IMAGES_MAGIC else 'labels'} in IDX format)",
        )
    size = int(np.prod(shape))
    if len(data) - header != size:
        raise DataError(
            path,
            f"holds {len(data) - header} values after the header, expected "
            f"{' x '.join(map(str, shape))} = {size} (truncated or padded file)",
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_mnist(folder, split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """images (n, rows, cols) uint8 and labels (n,) int64 of the `split` ("t10k" or "train")."""
    folder = Path(folder)
    if folder.is_file():
        raise DataError(folder, "is a file; pass the folder that holds it and the other MNIST IDX file")
    if not folder.is_dir():
        raise DataError(
            folder,
            "no such folder; pass the folder holding the MNIST IDX files "
            f"({split}-images-idx3-ubyte.gz and {split}-labels-idx1-ubyte.gz)",
        )
    found = {kind: _find(folder, f"{split}-{kind}") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")}
    missing = [f"{split}-{k}(.gz)" for k, p in found.items() if p is None]
    if missing:
        raise DataError(folder, f"has no {' and no '.join(missing)}")
    images = read_idx(found["images-idx3-ubyte"], IMAGES_MAGIC, 3)
    labels = read_idx(found["labels-idx1-ubyte"], LABELS_MAGIC, 1).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(found["labels-idx1-ubyte"], f"holds {len(labels)} labels for {len(images)} images")
    if labels.size and labels.max() > 9:
        raise DataError(
            found["labels-idx1-ubyte"], f"label {labels.max()} at index {int(labels.argmax())}; digits are 0..9"
        )
    return images, labels


def write_idx(path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz): for tests and for
    small hand-made data sets."""
    array = np.ascontiguousarray(array, np.uint8)
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    data = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
