"""The outside data sets: where each comes from, its checksums and licence, and where it is found.

What rnnlab runs by default ships with Python or with a package it installs. Five data sets are
published elsewhere; the experiments that read them (and the benchmarks) find them through this
registry. Each `Dataset` names its files as the experiments expect them under a data folder
(`sentiment_labelled_sentences/amazon_cells_labelled.txt`), each file's URL pinned to one commit
of a public repository, its SHA-256 and size, the licence and what to cite.

Where a data set is found (`path(name)`), first place first; a set is always read from one place:
    1. $RNNLAB_DATA_DIR, when that variable names a folder holding every file of the set. Each
       file's size is checked (cheap); a file of another size is an error, never skipped over.
    2. The cache, `cache_dir()`, when it holds every file, each of its size: only `fetch` writes
       there, and only after the file's SHA-256 matched.
    3. `fetch(name)`: each missing file downloaded with pooch (a dependency of rnnlab, imported on
       first download) into the cache. pooch writes a temporary file beside the target and moves it
       into place only when its SHA-256 is the registered one; a mismatch is a DataError naming the
       file, the expected and the actual checksum, and leaves nothing behind. `fetch` also checks
       every file already cached against its full SHA-256 and downloads again one that fails.
A download that fails (offline, a refused connection, HTTP 404) is a DataError of one line naming
the URL, the file and where to put it by hand.

cache_dir() is $RNNLAB_CACHE_DIR/data when that variable is set, else the platform's user cache
(platformdirs.user_cache_dir("rnnlab")/data: ~/.cache/rnnlab/data on Linux).

Not registered: the MNIST training set (60,000 images). No pinned public copy of it is among our
sources (the copy of the test set registered here has only the training labels beside it), so the
row-mnist experiment splits the 10,000 test images into its own training and test parts.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .datadir import ENVIRONMENT_VARIABLE
from .text import DataError

CACHE_VARIABLE = "RNNLAB_CACHE_DIR"  # replaces the platform's user cache folder for rnnlab


@dataclass(frozen=True)
class File:
    name: str  # relative path under a data folder, '/'-separated, as the experiments read it
    url: str  # pinned to one commit
    sha256: str
    size: int  # bytes


@dataclass(frozen=True)
class Dataset:
    name: str  # what `rnnlab data fetch NAME` and the experiments call it
    title: str  # one line: what it holds
    files: tuple[File, ...]
    root: str  # what path(name) returns, under the data folder: the one file, or the set's folder
    source: str  # the repository and commit the files come from
    licence: str
    citation: str

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _github(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{quote(path)}"


def _dataset(name, title, root, repo, commit, files, licence, citation) -> Dataset:
    """files: (name under the data folder, path in the repository, sha256, size)."""
    return Dataset(
        name,
        title,
        tuple(File(f, _github(repo, commit, p), sha, size) for f, p, sha, size in files),
        root,
        f"{repo}@{commit}",
        licence,
        citation,
    )


_SENTIMENT = "sentiment labelled sentences/"
_SENTIMENT_FILES = (
    ("amazon_cells_labelled.txt", "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3", 58226),
    ("imdb_labelled.txt", "c662b9360c1652babb990d164835af12aa105db7991f1fdb19038115f0e93de8", 85187),
    ("yelp_labelled.txt", "b565b1eeb864d76842588c3a256731b08bcdd9faf6de507bfe211a96f8b81912", 61293),
    ("readme.txt", "736c26aa54e3614459e50314ece0698051f0923d108ed53938dcb1aa0483bfd4", 1070),
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        _dataset(
            "tinyshakespeare",
            "Tiny Shakespeare: 1,115,394 characters of the plays (char-rnn's corpus)",
            "tinyshakespeare.txt",
            "karpathy/char-rnn",
            "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e",
            [
                (
                    "tinyshakespeare.txt",
                    "data/tinyshakespeare/input.txt",
                    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                    1115394,
                )
            ],
            "the text is public domain; the char-rnn repository is MIT",
            "A. Karpathy, char-rnn (2015), github.com/karpathy/char-rnn",
        ),
        _dataset(
            "sentiment",
            "UCI Sentiment Labelled Sentences: 3 x 1,000 sentences (Amazon, IMDb, Yelp), half positive",
            "sentiment_labelled_sentences",
            "kvrao/sentiment_analysis",
            "462f7304ab341f1b5014e6eae56100bfe35d703a",
            [(f"sentiment_labelled_sentences/{f}", _SENTIMENT + f, sha, size) for f, sha, size in _SENTIMENT_FILES],
            "CC BY 4.0 (UCI Machine Learning Repository)",
            "D. Kotzias, M. Denil, N. de Freitas, P. Smyth, From Group to Individual Labels using Deep Features, "
            "KDD 2015",
        ),
        _dataset(
            "fra-eng",
            "Tatoeba English-French pairs of 2017-09-29 (manythings.org): 142,787 tab-separated pairs, zipped",
            "fra-eng.zip",
            "genimind/seq2seq",
            "4f3f8eb0adde54fcc8b89394336b002e7961244c",
            [
                (
                    "fra-eng.zip",
                    "fra-eng.zip",
                    "16c4f7d0df9e7c5e6c54cdb0447f3f4a18a55052ff5e2e0b27dd4a06c0e49d04",
                    2951390,
                )
            ],
            "CC BY 2.0 (Tatoeba)",
            "Tatoeba, tatoeba.org; the pairs as published at www.manythings.org/anki",
        ),
        _dataset(
            "jsb-chorales",
            "JSB chorales on a quarter-note grid: 229 / 76 / 77 chorales (train / valid / test)",
            "jsb_chorales",
            "czhuang/JSB-Chorales-dataset",
            "9a7f733ddb4ed91f48da64ac7f0f621c34aadd4d",
            [
                (
                    "jsb_chorales/jsb-chorales-quarter.json",
                    "jsb-chorales-quarter.json",
                    "2db9329f1881a1d3f49703ec556bf1d6f84b4f6c1d702c156536e93cf31e1c91",
                    407200,
                ),
                (
                    "jsb_chorales/README.md",
                    "README.md",
                    "987acd374192f12438284c4bf60dd1c9cdc4a0370ddb7e34f1793fe4eb8113ee",
                    2398,
                ),
            ],
            "Bach's music is public domain; the repository has no licence file",
            "N. Boulanger-Lewandowski, Y. Bengio, P. Vincent, Modeling Temporal Dependencies in "
            "High-Dimensional Sequences, ICML 2012",
        ),
        _dataset(
            "mnist-test",
            "MNIST test set: 10,000 handwritten digits of 28 x 28 pixels and their labels (IDX, gzipped)",
            "mnist",
            "kelas/mnist",
            "283b387221ab46655e600cfcc25d843bb14292b9",
            [
                (
                    "mnist/t10k-images-idx3-ubyte.gz",
                    "t10k-images-idx3-ubyte.gz",
                    "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
                    1648877,
                ),
                (
                    "mnist/t10k-labels-idx1-ubyte.gz",
                    "t10k-labels-idx1-ubyte.gz",
                    "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
                    4542,
                ),
            ],
            "CC BY-SA 3.0 (Y. LeCun and C. Cortes)",
            "Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of handwritten digits",
        ),
    )
}


def dataset(name: str) -> Dataset:
    """The registered data set `name`, or a DataError listing them."""
    if name not in DATASETS:
        raise DataError(name, f"no such data set; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def cache_dir() -> Path:
    """The folder that fetch() downloads into: $RNNLAB_CACHE_DIR/data, else the user cache."""
    root = os.environ.get(CACHE_VARIABLE)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("rnnlab", appauthor=False)
    return Path(root).expanduser() / "data"


def data_dir() -> Path | None:
    """The folder $RNNLAB_DATA_DIR names, or None when it is not set."""
    folder = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(folder).expanduser() if folder else None


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def located(name: str) -> tuple[str, Path] | None:
    """(place, path) of the data set where it is found without downloading: place is
    "RNNLAB_DATA_DIR" or "cache"; None when neither holds all of its files."""
    d = dataset(name)
    folder = data_dir()
    if folder is not None and all((folder / f.name).is_file() for f in d.files):
        for f in d.files:
            size = (folder / f.name).stat().st_size
            if size != f.size:
                raise DataError(
                    folder / f.name,
                    f"has {size} bytes, not the {f.size} of {d.name}'s {f.name} ({f.url}); "
                    f"replace it with that file or unset {ENVIRONMENT_VARIABLE}",
                )
        return ENVIRONMENT_VARIABLE, (folder / d.root).resolve()
    if is_cached(name):
        return "cache", cache_dir() / d.root
    return None


def is_cached(name: str) -> bool:
    """Whether the cache holds every file of the data set, each of its registered size."""
    cache = cache_dir()
    return all((cache / f.name).is_file() and (cache / f.name).stat().st_size == f.size for f in dataset(name).files)


def where(name: str) -> str:
    """Where the data set is, or would be downloaded to, in words."""
    d = dataset(name)
    found = located(name)
    if found is None:
        return f"not here: downloads {megabytes(d.size)} into {cache_dir() / d.root}"
    place, path = found
    return f"in ${place}: {path}" if place == ENVIRONMENT_VARIABLE else f"cached: {path}"


def path(name: str, progress: bool = False) -> Path:
    """The data set's file, or its folder for a set of several files: from $RNNLAB_DATA_DIR, the
    cache, or downloaded into the cache now (see the module's docstring)."""
    found = located(name)
    return found[1] if found else fetch(name, progress=progress)


def fetch(name: str, progress: bool = False) -> Path:
    """Download into the cache what it lacks of the data set, check every cached file against its
    SHA-256 (one that fails is downloaded again) and return the set's path in the cache.
    $RNNLAB_DATA_DIR is not consulted: this fills the cache. `progress`: pooch's bar on stderr."""
    d = dataset(name)
    cache = cache_dir()
    for f in d.files:
        target = cache / f.name
        if target.is_file() and (target.stat().st_size != f.size or sha256(target) != f.sha256):
            target.unlink()
        if not target.is_file():
            _download(d, f, target, progress)
    return cache / d.root


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _download(d: Dataset, f: File, target: Path, progress: bool) -> None:
    try:
        import pooch
    except ImportError:  # a dependency of rnnlab: missing only from a broken install
        raise DataError(d.name, f"downloading {f.url} needs pooch (pip install pooch); {_put_it(f, target)}") from None
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch announces each download on stderr; the caller says what it does
    made = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
    try:
        pooch.retrieve(
            f.url,
            known_hash=f"sha256:{f.sha256}",
            fname=target.name,
            path=target.parent,
            downloader=pooch.HTTPDownloader(progressbar=progress, timeout=30),
        )
    except ValueError as err:  # pooch's checksum mismatch: it has deleted the temporary file
        got = re.search(r"got ([0-9a-f]{64})", str(err))
        raise DataError(
            d.name,
            f"the download of {f.name} from {f.url} has SHA-256 {got.group(1) if got else '(unknown)'}, "
            f"expected {f.sha256}; deleted it (the file at that address changed, or the download was corrupted)",
        ) from err
    except Exception as err:  # requests' errors (OSErrors), and whatever else a download raises
        raise DataError(d.name, f"cannot download {f.url} ({_reason(err)}); {_put_it(f, target)}") from err
    finally:
        logger.setLevel(level)
        if not target.is_file():
            for folder in made:  # the folders pooch made for a file that did not come: innermost first
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()


def _put_it(f: File, target: Path) -> str:
    return f"put {target.name} in {target.parent}{os.sep} or set {ENVIRONMENT_VARIABLE} to a folder holding {f.name}"


def _reason(err: Exception) -> str:
    """A download error in a few words: the OS's words ('Connection refused'), or the HTTP status."""
    text = str(err)
    status = getattr(getattr(err, "response", None), "status_code", None)
    if status is not None:
        return f"HTTP {status}"
    found = re.findall(r"\[Errno -?\d+\] ([^'\"\)\]]+)", text) or re.findall(r"(Name or service not known)", text)
    if found:
        return found[-1].strip().rstrip(".")
    if "timed out" in text.lower():
        return "timed out"
    return type(err).__name__


__all__ = [
    "CACHE_VARIABLE",
    "DATASETS",
    "Dataset",
    "File",
    "cache_dir",
    "data_dir",
    "dataset",
    "fetch",
    "is_cached",
    "located",
    "megabytes",
    "path",
    "sha256",
    "where",
]
