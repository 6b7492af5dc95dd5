"""Forecasting a person's own series: the next `horizon` values after its end, all lead times at
once, measured against the persistence and seasonal-naive forecasts.

    est = RNNForecaster(horizon=12).fit(values, timestamps)     # values (n,), dates optional
    est.predict()                  # Forecast: the 12 values after the end, and their dates
    est.predict(history, dates)    # ... after another history (e.g. with newer values)
    est.evaluate(later_values)     # RMSE, MAE, MASE per lead time: model, persistence, seasonal naive

The split is in time order: the last test_fraction of the series is held out (scored at the end
of fit, evaluation.json), the last validation_fraction of what remains picks the checkpoint
(lowest validation MASE), the rest trains. Each held-out stretch is at least one horizon long.

Preprocessing, learnt from the training part and saved in run.json:
    season    `season`, else the dates' natural one (monthly: 12, daily: 7, hourly: 24, ...),
              else estimated from the training part (rnnlab.data.series.estimate_season), else none
    horizon   `horizon`, else one season, else 12
    context   `context`, else min(max(24, 4 * season), 100, half the training part): the values
              a training window holds, and the values the model reads before each forecast
    scaler    difference=True (default): d[t] = x[t] - x[t-1], standardised by the mean `mu`
              and standard deviation `sd` of the training part's differences; difference=False:
              the values standardised by the training part's mean and standard deviation
    extra     each extra column standardised by its training mean and standard deviation
    frequency the dates' step (rnnlab.data.timeseries.Frequency), the last date, and the last
              values of the series, so that predict() forecasts past the end from run.json alone

Model: rnnlab.models.forecaster.Forecaster used direct (the experiment `rnnlab experiment
forecast` compares it with the recursive use): at every step t of a window the recurrent encoder
(one direction) reads the input of t (the standardised difference, then the standardised extra columns) and its head
outputs `horizon` numbers, trained with the mean squared error against

    difference=True:   z[t, k] = (x[t+k] - x[t] - k mu) / sd        k = 1 .. horizon
    difference=False:  z[t, k] = (x[t+k] - mean) / sd

so an output of 0 is the random walk with drift (x[t] + k mu), or the training mean. A forecast
from origin o reads the `context` inputs up to o and maps its last step's outputs back:
x[o] + k mu + sd z (or mean + sd z). Extra columns are read as inputs of the past steps only (at
time t, their value at t): no future value of them is needed to forecast.

Baselines, from every origin o and lead time k = 1 .. horizon (as the experiment):
    persistence      x[o+k] ~ x[o]
    seasonal naive   x[o+k] ~ x[o + k - m ceil(k / m)], m the season (left out without one)
Errors per lead time (rnnlab.models.metrics, equations (13), (14)): RMSE, MAE and MASE, the MAE
scaled by the in-sample MAE of the seasonal naive forecast at lag m (1 without a season) over
the series before the test stretch. MASE < 1 beats that in-sample naive forecast on average.
score() is minus the overall MASE on a continuation (scikit-learn's "higher is better").
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.series import estimate_season
from ..models.encoder import cell_choices
from ..models.forecaster import Forecaster, ForecasterConfig
from ..models.metrics import mae, rmse
from ..nn import mse
from ..train.limits import require_memory
from .base import RNNEstimator, Say, _quiet
from .classify import encoder_parameters

BASELINES = ("persistence", "seasonal naive")
METHODS = ("model", *BASELINES)


@dataclass
class Forecast:
    """The values forecast after the end of a series.

    values: (horizon,) float64, lead times 1 .. horizon.
    timestamps: the time of each, written as the training file wrote its dates ("2021-01"); the
        row numbers after the history's last ("145", "146", ...) when the series has no dates.
    origin: the time (or row number) of the last value read.
    """

    values: np.ndarray
    timestamps: list[str]
    origin: str

    @property
    def steps(self) -> np.ndarray:
        """The lead times, 1 .. horizon."""
        return np.arange(1, len(self.values) + 1)

    def records(self) -> list[dict]:
        """One JSON-able record per lead time: {"time": ..., "step": k, "forecast": value}."""
        return [
            {"time": t, "step": int(k), "forecast": float(v)}
            for t, k, v in zip(self.timestamps, self.steps, self.values)
        ]


@dataclass
class _Rolling:
    """Forecasts from every origin of an evaluated stretch x[start:], and what they are scored on."""

    x: np.ndarray  # (N,) the history read, then the evaluated values
    stamps: np.ndarray | None  # (N,) datetime64[s], or None
    labels: list[str]  # (N,) how each time is written
    start: int  # the first evaluated value
    at: np.ndarray  # (O,) the origins: every o whose o+1 .. o+horizon lie in x[start:]
    truth: np.ndarray  # (O, horizon)
    forecasts: dict[str, np.ndarray]  # method -> (O, horizon)


def origins(start: int, stop: int, horizon: int) -> np.ndarray:
    """The origins o whose targets o+1 .. o+horizon all lie in [start, stop) (as the experiment)."""
    return np.arange(start - 1, stop - horizon)


def baselines(x: np.ndarray, at: np.ndarray, horizon: int, season: int | None) -> dict[str, np.ndarray]:
    """Persistence and (with a season) seasonal-naive forecasts (len(at), horizon) from each origin."""
    h = np.arange(1, horizon + 1)[None, :]
    out = {"persistence": np.repeat(x[at][:, None], horizon, axis=1)}
    if season:
        out["seasonal naive"] = x[at[:, None] + h - season * np.ceil(h / season).astype(int)]
    return out


def parse_timestamps(timestamps, n: int, what: str = "timestamps") -> tuple[np.ndarray | None, str | None]:
    """(datetime64[s] (n,), how they were written) of datetime64 values or date strings (the forms
    rnnlab.data.timeseries reads in a file: 2020-01-31, 2020-01, 2020Q1, 31.01.2020, 1749, ...);
    (None, None) for None. The pattern is None for datetime64 values (ISO 8601 is written)."""
    if timestamps is None:
        return None, None
    a = np.asarray(timestamps)
    if a.ndim != 1 or len(a) != n:
        raise ValueError(f"got {n} values but {a.size} {what}: give one time stamp per value")
    if a.dtype.kind == "M":
        return a.astype("datetime64[s]"), None
    from ..data.tables import Table
    from ..data.timeseries import _date_column  # the file reader's own date parser (same forms, same errors)

    labels = [str(v).strip() for v in a]
    table = Table(what, ["time"], [[v] for v in labels], list(range(1, n + 1)), has_header=False)
    dates = _date_column(table, 0, explicit=True)
    return dates.stamps, dates.pattern


def _positive_int(name: str, value, none_ok: bool = True) -> None:
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if none_ok else ''}, got {value!r}")


class RNNForecaster(RNNEstimator):
    """A recurrent forecaster of one series, every lead time at once (scikit-learn's protocol).

    Args (keyword only; every one is a parameter that get_params/set_params and clone see):
        horizon: values forecast after each origin (None: one season, or 12 without one).
        context: values read before each forecast, and the length of a training window (None:
            see the module docstring).
        season: the season in steps for the seasonal-naive baseline and MASE (None: from the
            dates' frequency, else estimated from the training part).
        difference: model first differences (a trend stays learnable) instead of the values.
        model: the cell, "lstm", "gru", "rnn" or "irnn".
        hidden, layers: the recurrent encoder (one direction: it may not read the future).
        steps / minutes / epochs: the budget (steps, else minutes, else epochs passes; one pass
            is as many windows as cover the training part end to end, at least one batch).
        batch_size, lr, clip: Adam's windows per step, learning rate and gradient-norm clip (0: none).
        validation_fraction: the share of the series before the test stretch, at its end, that
            picks the checkpoint (0: the last weights are kept).
        test_fraction: the share at the end of the series held out and scored after training.
        seed: the initial weights and the windows drawn.
        warm_start: fit() on a fitted estimator continues training (same preprocessing).
        progress: a progress bar on stderr.
        run_dir: the run folder to train into (None: a temporary one, removed after fit).

    Attributes after fit: horizon_, context_, season_, frequency_ (or None), model_, n_steps_,
    best_validation_ (MASE), test_metrics_ (evaluate()'s dict for the test stretch, or None).
    """

    task = "forecast"
    _estimator_type = "regressor"
    _score_name = "MASE"

    def __init__(
        self,
        *,
        horizon: int | None = None,
        context: int | None = None,
        season: int | None = None,
        difference: bool = True,
        model: str = "lstm",
        hidden: int = 32,
        layers: int = 1,
        steps: int | None = None,
        minutes: float | None = None,
        epochs: float = 300,
        batch_size: int = 32,
        lr: float = 3e-3,
        clip: float = 1.0,
        validation_fraction: float = 0.1,
        test_fraction: float = 0.0,
        seed: int = 0,
        warm_start: bool = False,
        progress: bool = False,
        run_dir: str | Path | None = None,
    ):
        self.horizon, self.context, self.season, self.difference = horizon, context, season, difference
        self.model, self.hidden, self.layers = model, hidden, layers
        self.steps, self.minutes, self.epochs = steps, minutes, epochs
        self.batch_size, self.lr, self.clip = batch_size, lr, clip
        self.validation_fraction, self.test_fraction, self.seed = validation_fraction, test_fraction, seed
        self.warm_start, self.progress, self.run_dir = warm_start, progress, run_dir

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False  # a series is its own target
        tags.input_tags.string = False
        return tags

    # --- input ---------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.model not in cell_choices():
            raise ValueError(f"model must be one of {', '.join(cell_choices())}, got {self.model!r}")
        for name in ("horizon", "context", "season"):
            _positive_int(name, getattr(self, name))
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be at least 0 and below 1, got {value!r}")

    def _series(self, values, extra, what: str = "values", check_extra: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(x (n,), extra (n, k)) float64: values (n,), or (n, 1 + k) with the extra columns
        after the forecast one (what read_file gives with extra_columns); every number finite."""
        x = np.asarray(values, np.float64)
        if x.ndim == 2 and extra is None:
            x, extra = x[:, 0], x[:, 1:]
        if x.ndim != 1:
            raise ValueError(f"{what} must be one series, shape (n,) or (n, 1 + extra columns), got {x.shape}")
        ex = np.zeros((len(x), 0)) if extra is None else np.asarray(extra, np.float64)
        if ex.ndim == 1:
            ex = ex[:, None]
        if ex.ndim != 2 or len(ex) != len(x):
            raise ValueError(f"extra must be (n, k) with one row per value ({len(x)}), got shape {ex.shape}")
        for name, a in ((what, x), ("extra", ex)):
            bad = np.argwhere(~np.isfinite(a))
            if bad.size:
                raise ValueError(
                    f"{name}[{', '.join(map(str, bad[0]))}] is {a[tuple(bad[0])]}: every value must be a finite number"
                )
        if check_extra and ex.shape[1] != self.n_extra_:
            raise ValueError(f"this forecaster reads {self.n_extra_} extra column(s), got {ex.shape[1]}")
        return x, ex

    # --- fitting -------------------------------------------------------------------------------
    def fit(self, values, timestamps=None, *, extra=None, source: dict | None = None, say: Say | None = None):
        """Learn the preprocessing from the training part of the series, train the model on its
        windows (into `run_dir`, or a temporary folder) keeping the weights of the best
        validation MASE, and keep the series' last values and date for predict().

        values: (n,) floats, oldest first (or (n, 1 + k): the extra columns after it);
        timestamps: None, or n datetime64 values or date strings (regular steps: the frequency
        is inferred); extra: (n, k) more input columns, read as inputs of the past steps only.
        With warm_start=True on a fitted estimator, training continues (same preprocessing)."""
        say = say or _quiet
        self._check_params()
        continuing = bool(self.warm_start) and self.is_fitted
        x, ex = self._series(values, extra, check_extra=continuing)
        stamps, pattern = parse_timestamps(timestamps, len(x))
        if not continuing:
            self.model_ = None  # a failed fit leaves no half-fitted estimator behind
            self._learn_season(x, stamps, pattern)
        train_end, n_fit = self._split_series(len(x), self.context_ if continuing else None)
        if not continuing:
            self._learn_scales(x, ex, train_end, n_fit)
            self._require_memory(training=True)  # this fit is its own, so the base's check is called here
            self.model_ = self._build_model(np.random.default_rng(self.seed))
        # a batch draws batch_size windows wherever they start (not at most the rows, as the other
        # tasks' batches): its inputs, targets and what a step records (~32 numbers per unit and layer)
        per_step = 1 + self.n_extra_ + self.horizon_ + 32 * self.hidden * self.layers
        require_memory(
            4 * self.batch_size * self.context_ * per_step,
            f"a batch of {self.batch_size:,} windows of {self.context_} steps",
            "batch_size (--batch)",
        )
        self._keep_end(x, ex, stamps)
        self.source_ = source
        H, C, d = self.horizon_, self.context_, self._first
        say(
            f"{len(x)} values{self._span_text(stamps)}: train {train_end}, validation {n_fit - train_end}, test "
            f"{len(x) - n_fit}; horizon {H}, context {C}, season {self.season_ or 'none'} ({self.season_note_})"
        )
        u, z = self._inputs(x, ex), self._targets(x)
        lo, hi = d, train_end - C - H  # window starts s: inputs s .. s+C-1, their targets before train_end
        offsets = np.arange(C)[:, None]

        def batch(step, rng):
            t = rng.integers(lo, hi + 1, size=self.batch_size)[None, :] + offsets  # (C, B)
            return u[t], None, z[t]

        val_at = origins(train_end, n_fit, H)

        def validation() -> float:  # MASE over the validation stretch's origins, lower is better
            return self._mase(self._forecast(x, ex, val_at), _truth(x, val_at, H))

        def test() -> dict:
            return _metrics(self._assess(x, ex, stamps, n_fit), self)

        windows = math.ceil((train_end - d) / C)  # an epoch: windows covering the training part once
        self._train(
            batch,
            mse,
            windows,
            validation if n_fit > train_end else None,
            say,
            test=test if n_fit < len(x) else None,
        )
        return self

    def _learn_season(self, x, stamps, pattern) -> None:
        """frequency_, season_ (and why), horizon_ and difference_."""
        from ..data.timeseries import infer_frequency

        self.difference_ = bool(self.difference)
        self.frequency_ = infer_frequency(stamps, pattern=pattern, source="timestamps") if stamps is not None else None
        if self.season is not None:
            self.season_, self.season_note_ = int(self.season), "given"
        elif self.frequency_ is not None and self.frequency_.season:
            self.season_, self.season_note_ = self.frequency_.season, f"{self.frequency_.name} dates"
        else:  # estimated on the part before the held-out stretches (before their one-horizon minimum)
            n = len(x) - round(self.test_fraction * len(x))
            self.season_ = estimate_season(x[: n - round(self.validation_fraction * n)])
            self.season_note_ = (
                "estimated from the training part" if self.season_ else "none found in the training part"
            )
        self.horizon_ = int(self.horizon or self.season_ or 12)

    def _split_series(self, n: int, context: int | None) -> tuple[int, int]:
        """(train_end, n_fit): x[:train_end] trains, x[train_end:n_fit] validates, x[n_fit:] tests.
        Each held-out stretch is at least one horizon; a ValueError when no window is left."""
        H, d = self.horizon_, self._first
        train_end, n_val, n_test, C = self._stretches(n, context)
        if train_end - d - C - H + 1 < 1:
            raise ValueError(
                f"the series is too short: {n} values leave {max(train_end, 0)} to train on after {n_val} for "
                f"validation and {n_test} for testing, too few for one window of {C} context values"
                f"{' (+1 for differencing)' if d else ''} and {H} values to forecast (horizon"
                f"{', one season' if self.horizon is None and self.season_ else ''}); give at least "
                f"{self._least_values(n, context)} values, or a shorter horizon or context, or lower the fractions"
            )
        return train_end, n - n_test

    def _stretches(self, n: int, context: int | None) -> tuple[int, int, int, int]:
        """(train_end, validation values, test values, context) of a series of n values."""
        H = self.horizon_
        n_test = max(H, round(self.test_fraction * n)) if self.test_fraction > 0 else 0
        n_val = max(H, round(self.validation_fraction * (n - n_test))) if self.validation_fraction > 0 else 0
        train_end = n - n_test - n_val
        return train_end, n_val, n_test, context or self._default_context(train_end)

    def _least_values(self, n: int, context: int | None) -> int:
        """The shortest series, longer than n, that leaves a training window: the held-out
        stretches and the default context grow with the series, so it is searched for (doubling,
        then halving the gap; the room left for a window never shrinks as the series grows)."""

        def fits(m: int) -> bool:
            train_end, _, _, C = self._stretches(m, context)
            return train_end - self._first - C - self.horizon_ + 1 >= 1

        low, high = n, max(2 * n, 2)
        while not fits(high):
            low, high = high, 2 * high
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if fits(middle) else (middle, high)
        return high

    def _default_context(self, train_end: int) -> int:
        if self.context is not None:
            return int(self.context)
        return max(2, min(max(24, 4 * (self.season_ or 6)), 100, train_end // 2))

    def _learn_scales(self, x, ex, train_end: int, n_fit: int) -> None:
        """context_, the scalers of the training part and the MASE scale of x[:n_fit]."""
        self.context_ = self._default_context(train_end)
        self.n_extra_ = ex.shape[1]
        part = x[:train_end]
        level = np.diff(part) if self.difference_ else part
        self.mean_, self.std_ = float(level.mean()), float(level.std())
        if not self.std_ > 0:
            raise ValueError(
                f"the training part's {'differences are' if self.difference_ else 'values are'} all "
                f"{self.mean_:g}: there is nothing to learn"
            )
        self.extra_mean_ = ex[:train_end].mean(axis=0)
        sd = ex[:train_end].std(axis=0)
        self.extra_std_ = np.where(sd > 0, sd, 1.0)
        self.mase_lag_ = lag = self.season_ or 1
        self.mase_scale_ = float(np.mean(np.abs(x[lag:n_fit] - x[: n_fit - lag])))  # (14) of models.metrics
        if not self.mase_scale_ > 0:
            raise ValueError(
                f"the series repeats itself exactly every {lag} step(s): the seasonal naive forecast is perfect "
                "and MASE is undefined"
            )

    @property
    def _first(self) -> int:
        """The first time with an input: 1 when differencing (x[0] has no difference), else 0."""
        return 1 if self.difference_ else 0

    def _keep_end(self, x, ex, stamps) -> None:
        """The end of the series that predict() and evaluate() continue from."""
        keep = min(len(x), max(self.context_ + self._first, self.season_ or 1))
        self.seen_ = len(x)
        self.tail_, self.tail_extra_ = x[-keep:].copy(), ex[-keep:].copy()
        self.tail_stamps_ = stamps[-keep:].copy() if stamps is not None else None

    def _span_text(self, stamps) -> str:
        if stamps is None or self.frequency_ is None:
            return ""
        return f" ({self.frequency_.format(stamps[0])} .. {self.frequency_.format(stamps[-1])}, {self.frequency_.name})"

    def _parameter_count(self) -> int:
        """The model's size before it is built (the base checks that it fits in memory)."""
        trunk = encoder_parameters(self.model, 1 + self.n_extra_, self.hidden, self.layers, False)
        return trunk + (self.hidden + 1) * self.horizon_

    def _build_model(self, rng: np.random.Generator) -> Forecaster:
        config = ForecasterConfig(
            horizon=self.horizon_, features=1 + self.n_extra_, cell=self.model, hidden=self.hidden, layers=self.layers
        )
        return Forecaster(config, rng)

    def _eval_every(self, per_epoch: int, steps: int | None) -> int:
        """Every 10 steps or every epoch, whichever is longer (at most 200), at least ten times a run."""
        every = min(max(per_epoch, 10), 200)
        if steps is not None:
            every = min(every, max(1, steps // 10))
        return every

    # --- the series as the model reads it --------------------------------------------------------
    def _inputs(self, x, ex) -> np.ndarray:
        """(n, 1 + k) float32: row t is what the model reads at t (row 0 unused when differencing)."""
        level = np.concatenate([[np.nan], np.diff(x)]) if self.difference_ else x
        u = np.concatenate([((level - self.mean_) / self.std_)[:, None], (ex - self.extra_mean_) / self.extra_std_], 1)
        return u.astype(np.float32)

    def _targets(self, x) -> np.ndarray:
        """(n, horizon) float32: row t holds the standardised x[t+1 .. t+horizon] (NaN past the end)."""
        k = np.arange(1, self.horizon_ + 1)
        ahead = np.full((len(x), self.horizon_), np.nan)
        for j in k:
            ahead[: len(x) - j, j - 1] = x[j:]
        z = (ahead - x[:, None] - k * self.mean_) / self.std_ if self.difference_ else (ahead - self.mean_) / self.std_
        return z.astype(np.float32)

    def _forecast(self, x, ex, at: np.ndarray) -> np.ndarray:
        """(len(at), horizon) forecasts in the series' units from each origin, each reading the
        `context` inputs up to it (fewer when the series starts later)."""
        u = self._inputs(x, ex)
        C = min(self.context_, int(at.min()) - self._first + 1)
        if C < 1:
            raise ValueError(f"a forecast needs at least {self._first + 1} value(s) of history")
        t = at[None, :] + np.arange(-C + 1, 1)[:, None]  # (C, O)
        z = self.model_.forecast_direct(u[t]).astype(np.float64)  # (O, horizon)
        k = np.arange(1, self.horizon_ + 1)[None, :]
        return x[at][:, None] + k * self.mean_ + self.std_ * z if self.difference_ else self.mean_ + self.std_ * z

    def _mase(self, forecast: np.ndarray, truth: np.ndarray) -> float:
        return float(np.mean(np.abs(forecast - truth)) / self.mase_scale_)

    # --- use -------------------------------------------------------------------------------------
    def predict(self, history=None, timestamps=None, *, extra=None) -> Forecast:
        """The next horizon_ values after the end of the series fit() read (history None), or
        after `history` (values (n,) or (n, 1 + k), with its timestamps and extra columns when
        the training series had them; the last `context_` values are read)."""
        self._require_fitted()
        if history is None:
            x, ex, stamps = self.tail_, self.tail_extra_, self.tail_stamps_
            rows = self.seen_
        else:
            x, ex = self._series(history, extra, "history")
            stamps, _ = parse_timestamps(timestamps, len(x))
            rows = len(x)
        if len(x) < self._first + 1:
            raise ValueError(f"a forecast needs at least {self._first + 1} value(s) of history, got {len(x)}")
        values = self._forecast(x, ex, np.array([len(x) - 1]))[0]
        times = self._future_labels(stamps, rows, self.horizon_)
        origin = self._label(stamps[-1]) if stamps is not None else str(rows)
        return Forecast(values, times, origin)

    def _label(self, stamp) -> str:
        return self.frequency_.format(stamp) if self.frequency_ is not None else str(np.datetime64(stamp, "s"))

    def _frequency_for(self, stamps):
        if self.frequency_ is not None or stamps is None or len(stamps) < 2:
            return self.frequency_
        from ..data.timeseries import infer_frequency

        return infer_frequency(stamps, source="timestamps")

    def _future_labels(self, stamps, rows: int, n: int) -> list[str]:
        """The times of the n values after a series of `rows` values ending at stamps[-1]."""
        frequency = self._frequency_for(stamps)
        if stamps is None or frequency is None:
            return [str(rows + k) for k in range(1, n + 1)]
        return [frequency.format(t) for t in frequency.future(stamps[-1], n)]

    def evaluate(self, values, timestamps=None, *, extra=None, last: int | None = None) -> dict:
        """RMSE, MAE and MASE per lead time and overall, for the model, persistence and seasonal
        naive, from every origin whose horizon_ values lie in the evaluated stretch.

        values (with timestamps and extra as in fit) is the continuation of the training series:
        the values right after its end, or a whole series that holds that end (found by its date,
        or without dates by the training series' last values): what follows is evaluated. With
        `last`, values is any series and its last `last` values are evaluated, the model reading
        the values before them."""
        self._require_fitted()
        x, ex = self._series(values, extra)
        stamps, _ = parse_timestamps(timestamps, len(x))
        if last is not None:
            _positive_int("last", last, none_ok=False)
            return _metrics(self._assess(x, ex, stamps, len(x) - last), self)
        return _metrics(self._assess(*self._continue(x, ex, stamps)), self)

    def score(self, values, timestamps=None, *, extra=None) -> float:
        """Minus the overall MASE on a continuation (see evaluate): higher is better."""
        return -float(self.evaluate(values, timestamps, extra=extra)["model"]["mase"])

    def _continue(self, x, ex, stamps):
        """(x, extra, stamps, start, first_row): the kept end of the training series, then what
        follows it in the given values; start is where the continuation begins."""
        end = self._find_end(x, stamps)
        x, ex = x[end + 1 :], ex[end + 1 :]
        stamps = stamps[end + 1 :] if stamps is not None else None
        if len(x) < self.horizon_:
            raise ValueError(
                f"{len(x)} value(s) follow the end of the training series{self._end_text()}; evaluating a "
                f"{self.horizon_}-step forecast needs at least {self.horizon_} that the model never saw "
                "(or fit with a test fraction: the held-out end is scored in the run's evaluation.json)"
            )
        keep = len(self.tail_)
        joined = None  # the dates: the training series' (a series fitted without dates is numbered)
        if self.tail_stamps_ is not None:
            stamps = stamps if stamps is not None else self.frequency_.future(self.tail_stamps_[-1], len(x))
            joined = np.concatenate([self.tail_stamps_, stamps])
        first_row = self.seen_ - keep + 1  # without dates, times are row numbers of the training series on
        return np.concatenate([self.tail_, x]), np.concatenate([self.tail_extra_, ex]), joined, keep, first_row

    def _end_text(self) -> str:
        return f" ({self._label(self.tail_stamps_[-1])})" if self.tail_stamps_ is not None else ""

    def _find_end(self, x, stamps) -> int:
        """The index in x of the training series' last value, or -1 when x starts right after it."""
        last = self.tail_stamps_[-1] if self.tail_stamps_ is not None else None
        if last is not None and stamps is not None:
            hit = np.nonzero(stamps == last)[0]
            if hit.size:
                return int(hit[0])
            nxt = self.frequency_.future(last, 1)[0]
            if stamps[0] != nxt:
                raise ValueError(
                    f"the values start at {self._label(stamps[0])} but the training series ended at "
                    f"{self._label(last)}: give the values from {self._label(nxt)} on (or the whole series)"
                )
            return -1
        L = len(self.tail_)
        if len(x) >= L:  # without dates: the training series' last values, where they occur
            windows = np.lib.stride_tricks.sliding_window_view(x, L)
            hit = np.nonzero(np.isclose(windows, self.tail_, rtol=1e-9, atol=0).all(axis=1))[0]
            if hit.size:
                return int(hit[-1]) + L - 1
        return -1

    def _assess(self, x, ex, stamps, start: int, first_row: int = 1) -> _Rolling:
        """Forecasts of the model and the baselines from every origin of x[start:] (times written
        by the frequency, or numbered from first_row)."""
        H, need = self.horizon_, self._first + 1
        if len(x) - start < H:
            raise ValueError(f"{len(x) - start} value(s) to evaluate; a {H}-step forecast needs at least {H}")
        if start < max(need, self.season_ or 1):
            raise ValueError(
                f"the evaluated values have {start} value(s) of history before them; the model and the seasonal "
                f"naive forecast need at least {max(need, self.season_ or 1)} (fewer evaluated values, or `last`)"
            )
        at = origins(start, len(x), H)
        forecasts = {"model": self._forecast(x, ex, at), **baselines(x, at, H, self.season_)}
        if stamps is not None:
            labels = [self._label(t) for t in stamps]
        else:
            labels = [str(k) for k in range(first_row, first_row + len(x))]
        return _Rolling(x, stamps, labels, start, at, _truth(x, at, H), forecasts)

    # --- the command line: files in, records out -------------------------------------------------
    @classmethod
    def read_file(cls, path, *, column=None, time_column=None, extra_columns=(), **_):
        """(values, timestamps, source) from a CSV or TSV (rnnlab.data.timeseries.read_series):
        values (n,), or (n, 1 + k) with the extra columns after the forecast one; timestamps the
        time column as written (None without one)."""
        from ..data.timeseries import read_series

        extra_columns = tuple(extra_columns or ())
        series = read_series(path, column=column, time_column=time_column, extra_columns=extra_columns)
        values = np.column_stack([series.values, series.extra]) if series.extra.shape[1] else series.values
        timestamps = list(series.time_labels) if series.timestamps is not None else None
        source = {"path": str(path), "column": column, "time_column": time_column, "extra_columns": list(extra_columns)}
        return values, timestamps, source

    def records_for(self, path: str | None) -> list[dict]:
        """`rnnlab predict RUN [FILE]`: the forecast after the end of the training series (no
        FILE), or after the history in FILE (read as the training file was; "-": stdin)."""
        if path is None:
            return self.predict().records()
        reading = {k: v for k, v in (self.source_ or {}).items() if k != "path"}
        if path == "-":
            import sys

            with tempfile.TemporaryDirectory(prefix="rnnlab-") as folder:
                file = Path(folder) / "stdin.csv"
                file.write_text(sys.stdin.read(), encoding="utf-8")
                values, timestamps, _ = self.read_file(file, **reading)
        else:
            values, timestamps, _ = self.read_file(path, **reading)
        return self.predict(values, timestamps).records()

    def predict_records(self, X) -> list[dict]:
        return self.predict(X).records()

    def record_text(self, record: dict) -> str:
        return f"{record['time']}\t+{record['step']}\t{record['forecast']:.6g}"

    def evaluation_lines(self, metrics: dict) -> list[str]:
        """A table per lead time: the model's MASE and RMSE beside the baselines'."""
        methods = [m for m in METHODS if m in metrics]
        lines = [
            f"{metrics['origins']} forecast origin(s) over {metrics['values']} values ({metrics['from']} .. "
            f"{metrics['to']}), {metrics['horizon']} steps ahead each; MASE scaled by the in-sample seasonal "
            f"naive MAE at lag {metrics['mase_lag']} ({metrics['mase_scale']:.4g})",
            "lead | " + " | ".join(f"{m} MASE" for m in methods) + " | " + " | ".join(f"{m} RMSE" for m in methods),
        ]
        for k in range(metrics["horizon"]):
            cells = [f"{metrics[m]['by_lead']['mase'][k]:.3f}" for m in methods]
            cells += [f"{metrics[m]['by_lead']['rmse'][k]:.4g}" for m in methods]
            lines.append(f"{k + 1:>4} | " + " | ".join(cells))
        lines.append(
            " all | "
            + " | ".join(f"{metrics[m]['mase']:.3f}" for m in methods)
            + " | "
            + " | ".join(f"{metrics[m]['rmse']:.4g}" for m in methods)
        )
        verdict = [
            f"{'beats' if metrics['model']['mase'] < metrics[b]['mase'] else 'does not beat'} {b}"
            for b in BASELINES
            if b in metrics
        ]
        lines.append(f"overall the model {' and '.join(verdict)} (MASE, lower is better)")
        return lines

    def evaluation_plot(self, metrics: dict, X, y, path: Path) -> Path | None:
        """The series on its time axis with the forecasts from every horizon-th origin (model and
        baselines), and MASE by lead time. X, y: the values and timestamps evaluate() read."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x, ex = self._series(X, None)
        stamps, _ = parse_timestamps(y, len(x))
        r = self._assess(*self._continue(x, ex, stamps))
        axis = r.stamps.astype("datetime64[s]").astype(object) if r.stamps is not None else np.arange(1, len(r.x) + 1)
        colours = {"model": "tab:blue", "persistence": "0.5", "seasonal naive": "tab:green"}
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), dpi=110)
        show = np.arange(max(0, r.start - 3 * self.horizon_), len(r.x))
        top.plot([axis[i] for i in show], r.x[show], color="k", lw=1.2, label="series")
        top.axvline(axis[r.start - 1], color="0.7", ls=":")
        H = self.horizon_
        for j, row in enumerate(range(0, len(r.at), H)):
            lead = [axis[r.at[row] + k] for k in range(1, H + 1)]
            for m, f in r.forecasts.items():
                style = "-" if m == "model" else "--"
                top.plot(lead, f[row], style, color=colours[m], lw=1.2, marker=".", ms=3, label=m if j == 0 else None)
        top.set_title(f"{H}-step forecasts from every {H}th origin (evaluated: right of the dotted line)")
        top.legend(fontsize=7)
        leads = np.arange(1, H + 1)
        for m in METHODS:
            if m in metrics:
                bottom.plot(leads, metrics[m]["by_lead"]["mase"], marker="o", ms=3, color=colours[m], label=m)
        bottom.set_xlabel("lead time (steps ahead)")
        bottom.set_ylabel("MASE")
        bottom.legend(fontsize=8)
        plt.setp(top.get_xticklabels(), rotation=30, ha="right")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path

    # --- run.json ----------------------------------------------------------------------------------
    def _preprocessing(self) -> dict:
        return {
            "horizon": self.horizon_,
            "context": self.context_,
            "season": self.season_,
            "season_note": self.season_note_,
            "difference": self.difference_,
            "scaler": {
                "of": "first differences" if self.difference_ else "values",
                "mean": self.mean_,
                "std": self.std_,
            },
            "extra": {"columns": self.n_extra_, "mean": self.extra_mean_.tolist(), "std": self.extra_std_.tolist()},
            "mase": {"lag": self.mase_lag_, "scale": self.mase_scale_},
            "frequency": self.frequency_.to_json() if self.frequency_ is not None else None,
            "seen": self.seen_,
            "last_time": self._label(self.tail_stamps_[-1]) if self.tail_stamps_ is not None else None,
            "tail": {
                "values": self.tail_.tolist(),
                "extra": self.tail_extra_.tolist(),
                "stamps": None if self.tail_stamps_ is None else [str(t) for t in self.tail_stamps_],
            },
        }

    def _restore(self, d: dict) -> None:
        from ..data.timeseries import Frequency

        self.horizon_, self.context_ = int(d["horizon"]), int(d["context"])
        self.season_ = int(d["season"]) if d.get("season") else None
        self.season_note_ = d.get("season_note", "")
        self.difference_ = bool(d["difference"])
        self.mean_, self.std_ = float(d["scaler"]["mean"]), float(d["scaler"]["std"])
        self.n_extra_ = int(d["extra"]["columns"])
        self.extra_mean_, self.extra_std_ = np.array(d["extra"]["mean"]), np.array(d["extra"]["std"])
        self.mase_lag_, self.mase_scale_ = int(d["mase"]["lag"]), float(d["mase"]["scale"])
        self.frequency_ = Frequency.from_json(d["frequency"], "run.json") if d.get("frequency") else None
        self.seen_ = int(d["seen"])
        tail = d["tail"]
        self.tail_ = np.array(tail["values"], np.float64)
        self.tail_extra_ = np.array(tail["extra"], np.float64).reshape(len(self.tail_), self.n_extra_)
        self.tail_stamps_ = np.array(tail["stamps"], "datetime64[s]") if tail.get("stamps") is not None else None
        if (self.tail_stamps_ is None) != (self.frequency_ is None):
            raise ValueError("the series' last time stamps and its frequency come together, or neither")


def _truth(x: np.ndarray, at: np.ndarray, horizon: int) -> np.ndarray:
    """(len(at), horizon): x[o+1] .. x[o+horizon] of each origin."""
    return x[at[:, None] + np.arange(1, horizon + 1)[None, :]]


def _errors(forecast: np.ndarray, truth: np.ndarray, scale: float) -> dict:
    """RMSE, MAE, MASE overall and per lead time (rnnlab.models.metrics (13), (14))."""
    r, a = rmse(forecast, truth), mae(forecast, truth)
    return {
        "rmse": float(np.sqrt(np.mean(r**2))),
        "mae": float(a.mean()),
        "mase": float(a.mean() / scale),
        "by_lead": {"rmse": r.tolist(), "mae": a.tolist(), "mase": (a / scale).tolist()},
    }


def _metrics(r: _Rolling, est: RNNForecaster) -> dict:
    """evaluate()'s JSON-able dict for one rolling evaluation."""
    out = {
        "values": len(r.x) - r.start,
        "from": r.labels[r.start],
        "to": r.labels[-1],
        "origins": len(r.at),
        "horizon": est.horizon_,
        "season": est.season_,
        "mase_lag": est.mase_lag_,
        "mase_scale": est.mase_scale_,
    }
    for m, f in r.forecasts.items():
        out[m] = _errors(f, r.truth, est.mase_scale_)
    return out
