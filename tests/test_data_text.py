"""Text for the char-level LM: file errors, built-in corpora, vocabulary, split and batches."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rnnlab.data import CORPORA, BatchStream, DataError, Vocab, builtin_corpus, load_text, split

# --- load_text ----------------------------------------------------------------------------------


def test_invalid_utf8_error_names_file_byte_offset_and_line(tmp_path):
    f = tmp_path / "bad.txt"
    good = "line one\nline two\nline three é\n"  # é is two bytes in UTF-8
    prefix = good.encode("utf-8") + b"four "
    f.write_bytes(prefix + b"\xff\xfe rest\n")
    with pytest.raises(DataError) as err:
        load_text(f)
    msg = str(err.value)
    assert str(f) in msg
    assert f"at byte {len(prefix)} " in msg and "(line 4)" in msg
    assert "0xff" in msg and "--encoding latin-1" in msg
    assert load_text(f, encoding="latin-1").endswith("\xff\xfe rest\n")  # the advice works


def test_empty_and_short_files_say_what_is_needed(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt: the file is empty.*at least 2"):
        load_text(empty)
    short = tmp_path / "short.txt"
    short.write_text("abcde")
    with pytest.raises(DataError, match=r"short\.txt: holds only 5 characters; at least 100"):
        load_text(short, min_chars=100)
    assert load_text(short, min_chars=5) == "abcde"


def test_missing_file_and_directory_name_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nope\.txt: no such file"):
        load_text(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="is a directory"):
        load_text(tmp_path)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match=r"x\.txt: unknown encoding 'utf-9'"):
        load_text(tmp_path / "x.txt", encoding="utf-9")


def test_line_endings_and_bom_are_normalised(tmp_path):
    f = tmp_path / "win.txt"
    f.write_bytes(b"\xef\xbb\xbfa\r\nb\rc\n")
    assert load_text(f) == "a\nb\nc\n"


# --- built-in corpora ---------------------------------------------------------------------------


def test_unknown_corpus_lists_the_choices():
    with pytest.raises(DataError) as err:
        builtin_corpus("shakespeare")
    assert "'shakespeare'" in str(err.value)
    for name in CORPORA:
        assert name in str(err.value)


def test_python_docs_is_the_reference_topics_and_nontrivial():
    from pydoc_data.topics import topics

    text = builtin_corpus("python-docs")
    assert len(text) > 300_000 and len(set(text)) > 80
    first = sorted(topics)[0]
    assert text.startswith(topics[first] + "\n\n")
    assert builtin_corpus("python-docs", max_chars=1000) == text[:1000]


def test_python_source_is_stdlib_code_capped_and_prefix_stable():
    text = builtin_corpus("python-source")
    assert 1_000_000 < len(text) <= 4_000_000
    assert "def " in text and "import " in text
    small = builtin_corpus("python-source", max_chars=50_000)
    assert len(small) == 50_000 and text.startswith(small)


def test_python_source_files_come_in_sorted_path_order_without_tests():
    import sysconfig
    from pathlib import Path

    root = Path(sysconfig.get_paths()["stdlib"])
    text = builtin_corpus("python-source")
    names = sorted(p.name for p in root.glob("*.py"))[:40]  # top-level files, all well inside 4 MB
    places = [text.find((root / n).read_text(encoding="utf-8")) for n in names]
    assert places[0] == 0 and all(a < b for a, b in zip(places, places[1:])), names
    whole = builtin_corpus("python-source", max_chars=10**9)
    assert (root / "json" / "decoder.py").read_text(encoding="utf-8") in whole
    for left_out in ("test/test_grammar.py", "idlelib/editor.py", "encodings/cp1252.py"):
        if (root / left_out).is_file():
            assert (root / left_out).read_text(encoding="utf-8")[:3000] not in whole, left_out


def test_corpora_are_identical_across_processes():
    code = (
        "import hashlib; from rnnlab.data import builtin_corpus as b; "
        "print(hashlib.sha256((b('python-docs') + b('python-source', 300000)).encode())"
        ".hexdigest())"
    )
    here = hashlib.sha256(
        (builtin_corpus("python-docs") + builtin_corpus("python-source", 300_000)).encode()
    ).hexdigest()
    env = dict(os.environ, PYTHONHASHSEED="12345")  # set order differs; the corpus must not
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    assert out == here


# --- Vocab --------------------------------------------------------------------------------------


def test_vocab_round_trip_and_json():
    text = "hello, wörld!\n\tπ≈3.14 🙂"
    v = Vocab.from_text(text)
    assert v.size == len(set(text)) and v.chars == "".join(sorted(set(text)))
    ids, known = v.encode(text)
    assert ids.dtype == np.int32 and known.dtype == np.bool_ and known.all()
    assert v.decode(ids) == text
    back = Vocab.from_json(json.loads(json.dumps(v.to_json())))
    assert back == v and back.decode(ids) == text


def test_unknown_chars_get_id_zero_and_are_counted():
    v = Vocab.from_text("abc")
    ids, known = v.encode("axbz\U0010ffffc")
    assert ids.tolist() == [0, 0, 1, 0, 0, 2]
    assert known.tolist() == [True, False, True, False, False, True]
    assert int((~known).sum()) == 3
    with pytest.raises(DataError, match=r"--prime: character 'x' \(U\+0078\) at position 1"):
        v.encode_known("axbz", source="--prime")
    assert v.encode_known("cab").tolist() == [2, 0, 1]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"chars": "ab"},
        {"kind": "char", "chars": 3},
        {"kind": "char", "chars": ""},
        {"kind": "char", "chars": "ba"},
        {"kind": "char", "chars": "aab"},
    ],
)
def test_malformed_vocab_json_is_a_data_error(bad):
    with pytest.raises(DataError, match="vocab.json"):
        Vocab.from_json(bad, source="vocab.json")


# --- split --------------------------------------------------------------------------------------


def test_split_is_a_contiguous_tail_of_the_right_size():
    ids = np.arange(1000, dtype=np.int32)
    train, val = split(ids, 0.1)
    assert len(train) == 900 and len(val) == 100
    np.testing.assert_array_equal(np.concatenate([train, val]), ids)
    train, val = split(np.arange(5), 0.1)  # tiny: each part still has an input and a target
    assert len(train) == 3 and len(val) == 2


def test_split_of_too_short_text_says_the_minimum():
    with pytest.raises(DataError, match=r"corpus\.txt: 3 characters .* at least 4"):
        split(np.arange(3), 0.1, source="corpus.txt")
    with pytest.raises(DataError, match="at least 11"):  # 10: 9 to validate leaves 1 to train
        split(np.arange(10), 0.9)
    train, val = split(np.arange(11), 0.9)
    assert len(train) == 2 and len(val) == 9
    for n in range(11, 200):  # the minimum stays a minimum: no longer text fails
        assert min(len(p) for p in split(np.arange(n), 0.9)) >= 2


# --- BatchStream --------------------------------------------------------------------------------


def make_stream(n=1003, batch_size=4, seq_len=7):
    return np.arange(n, dtype=np.int32), BatchStream(np.arange(n), batch_size, seq_len)


def test_windows_are_time_major_and_y_is_x_shifted_by_one():
    ids, s = make_stream()
    n = len(ids) // 4  # 250 per stream
    assert s.windows_per_epoch == (n - 1) // 7 == len(s)
    for k in (0, 5, s.windows_per_epoch - 1):
        x, y = s.window(k)
        assert x.shape == y.shape == (7, 4) and x.dtype == y.dtype == np.int32
        np.testing.assert_array_equal(x[1:], y[:-1])
        for b in range(4):  # stream b is the b-th contiguous quarter of the ids
            np.testing.assert_array_equal(x[:, b], ids[b * n + k * 7 : b * n + k * 7 + 7])
            np.testing.assert_array_equal(y[:, b], x[:, b] + 1)


def test_consecutive_windows_continue_each_stream():
    _, s = make_stream()
    for k in range(s.windows_per_epoch - 1):
        x, y = s.window(k)
        x_next, _ = s.window(k + 1)
        np.testing.assert_array_equal(x_next[0], x[-1] + 1)
        np.testing.assert_array_equal(x_next[0], y[-1])
    everything = np.concatenate([x for x, _ in s])  # one epoch read window after window
    np.testing.assert_array_equal(everything[:, 1], np.arange(250, 250 + len(everything)))


def test_window_index_wraps_around_by_epoch():
    _, s = make_stream()
    w = s.windows_per_epoch
    for k in (0, 3, w - 1):
        for a, b in zip(s.window(k), s.window(k + 2 * w)):
            np.testing.assert_array_equal(a, b)
    assert s.epoch(2 * w + 3) == 2 and s.starts_epoch(w) and not s.starts_epoch(w + 1)
    x, _ = s.window(0)
    with pytest.raises(ValueError):
        x[0, 0] = 5  # read-only: a caller cannot corrupt later windows


def test_too_short_ids_say_the_minimum():
    assert BatchStream.minimum_length(4, 7) == 32
    s = BatchStream(np.arange(32), 4, 7)
    assert s.windows_per_epoch == 1
    with pytest.raises(DataError, match=r"val: 31 characters .* at least 32"):
        BatchStream(np.arange(31), 4, 7, source="val")
    with pytest.raises(ValueError, match="seq_len"):
        BatchStream(np.arange(100), 4, 0)
