"""File loaders for the experiments: labelled sentences, MNIST IDX files, the RNNLAB_DATA_DIR lookup.
Every malformed input is a DataError naming the file (and the line, for text)."""

import gzip

import numpy as np
import pytest

from rnnlab.data.datadir import data_path
from rnnlab.data.mnist import load_mnist, write_idx
from rnnlab.data.sentiment import FUNCTION_WORDS, WordVocab, contrast_sentences, load_labelled, polar_words, tokenize
from rnnlab.data.text import DataError


def test_tokenize_keeps_punctuation_and_negations():
    assert tokenize("Not bad, GOOD! Isn't it?") == ["not", "bad", ",", "good", "!", "isn't", "it", "?"]


def test_load_labelled_reads_a_tsv_and_sorts_integer_labels_numerically(tmp_path):
    f = tmp_path / "x.tsv"
    f.write_text("great film\t10\n\nawful\t2\nfine, with a\ttab\t10\n")
    data = load_labelled(f)
    assert data.classes == ["2", "10"]
    assert data.texts == ["great film", "awful", "fine, with a\ttab"]
    assert data.labels.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    "content, message",
    [
        ("good\t1\nno tab here\n", "line 2: no tab"),
        ("good\t1\n\t0\n", "line 2: the text before the tab is empty"),
        ("good\t1\nbad\t \n", "line 2: the label after the last tab is missing"),
        ("good\t1\nbad\t1\n", "a classifier needs two or more"),
    ],
)
def test_load_labelled_names_file_and_line(tmp_path, content, message):
    f = tmp_path / "bad.tsv"
    f.write_text(content)
    with pytest.raises(DataError, match=message) as err:
        load_labelled(f)
    assert "bad.tsv" in str(err.value)


def test_load_labelled_reports_non_utf8_with_its_line(tmp_path):
    f = tmp_path / "latin.tsv"
    f.write_bytes(b"good\t1\ncaf\xe9\t0\n")
    with pytest.raises(DataError, match="line 2: not UTF-8"):
        load_labelled(f)


def test_load_labelled_missing_path_says_what_to_pass(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        load_labelled(tmp_path / "nope.tsv")


def test_word_vocab_pads_with_zero_and_maps_unknown_words_to_one():
    vocab = WordVocab.from_texts(["a good film", "a bad one"])
    ids, lengths = vocab.encode(["good film", "unseen words here"])
    assert lengths.tolist() == [2, 3] and ids.shape == (3, 2)
    assert ids[2, 0] == WordVocab.PAD and (ids[:, 1] == WordVocab.UNK).all()
    bag = vocab.bag_of_words(["film good", "good film"])
    np.testing.assert_array_equal(bag[0], bag[1])  # order forgotten


def _mnist_folder(tmp_path, n=20):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, size=(n, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, size=n))
    return tmp_path


def test_polar_words_reads_polarity_from_the_labels_and_skips_function_and_excluded_words():
    texts = [
        "superb view",
        "superb meal",
        "superb not",
        "dreadful meal",
        "dreadful view",
        "dreadful not",
        "food not dreadful superb",
    ]
    labels = [1, 1, 1, 0, 0, 0, 1]
    positive, negative = polar_words(texts, labels, min_count=2, agreement=0.75)
    # superb: 4 of 4 positive; dreadful: 3 of 4 negative; view, meal: 1 of 2 either way; food: once;
    # "not" (2 of 4 either way) is a function word in any case
    assert positive == ["superb"] and negative == ["dreadful"]
    assert "not" in FUNCTION_WORDS
    assert polar_words(texts, labels, exclude={"superb"}, min_count=2, agreement=0.75) == ([], ["dreadful"])


def _reference_label(tokens, positive):
    """The label by the rule the generator states, read back from its tokens: the polar word after
    "but" counts; else the one not preceded by a negator."""
    polar = [k for k, w in enumerate(tokens) if w in ("nice", "poor")]
    if "but" in tokens:
        after = [k for k in polar if k > tokens.index("but")]
        return int(tokens[after[0]] in positive)
    negated = {k for k in polar if tokens[k - 1] in ("not", "never")}
    (counts,) = [k for k in polar if k not in negated]
    return int(tokens[counts] in positive)


def test_contrast_sentences_label_by_order_and_share_bags_with_their_mirror():
    texts, labels = contrast_sentences(["nice"], ["poor"], 400, np.random.default_rng(0))
    assert len(texts) == 400 and labels.dtype == np.int64 and 0.35 < labels.mean() < 0.65
    for text, label in zip(texts, labels):
        tokens = tokenize(text)
        assert tokens.count("nice") == 1 and tokens.count("poor") == 1, text
        assert label == _reference_label(tokens, {"nice"}), text
    # swapping the two polar words keeps the bag of words and flips the label: order decides
    mirrored = [" ".join("poor" if w == "nice" else "nice" if w == "poor" else w for w in tokenize(t)) for t in texts]
    assert all(_reference_label(tokenize(m), {"nice"}) == 1 - label for m, label in zip(mirrored, labels))
    with pytest.raises(ValueError, match="positive and one negative"):
        contrast_sentences([], ["poor"], 3, np.random.default_rng(0))


def test_mnist_round_trips_through_idx_files(tmp_path):
    images, labels = load_mnist(_mnist_folder(tmp_path))
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8 and labels.shape == (20,)


def test_mnist_truncated_file_is_named(tmp_path):
    folder = _mnist_folder(tmp_path)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-5]))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz.*truncated"):
        load_mnist(folder)


def test_mnist_wrong_magic_and_missing_files_are_named(tmp_path):
    folder = _mnist_folder(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match="magic number 0x00000803, expected 0x00000801"):
        load_mnist(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="has no t10k-labels-idx1-ubyte"):
        load_mnist(folder)


def test_data_sets_are_found_in_rnnlab_data_dir_or_the_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNLAB_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"RNNLAB_DATA_DIR is not set\); pass --tsv FILE"):
        data_path("sentiment_labelled_sentences", "--tsv FILE", "a tab-separated file")
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=f"{tmp_path}/sentiment_labelled_sentences: not found; pass --tsv FILE"):
        data_path("sentiment_labelled_sentences", "--tsv FILE", "a tab-separated file")
    (tmp_path / "sentiment_labelled_sentences").mkdir()
    assert (
        data_path("sentiment_labelled_sentences", "--tsv FILE", "a file") == tmp_path / "sentiment_labelled_sentences"
    )
