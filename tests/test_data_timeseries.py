"""Users' time series: the time and value columns found, the frequency inferred from the stamps,
future stamps on the calendar written as the file wrote them, and every bad value a DataError naming
the file, the line and the column. Numbers in words for the seq2seq task close the file."""

import numpy as np
import pytest

from rnnlab.data.seq2seq import number_pairs, number_words
from rnnlab.data.series import estimate_season
from rnnlab.data.text import DataError
from rnnlab.data.timeseries import Frequency, infer_frequency, monthly_example, read_series, write_series_csv


def _file(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _stamps(*texts):
    return np.array(texts, "datetime64[s]")


def _ahead(freq, last, n=3):
    return [freq.format(t) for t in freq.future(np.datetime64(last), n)]


# --- reading ---------------------------------------------------------------------------------------


def test_the_monthly_example_round_trips_through_a_csv_file(tmp_path):
    dates, values = monthly_example(n_years=3, seed=1)
    assert len(dates) == 36 and dates[:2] == ["2010-01", "2010-02"] and dates[-1] == "2012-12"
    assert np.array_equal(values, monthly_example(n_years=3, seed=1)[1])
    assert not np.array_equal(values, monthly_example(n_years=3, seed=2)[1])
    path = tmp_path / "sales.csv"
    write_series_csv(path, dates, values, ["month", "sales"])
    series = read_series(path)
    assert series.names == ["sales"] and series.time_name == "month"
    assert np.array_equal(series.values, values) and series.extra.shape == (36, 0)
    assert series.time_labels == dates and series.timestamps[1] == np.datetime64("2010-02-01T00:00:00")
    assert series.frequency.name == "monthly" and series.frequency.season == 12
    assert series.line_numbers[0] == 2 and series.source == str(path)
    assert _ahead(series.frequency, series.timestamps[-1]) == ["2013-01", "2013-02", "2013-03"]


def test_the_monthly_example_has_the_yearly_season_it_documents():
    _, values = monthly_example(n_years=12)
    assert estimate_season(values) == 12
    t = np.arange(len(values))
    residual = values - 100 - 0.5 * t - 10 * np.sin(2 * np.pi * t / 12)
    assert abs(residual.mean()) < 0.5 and 1.5 < residual.std() < 2.5


def test_columns_by_name_or_index_extra_columns_and_a_tab_separated_file(tmp_path):
    text = "day\tsales\tprice\tstore\n" + "".join(
        f"2024-03-{d:02d}\t{d * 1.5}\t{10 - d * 0.1:.1f}\tS{d}\n" for d in range(1, 11)
    )
    path = _file(tmp_path, text, "s.tsv")
    with pytest.raises(DataError, match=r"has 2 columns of numbers \('sales', 'price'\); say which .* --column"):
        read_series(path)
    series = read_series(path, column="sales", extra_columns=["price"])
    assert series.values[1] == 3.0 and series.extra.shape == (10, 1) and series.extra[0, 0] == 9.9
    assert series.names == ["sales", "price"] and series.frequency.name == "daily"
    assert np.array_equal(read_series(path, column=1).values, series.values)
    assert read_series(path, extra_columns=["price"]).names == ["sales", "price"]  # the only other one


def test_a_headerless_file_and_a_pandas_index_column_are_read(tmp_path):
    bare = read_series(_file(tmp_path, "2020-01,5\n2020-02,6\n2020-03,7\n", "bare.csv"))
    assert (bare.time_name, bare.names, bare.values.tolist()) == ("0", ["1"], [5.0, 6.0, 7.0])
    pandas = read_series(_file(tmp_path, ",date,value\n0,2020-01-31,1.5\n1,2020-02-29,2.5\n2,2020-03-31,3\n"))
    assert pandas.names == ["value"] and pandas.frequency.day == 31


def test_without_a_date_column_the_stamps_are_row_numbers(tmp_path):
    path = _file(tmp_path, "level\n" + "".join(f"{k * 0.5}\n" for k in range(5)))
    series = read_series(path)
    assert series.timestamps is None and series.frequency is None and series.time_labels == ["1", "2", "3", "4", "5"]
    dated = _file(tmp_path, "when,level\n2020-01,1\n2020-03,2\n2020-04,3\n2020-05,4\n", "dated.csv")
    assert read_series(dated).frequency.name == "monthly"  # one gap in three steps is allowed
    assert read_series(dated, time_column=False).timestamps is None
    with pytest.raises(DataError, match="has a header but no rows"):
        read_series(_file(tmp_path, "date,x\n", "empty.csv"), header=True)


def test_plain_years_are_a_time_column_but_a_column_of_four_digit_values_is_not(tmp_path):
    years = read_series(_file(tmp_path, "YEAR,SUNACTIVITY\n1749,80.9\n1750,83.4\n1751,47.7\n"))
    assert years.time_name == "YEAR" and years.frequency.name == "yearly" and years.frequency.season is None
    assert _ahead(years.frequency, years.timestamps[-1], 2) == ["1752", "1753"]
    floats = read_series(_file(tmp_path, "t,x\n1700.0,5\n1701.0,11\n", "f.csv"))
    assert _ahead(floats.frequency, floats.timestamps[-1], 1) == ["1702.0"]
    eight = read_series(_file(tmp_path, "amount\n20200101\n20200108\n20200115\n", "e.csv"))
    assert eight.timestamps is None and eight.values[0] == 20200101.0  # 8 digits are a date only when named so
    counts = _file(tmp_path, "units,price\n1200,3.5\n1350,3.6\n1100,3.7\n1730,3.9\n", "c.csv")
    with pytest.raises(DataError, match=r"2 columns of numbers \('units', 'price'\)"):
        read_series(counts)


def test_day_first_dates_are_read_when_a_day_above_12_says_so(tmp_path):
    series = read_series(_file(tmp_path, "date,x\n30/01/2020,1\n31/01/2020,2\n01/02/2020,3\n"))
    assert str(series.timestamps[2]) == "2020-02-01T00:00:00" and series.frequency.name == "daily"
    assert _ahead(series.frequency, series.timestamps[-1], 1) == ["02/02/2020"]
    us = read_series(_file(tmp_path, "date,x\n1/30/2020,1\n1/31/2020,2\n2/1/2020,3\n", "us.csv"))
    assert _ahead(us.frequency, us.timestamps[-1], 1) == ["2/2/2020"]  # month first, no leading zeros


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "date,x\n2020-01,1\n2020-03,2\n2020-02,3\n",
            r"line 4: '2020-02' in column 'date' is earlier than '2020-03' on line 3",
        ),
        (
            "date,x\n2020-01,1\n2020-01,2\n",
            r"line 3: '2020-01' in column 'date' is the same time as '2020-01' on line 2",
        ),
        ("date,x\n2020-03,1\n2020-02,2\n2020-01,3\n", r"line 3: .* reverse its rows"),
        ("date,x\n2020-01,1\n2020-02,abc\n", r"line 3: 'abc' in column 'x' is not a number"),
        ("date;x\n2020-01;1,5\n2020-02;2,5\n", r"line 2: '1,5' in column 'x' is not a number \(a decimal comma"),
        ("date,x\n2020-01,1\n2020-02,nan\n", r"line 3: 'nan' in column 'x' is not a finite number"),
        ("date,x\n2020-01,1\n2020-02,\n", r"line 3: the value of column 'x' is missing"),
        ("date,x\n2020-01,1\n,2\n2020-03,3\n", r"line 3: the time stamp in column 'date' is missing"),
        ("date,x\n2020-01,1\n2020-13,2\n", r"line 3: '2020-13' in column 'date' is not a possible date"),
        ("date,x\n01/02/2020,1\n02/02/2020,2\n", r"could be day/month or month/day .* write them as 2020-01-31"),
        (
            "date,name,city\n2020-01,a,x\n2020-02,b,y\n",
            r"has no column of numbers to forecast; the columns are 'date' \(0\)",
        ),
        ("date,name\n2020-01,a\n2020-02,b\n", r"line 2: 'a' in column 'name' is not a number"),  # the only column
        ("date,x\n", "holds one row only; a series needs a header"),
        (
            "date,x\n2020-01-01,1\n2020-01-02,2\n2020-01-04,3\n2020-01-07,4\n",
            "no regular step: the commonest, 1 day, is 33%",
        ),
    ],
)
def test_bad_series_files_are_errors_naming_the_line_and_the_column(tmp_path, text, message):
    path = _file(tmp_path, text)
    with pytest.raises(DataError, match=message) as err:
        read_series(path)
    assert str(path) in str(err.value)


def test_an_explicit_time_column_must_hold_dates(tmp_path):
    path = _file(tmp_path, "t,x\n2020-01-01,1\n2020-01-02 10:00,2\n")
    with pytest.raises(DataError, match=r"line 3: '2020-01-02 10:00' in column 't' is not a date written like"):
        read_series(path, time_column="t")
    with pytest.raises(DataError, match=r"line 2: 'a' in column 'name' is not a date"):
        read_series(_file(tmp_path, "name,x\na,1\nb,2\n", "n.csv"), time_column="name", column="x")


# --- frequencies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamps, name, season, step",
    [
        (["2020-01-01T22:00", "2020-01-01T23:00", "2020-01-02T00:00"], "hourly", 24, "1 hour"),
        (
            ["2020-01-01T00:00", "2020-01-01T00:15", "2020-01-01T00:30", "2020-01-01T01:00"],
            "every 15 minutes",
            96,
            "15 minutes",
        ),
        (["2023-12-30", "2023-12-31", "2024-01-01"], "daily", 7, "1 day"),
        (["2024-01-01", "2024-01-03", "2024-01-05"], "every 2 days", None, "2 days"),
        (["2023-12-25", "2024-01-01", "2024-01-08"], "weekly", 52, "1 week"),
        (["2023-11-01", "2023-12-01", "2024-01-01"], "monthly", 12, "1 month"),
        (["2023-11-30", "2023-12-31", "2024-01-31", "2024-02-29"], "monthly", 12, "1 month"),
        (["2023-06-30", "2023-09-30", "2023-12-31"], "quarterly", 4, "3 months"),
        (["2023-01-15", "2023-07-15", "2024-01-15"], "every 6 months", 2, "6 months"),
        (["1749-01-01", "1750-01-01", "1751-01-01"], "yearly", None, "12 months"),
        (["1900-01-01", "1910-01-01", "1920-01-01"], "every 10 years", None, "120 months"),
    ],
)
def test_every_frequency_is_inferred_with_its_name_and_season(stamps, name, season, step):
    freq = infer_frequency(_stamps(*stamps))
    assert (freq.name, freq.season, freq.step) == (name, season, step)


def test_month_ends_stay_month_ends_across_a_leap_february_and_the_year_boundary():
    ends = infer_frequency(_stamps("2023-11-30", "2023-12-31", "2024-01-31"))
    assert ends.day == 31 and ends.months == 1
    assert _ahead(ends, "2024-01-31") == ["2024-02-29", "2024-03-31", "2024-04-30"]
    assert _ahead(ends, "2023-01-31", 1) == ["2023-02-28"]
    quarters = infer_frequency(_stamps("2023-03-31", "2023-06-30", "2023-09-30"))
    assert _ahead(quarters, "2023-09-30", 2) == ["2023-12-31", "2024-03-31"]
    thirtieth = Frequency(months=1, day=30)
    assert _ahead(thirtieth, "2024-01-30") == ["2024-02-29", "2024-03-30", "2024-04-30"]


def test_future_stamps_cross_years_and_leap_days_and_keep_the_time_of_day():
    months = infer_frequency(_stamps("2023-11-01", "2023-12-01"), pattern="%Y-%m")
    assert _ahead(months, "2023-12-01") == ["2024-01", "2024-02", "2024-03"]
    days = infer_frequency(_stamps("2024-02-27", "2024-02-28"))
    assert _ahead(days, "2024-02-28") == ["2024-02-29", "2024-03-01", "2024-03-02"]
    hours = infer_frequency(_stamps("2023-12-31T22:00", "2023-12-31T23:00"))
    assert hours.pattern == "%Y-%m-%d %H:%M" and _ahead(hours, "2023-12-31T23:00", 1) == ["2024-01-01 00:00"]
    noon = Frequency(months=1, day=1, pattern="%Y-%m-%dT%H:%M")
    assert _ahead(noon, "2024-12-01T12:30", 1) == ["2025-01-01T12:30"]
    assert Frequency(seconds=3600).future("2024-01-01", 0).shape == (0,)


@pytest.mark.parametrize(
    "header, rows, ahead",
    [
        ("when", ["2020-11", "2020-12"], ["2021-01", "2021-02"]),
        ("when", ["2020/11/30", "2020/12/31"], ["2021/01/31", "2021/02/28"]),
        ("when", ["2020Q3", "2020Q4"], ["2021Q1", "2021Q2"]),
        ("when", ["2020-Q3", "2020-Q4"], ["2021-Q1", "2021-Q2"]),
        ("when", ["30.12.2020", "31.12.2020"], ["01.01.2021", "02.01.2021"]),
        ("when", ["2020-1-30", "2020-1-31"], ["2020-2-01", "2020-2-02"]),
        ("when", ["2020-01-31T23:00:00Z", "2020-02-01T00:00:00Z"], ["2020-02-01T01:00:00Z", "2020-02-01T02:00:00Z"]),
        ("year", ["1999", "2000"], ["2001", "2002"]),
        ("date", ["19580329", "19580405"], ["19580412", "19580419"]),
    ],
)
def test_future_stamps_are_written_the_way_the_file_wrote_them(tmp_path, header, rows, ahead):
    path = _file(tmp_path, f"{header},x\n" + "".join(f"{r},{k}\n" for k, r in enumerate(rows)))
    series = read_series(path)
    assert series.time_labels == rows
    assert _ahead(series.frequency, series.timestamps[-1], 2) == ahead


def test_gaps_are_allowed_while_most_steps_are_equal():
    gappy = infer_frequency(_stamps("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06"))
    assert gappy.name == "daily"
    with pytest.raises(DataError, match="line 13: 3 days after line 12, which is not a whole number .* 2 days"):
        infer_frequency(_stamps("2024-01-01", "2024-01-03", "2024-01-05", "2024-01-08"), line_numbers=[10, 11, 12, 13])
    with pytest.raises(DataError, match=r"stamp 3: 2020-03-02T00:00:00 breaks the series' calendar rule: .* on day 1"):
        infer_frequency(_stamps("2020-01-01", "2020-02-01", "2020-03-02", "2020-04-01", "2020-05-01"))
    with pytest.raises(DataError, match="two or more time stamps"):
        infer_frequency(_stamps("2020-01-01"))
    with pytest.raises(DataError, match="stamp 2: .* is not after"):
        infer_frequency(_stamps("2020-01-02", "2020-01-01"))


def test_a_frequency_round_trips_through_json_and_rejects_anything_else():
    freq = infer_frequency(_stamps("2023-11-30", "2023-12-31"), pattern="%d/%m/%Y")
    again = Frequency.from_json(freq.to_json())
    assert again == freq and again.format("2024-02-29") == "29/02/2024"
    with pytest.raises(DataError, match="checkpoint: is not a saved Frequency"):
        Frequency.from_json({"months": 1, "seconds": 1, "day": 1, "pattern": "%Y"}, source="checkpoint")
    with pytest.raises(DataError, match="is not a saved Frequency"):
        Frequency.from_json({"months": 1})
    with pytest.raises(ValueError, match="not both or neither"):
        Frequency()


# --- numbers in words (rnnlab.data.seq2seq) --------------------------------------------------------


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (19, "nineteen"),
        (20, "twenty"),
        (21, "twenty-one"),
        (90, "ninety"),
        (99, "ninety-nine"),
        (100, "one hundred"),
        (101, "one hundred and one"),
        (110, "one hundred and ten"),
        (342, "three hundred and forty-two"),
        (1000, "one thousand"),
        (1005, "one thousand and five"),
        (1010, "one thousand and ten"),
        (1100, "one thousand one hundred"),
        (2301, "two thousand three hundred and one"),
        (7040, "seven thousand and forty"),
        (9999, "nine thousand nine hundred and ninety-nine"),
    ],
)
def test_number_words_are_british_english(n, words):
    assert number_words(n) == words


@pytest.mark.parametrize("bad", [-1, 10000, 2.5, True, "12"])
def test_number_words_refuse_what_they_cannot_say(bad):
    with pytest.raises(ValueError, match="from 0 to 9999"):
        number_words(bad)


def test_number_pairs_are_words_and_digits():
    assert number_pairs([5, np.int64(342)]) == [("five", "5"), ("three hundred and forty-two", "342")]
    words = {number_words(n) for n in range(10000)}
    assert len(words) == 10000  # no two numbers share words
