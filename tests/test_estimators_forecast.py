"""RNNForecaster (rnnlab.estimators.forecast): a seasonal series with a trend learnt well enough to
beat the persistence and seasonal-naive forecasts on a held-out year; dates after the end; the run
folder round trip, the parameter protocol, the command line's hooks and the input errors.

The series is rnnlab.data.timeseries.monthly_example: 12 years of monthly values from 2010-01,
100 + 0.5 t + 10 sin(2 pi t / 12) + Normal(0, 2) noise. Seasonal naive repeats last year, so it
misses the year's rise (6) every month; persistence misses the season. The model (16 LSTM units,
100 steps) reads differences and scores a MASE near 0.34 on the held-out year at seeds 0-2, where
seasonal naive scores 1.29 and persistence 1.46 (an untrained model: about 1.25, the drift).
"""

import json

import numpy as np
import pytest
from conftest import require

from rnnlab.data.text import DataError
from rnnlab.data.timeseries import monthly_example, write_series_csv
from rnnlab.estimators.base import NotFittedError, read_run_file
from rnnlab.estimators.forecast import Forecast, RNNForecaster
from rnnlab.models.metrics import mase

QUICK = {"hidden": 16, "steps": 100, "context": 24, "lr": 1e-2, "seed": 0}
DATES, VALUES = monthly_example(n_years=12, seed=0)  # 2010-01 .. 2021-12


def load(folder):
    """The estimator a run folder holds (through rnnlab.estimators.load once it knows forecasts)."""
    from rnnlab import estimators

    if "forecast" in getattr(estimators, "ESTIMATORS", {}):
        return estimators.load(folder)
    return RNNForecaster._from_record(read_run_file(folder), folder)


@pytest.fixture(scope="module")
def fitted():
    """Fitted on 2010-01 .. 2020-12; the year 2021 held out."""
    return RNNForecaster(**QUICK).fit(VALUES[:-12], DATES[:-12])


def test_the_model_beats_seasonal_naive_and_persistence_on_the_held_out_year(fitted):
    m = fitted.evaluate(VALUES[-12:], DATES[-12:])
    assert (m["origins"], m["horizon"], m["season"], m["from"], m["to"]) == (1, 12, 12, "2021-01", "2021-12")
    model, naive, persistence = m["model"]["mase"], m["seasonal naive"]["mase"], m["persistence"]["mase"]
    assert model < 0.6 * naive and model < 0.6 * persistence, (model, naive, persistence)
    # the baselines' MASE is metrics.mase of their forecasts, scaled on the training series
    truth = VALUES[None, -12:]
    assert naive == pytest.approx(mase(VALUES[None, -24:-12], truth, VALUES[:-12], season=12, per_lead=False))
    assert persistence == pytest.approx(mase(np.full((1, 12), VALUES[-13]), truth, VALUES[:-12], 12, False))
    assert len(m["model"]["by_lead"]["rmse"]) == 12 and m["model"]["rmse"] > 0
    json.dumps(m)  # JSON-able as it is
    # the whole series holds the training end: what follows it is evaluated, the same way
    assert fitted.evaluate(VALUES, DATES) == m
    assert fitted.evaluate(VALUES) == m  # without dates, the end is found by the training series' last values
    assert fitted.score(VALUES[-12:], DATES[-12:]) == -model


def test_the_forecast_is_dated_by_the_months_after_the_end_across_a_year_boundary(fitted):
    f = fitted.predict()
    assert isinstance(f, Forecast) and f.values.shape == (12,) and np.isfinite(f.values).all()
    assert f.origin == "2020-12" and f.timestamps == [f"2021-{k:02d}" for k in range(1, 13)]
    assert f.records()[0] == {"time": "2021-01", "step": 1, "forecast": float(f.values[0])}
    # from the same history given again: the same forecast
    np.testing.assert_array_equal(fitted.predict(VALUES[:-12], DATES[:-12]).values, f.values)
    # after another history: its own next months, here over a year's end
    g = fitted.predict(VALUES[:-28], DATES[:-28])  # up to 2019-08
    assert g.timestamps[:5] == ["2019-09", "2019-10", "2019-11", "2019-12", "2020-01"]
    assert g.timestamps[-1] == "2020-08"
    assert np.abs(g.values - VALUES[-28:-16]).mean() < np.abs(VALUES[-40:-28] - VALUES[-28:-16]).mean()


def test_save_and_load_give_the_same_forecast_and_run_json_holds_the_preprocessing(fitted, tmp_path):
    fitted.save(tmp_path / "run")
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["task"] == "forecast" and record["params"]["horizon"] is None
    pre = record["preprocessing"]
    assert (pre["horizon"], pre["context"], pre["season"], pre["last_time"]) == (12, 24, 12, "2020-12")
    assert pre["frequency"]["months"] == 1 and pre["scaler"]["of"] == "first differences"
    again = load(tmp_path / "run")
    before, after = fitted.predict(), again.predict()
    np.testing.assert_allclose(after.values, before.values, rtol=1e-12)
    assert after.timestamps == before.timestamps
    assert again.evaluate(VALUES[-12:], DATES[-12:]) == fitted.evaluate(VALUES[-12:], DATES[-12:])


@pytest.fixture(scope="module")
def sklearn():
    try:
        import sklearn
    except ImportError:
        require("scikit-learn is not installed", "RNNLAB_REQUIRE_SKLEARN", "pip install scikit-learn")
    return sklearn


def test_clone_keeps_the_parameters_and_drops_what_fit_learnt(fitted, sklearn):
    from sklearn.base import clone, is_regressor

    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and copy.get_params()["hidden"] == 16
    assert not copy.is_fitted and is_regressor(copy)
    with pytest.raises(NotFittedError):
        copy.predict()
    with pytest.raises(ValueError, match="no parameter 'horizn'"):
        copy.set_params(horizn=3)


def test_a_series_without_dates_with_an_extra_column_and_a_test_stretch(tmp_path):
    rng = np.random.default_rng(1)
    promo = (rng.random(len(VALUES)) < 0.2).astype(float)  # known up to each origin only
    est = RNNForecaster(hidden=8, steps=20, horizon=6, season=12, test_fraction=0.1, run_dir=tmp_path / "run")
    est.fit(VALUES, extra=promo[:, None])
    assert est.n_extra_ == 1 and est.frequency_ is None
    test = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert test["values"] == 14 and test["origins"] == 9 and set(test) >= {"model", "persistence", "seasonal naive"}
    assert est.evaluate(VALUES, extra=promo[:, None], last=14) == test  # any series, its last values scored
    f = est.predict()  # no future extra values needed
    assert f.timestamps == [str(k) for k in range(145, 151)] and f.origin == "144"
    with pytest.raises(ValueError, match="1 extra column"):
        est.predict(VALUES)
    h = est.predict(np.column_stack([VALUES[:100], promo[:100]]))  # (n, 1 + k), as read_file gives
    assert h.timestamps[0] == "101"


def test_the_command_line_hooks_read_a_file_forecast_and_draw(fitted, tmp_path):
    path = tmp_path / "sales.csv"
    write_series_csv(path, DATES, VALUES, ["month", "sales"])
    values, timestamps, source = RNNForecaster.read_file(path)
    assert timestamps[:2] == ["2010-01", "2010-02"] and values.shape == (144,) and source["path"] == str(path)
    records = fitted.records_for(None)
    assert [r["step"] for r in records] == list(range(1, 13)) and records[-1]["time"] == "2021-12"
    assert fitted.record_text(records[0]).startswith("2021-01\t+1\t")
    history = tmp_path / "history.csv"
    write_series_csv(history, DATES[:-28], VALUES[:-28], ["month", "sales"])
    assert fitted.records_for(str(history))[0]["time"] == "2019-09"
    metrics = fitted.evaluate(values, timestamps)
    lines = fitted.evaluation_lines(metrics)
    assert "seasonal naive MASE" in lines[1] and lines[-1].startswith("overall the model beats")
    assert len(lines) == 2 + 12 + 2
    pytest.importorskip("matplotlib")
    picture = fitted.evaluation_plot(metrics, values, timestamps, tmp_path / "eval.png")
    assert picture.read_bytes()[:4] == b"\x89PNG"


def test_input_errors_say_what_is_wrong(fitted):
    with pytest.raises(ValueError, match="too short.*context"):
        RNNForecaster(horizon=12, context=48).fit(VALUES[:60])
    bad = VALUES[:60].copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"values\[7\] is nan.*finite"):
        RNNForecaster().fit(bad)
    with pytest.raises(ValueError, match="60 values but 59 timestamps"):
        RNNForecaster().fit(VALUES[:60], DATES[:59])
    with pytest.raises(DataError, match="not a date"):
        RNNForecaster().fit(VALUES[:60], ["someday"] * 60)
    with pytest.raises(ValueError, match="start at 2021-03.*from 2021-01 on"):
        fitted.evaluate(VALUES[-10:], DATES[-10:])
    with pytest.raises(ValueError, match="5 value.*needs at least 12"):
        fitted.evaluate(VALUES[-12:-7], DATES[-12:-7])
    with pytest.raises(ValueError, match="model must be one of"):
        RNNForecaster(model="transformer").fit(VALUES)
