"""Users' tables and token-per-line files: the delimiter and the header are found by looking, and
every bad input is a DataError naming the file and the line (and the column, where one is concerned)."""

import pytest

from rnnlab.data.tables import Table, detect_header, pick_text_and_label, read_conll, read_table, sniff_delimiter
from rnnlab.data.text import DataError


def _file(tmp_path, text, name="t.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


REVIEWS = [["a fine film", "1"], ["dull", "0"], ["loved it", "1"], ["meh", "0"]]


@pytest.mark.parametrize("delimiter", ["\t", ",", ";", "|"])
def test_every_delimiter_is_found_and_gives_the_same_rows(tmp_path, delimiter):
    text = "".join(delimiter.join(row) + "\n" for row in [["review", "stars"], *REVIEWS])
    table = read_table(_file(tmp_path, text))
    assert table.delimiter == delimiter and table.has_header
    assert table.names == ["review", "stars"] and table.rows == REVIEWS
    assert table.line_numbers == [2, 3, 4, 5] and table.header_line == 1


def test_a_tab_separated_file_of_prose_with_commas_splits_at_the_tabs(tmp_path):
    table = read_table(_file(tmp_path, "Great movie, loved it\t1\nBad, bad, bad\t0\nFine\t1\n", "t.tsv"))
    assert table.delimiter == "\t" and not table.has_header
    assert table.rows[1] == ["Bad, bad, bad", "0"] and table.names == ["0", "1"]


def test_decimal_commas_in_a_semicolon_file_do_not_make_it_comma_separated(tmp_path):
    table = read_table(_file(tmp_path, "a;b\n1,5;2,25\n4,5;6,0\n"))
    assert table.delimiter == ";" and table.has_header and table.rows == [["1,5", "2,25"], ["4,5", "6,0"]]
    assert sniff_delimiter("1,5;2,3\n4,5;6,7\n") == ";"  # csv.Sniffer says ","


def test_quoted_fields_keep_delimiters_quotes_and_line_breaks_and_rows_keep_their_start_line(tmp_path):
    text = 'text,label\n"Great, really",1\n"two\nlines",0\n"say ""hi""",1\n\nlast,0\n'
    table = read_table(_file(tmp_path, text))
    assert table.values("text") == ["Great, really", "two\nlines", 'say "hi"', "last"]
    assert table.line_numbers == [2, 3, 5, 7]  # the quoted line break moves every later row down


def test_a_byte_order_mark_and_windows_line_endings_are_read_alike(tmp_path):
    table = read_table(_file(tmp_path, "\ufefftext,label\r\nhello,1\r\nbye,0\r\n"))
    assert table.names == ["text", "label"] and table.rows == [["hello", "1"], ["bye", "0"]]


@pytest.mark.parametrize(
    "text, header",
    [
        ("text,label\nhello,1\nbye,0\n", True),  # a named column of numbers
        ("hello,1\nbye,0\nhi,1\n", False),  # a number in the first row
        ("date,value\n2020-01,3\n2020-02,4\n", True),
        ("2020-01,3\n2020-02,4\n", False),  # a date in the first row
        (",value\n0,1.5\n1,2.5\n", True),  # pandas' unnamed index
        ("review,sentiment\ngood,pos\nbad,neg\nfine,pos\n", True),  # names absent below, labels repeat
        ("good,pos\nbad,neg\nfine,pos\nok,neg\n", False),  # the first label occurs again
        ("good,pos\nbad,neg\n", False),  # nothing repeats: no evidence of a header
        ("only,row\n", False),
    ],
)
def test_the_header_is_found_by_the_documented_rules(tmp_path, text, header):
    table = read_table(_file(tmp_path, text))
    assert table.has_header is header
    assert len(table) == text.count("\n") - header


def test_the_caller_can_say_whether_there_is_a_header(tmp_path):
    path = _file(tmp_path, "good,pos\nbad,neg\n")
    assert read_table(path, header=True).names == ["good", "pos"]
    assert read_table(path, columns_hint=["pos"]).has_header  # the first row holds the name asked for
    assert not read_table(_file(tmp_path, "text,label\nhello,1\n", "h.csv"), header=False).has_header
    assert detect_header([["a", "b"], ["x", "1"]]) and not detect_header([["a", "1"], ["x", "1"]])


def test_columns_go_by_name_by_name_in_any_case_and_by_index(tmp_path):
    table = read_table(_file(tmp_path, "Review,stars,3\nfine,5,x\nbad,1,y\n"), header=True)  # "3": no header by rule 1
    assert table.column("stars") == 1 and table.column("review") == 0 and table.column(0) == 0
    assert table.column("3") == 2  # a header name wins over an index
    assert table.values(1) == ["5", "1"] and table.values("1") == ["5", "1"]


def test_an_unknown_column_is_an_error_listing_the_columns(tmp_path):
    path = _file(tmp_path, "text,label\nhello,1\n")
    table = read_table(path)
    with pytest.raises(DataError, match=r"no column 'stars'; the columns are 'text' \(0\), 'label' \(1\)") as err:
        table.column("stars")
    assert str(path) in str(err.value)
    with pytest.raises(DataError, match=r"no column 5 \(columns are numbered from 0 to 1\)"):
        table.column(5)
    bare = read_table(_file(tmp_path, "hello,1\nbye,0\n", "bare.csv"))
    with pytest.raises(DataError, match="no header row, so its columns go by number: 0, 1"):
        bare.column("text")


def test_a_short_row_is_an_error_naming_its_line_and_the_column(tmp_path):
    text = "text,label\n" + "".join(f"review {k},{k % 2}\n" for k in range(6)) + "no label here\n"
    table = read_table(_file(tmp_path, text))
    assert table.delimiter == "," and table.values("text")[-1] == "no label here"
    with pytest.raises(DataError, match=r"line 8: row has 1 field, too few for column 'label'"):
        table.values("label")


def test_a_row_longer_than_the_header_asks_for_quotes(tmp_path):
    text = "text,label\n" + "".join(f"review {k},{k % 2}\n" for k in range(6)) + "good, not great,1\n"
    with pytest.raises(DataError, match=r"line 8: row has 3 fields, more than the header's 2; .* double quotes"):
        read_table(_file(tmp_path, text)).values("text")


def test_an_unclosed_quote_names_its_line(tmp_path):
    with pytest.raises(DataError, match="line 3: a double quote opened on this line is never closed"):
        read_table(_file(tmp_path, 'text,label\nhello,1\n"oops,0\nbye,1\n'))


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), (b"", "is empty"), (b"a,b\n1,2\n\xff\xfe,3\n", "line 3: not UTF-8 at byte 8")],
)
def test_unreadable_files_are_errors_naming_them(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_a_file_of_one_column_cannot_give_a_text_and_a_label(tmp_path):
    table = read_table(_file(tmp_path, "one sentence\nanother, with a comma\nthird\n"))
    assert table.width == 1 and table.delimiter is None and table.rows[1] == ["another, with a comma"]
    with pytest.raises(DataError, match="has one column; labelled texts need two"):
        pick_text_and_label(table)


def test_the_text_is_the_longest_column_and_the_label_the_one_with_fewest_values(tmp_path):
    two = read_table(_file(tmp_path, "label\ttext\npos\ta long review\nneg\tshort one\npos\tanother long one\n"))
    assert pick_text_and_label(two) == (1, 0)
    rows = [f"{k},a review that is long {k},{'pos' if k % 3 else 'neg'}\n" for k in range(9)]
    three = read_table(_file(tmp_path, "id,review,stars\n" + "".join(rows), "three.csv"))
    assert pick_text_and_label(three) == (1, 2)  # the id has as many values as rows
    assert pick_text_and_label(three, label="id") == (1, 0)
    assert pick_text_and_label(three, text="stars", label="review") == (2, 1)
    with pytest.raises(DataError, match="both column 'review'"):
        pick_text_and_label(three, text="review", label=1)


def test_a_table_made_by_hand_behaves_like_a_read_one():
    table = Table("mine", ["a", "b"], [["x", "1"]], [2], True, ",")
    assert table.values("b") == ["1"] and len(table) == 1


# --- CoNLL --------------------------------------------------------------------------------------------


def test_conll_sentences_skip_docstart_and_split_at_blank_lines(tmp_path):
    text = (
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n"
        "New York\tNNP\tB-LOC\nis\tVBZ\tO\n"
        "-DOCSTART- -X- O\n"
        "Peter NNP I-PER\n"
    )
    tagged = read_conll(_file(tmp_path, text, "a.conll"))
    assert tagged.sentences == [["EU", "rejects"], ["New York", "is"], ["Peter"]]
    assert tagged.tags == [["B-ORG", "O"], ["B-LOC", "O"], ["I-PER"]]
    assert tagged.line_numbers == [3, 7, 10] and tagged.source.endswith("a.conll")
    assert read_conll(_file(tmp_path, text, "b.conll"), tag_column=1).tags[0] == ["NNP", "VBZ"]


@pytest.mark.parametrize(
    "text, tag_column, message",
    [
        ("EU B-ORG\nrejects\n", None, r"line 2: one field \('rejects'\), the tag is missing"),
        ("EU NNP B-ORG\nrejects O\n", 2, r"line 2: 2 fields, too few for the tag in field 2"),
        ("EU\t\n", None, "line 1: the tag is empty"),
        ("-DOCSTART- O\n\n\n", None, "holds no tokens"),
    ],
)
def test_bad_conll_lines_are_errors_naming_the_line(tmp_path, text, tag_column, message):
    path = _file(tmp_path, text, "bad.conll")
    with pytest.raises(DataError, match=message) as err:
        read_conll(path, tag_column)
    assert str(path) in str(err.value)
