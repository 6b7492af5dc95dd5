"""Seq2seq data (rnnlab.data.seq2seq): the vocabulary's padding and BOS/EOS, dates that parse
back to themselves, held-out days kept out, reversal pairs, and the pairs loader's errors."""

import datetime as dt
import zipfile

import numpy as np
import pytest

from rnnlab.data.seq2seq import (
    BOS,
    DATE_FORMATS,
    EOS,
    PAD,
    UNK,
    TokenVocab,
    date_split,
    dates,
    load_pairs,
    reverse_pairs,
    tokenize_words,
)
from rnnlab.data.text import DataError


def test_vocab_pads_and_frames_targets_with_bos_and_eos():
    vocab = TokenVocab.build(["abc", "ab"])
    ids, lengths = vocab.encode(["ab", "c", "zz"])
    assert ids.shape == (2, 3) and list(lengths) == [2, 1, 2]
    assert ids[1, 1] == PAD and (ids[:, 2] == UNK).all()
    tgt_in, tgt_out, tlen = vocab.encode_target(["ab", "c"])
    assert list(tlen) == [3, 2]
    assert list(tgt_in[:, 0]) == [BOS, vocab.index["a"], vocab.index["b"]]
    assert list(tgt_out[:, 0]) == [vocab.index["a"], vocab.index["b"], EOS]
    assert list(tgt_out[:, 1]) == [vocab.index["c"], EOS, PAD]
    assert vocab.decode(tgt_out[:, 0]) == ["a", "b"]
    assert TokenVocab.from_json(vocab.to_json()).tokens == vocab.tokens


def test_every_date_format_is_unambiguous_and_maps_to_iso():
    day = dt.date(2021, 3, 3)
    for example, fmt in DATE_FORMATS.items():
        assert fmt(day) == example  # the key is the format's own rendering of 3 March 2021
    human, iso, which = dates(500, np.random.default_rng(0), with_formats=True)
    for h, i, k in zip(human, iso, which):
        d = dt.date.fromisoformat(i)
        assert list(DATE_FORMATS.values())[k](d) == h
    assert len(set(which)) == len(DATE_FORMATS)


def test_held_out_days_never_appear_in_training():
    train, held = date_split(np.random.default_rng(1))
    assert not set(train) & set(held) and len(held) == pytest.approx(0.1 * (len(train) + len(held)), abs=1)
    _, iso = dates(300, np.random.default_rng(2), held)
    assert {dt.date.fromisoformat(i).toordinal() for i in iso} <= set(held)


def test_reverse_pairs():
    src, tgt = reverse_pairs(50, np.random.default_rng(3), 2, 5, "xyz")
    assert all(t == s[::-1] and 2 <= len(s) <= 5 and set(s) <= set("xyz") for s, t in zip(src, tgt))
    with pytest.raises(ValueError, match="min_len"):
        reverse_pairs(1, np.random.default_rng(0), 3, 2)


def test_tokenize_words_splits_punctuation_and_elisions():
    assert tokenize_words("J\u2019ai froid !") == ["j", "'", "ai", "froid", "!"]


def test_load_pairs_reads_txt_and_zip_and_filters_by_length(tmp_path):
    lines = "Go.\tVa !\nI am cold.\tJ'ai froid.\tCC-BY 2.0\nThis one is far too long to keep here.\tNon.\n"
    (tmp_path / "fra.txt").write_text(lines)
    pairs = load_pairs(tmp_path / "fra.txt", max_words=5)
    assert pairs.source == ["Go.", "I am cold."] and pairs.target == ["Va !", "J'ai froid."]
    with zipfile.ZipFile(tmp_path / "fra-eng.zip", "w") as z:
        z.writestr("_about.txt", "about")
        z.writestr("fra.txt", lines)
    assert load_pairs(tmp_path / "fra-eng.zip", max_words=5).source == pairs.source


def test_load_pairs_errors_name_file_and_line(tmp_path):
    (tmp_path / "bad.txt").write_text("Go.\tVa !\nno tab here\n")
    with pytest.raises(DataError, match=r"bad.txt, line 2: expected English<TAB>French"):
        load_pairs(tmp_path / "bad.txt")
    (tmp_path / "latin1.txt").write_bytes("Go.\tVa !\nCafé\tCaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 2: is not UTF-8"):
        load_pairs(tmp_path / "latin1.txt")
    with pytest.raises(DataError, match="not found"):
        load_pairs(tmp_path / "missing.zip")
