"""Forecasting a real series one step and many steps ahead: recursive vs direct, beside baselines.

Data: the yearly sunspot numbers 1700-2008 that statsmodels ships (the `series` extra), or
`--csv FILE --column NAME`. The series is split in time: the first 70% trains, the next 10%
validates (the best checkpoint is kept), the last 20% tests. Values are standardised with the
training part's mean and standard deviation; errors are reported in the series' own units.

From every test origin o (the last value seen; the model reads the `context` values up to it)
each method forecasts y[o+1] .. y[o+K], K = --horizon (default: one cycle):

    recursive RNN   an LSTM trained to forecast the next value, its forecasts fed back (K = 1 model)
    direct RNN      an LSTM with K outputs, all lead times at once from the last true value
    persistence     y[o+h] = y[o]                                   (the "no change" forecast)
    seasonal naive  y[o+h] = y[o+h-m*ceil(h/m)], m the cycle length (the last cycle repeated)
    mean            the training mean (what an untrained model's ~0 output means)

RMSE per lead time h = 1..K, over all test origins. The cycle length m is the built-in series'
own (sunspots: 11 years), or --season, or estimated from the autocorrelation of the differenced
training part.
"""

from __future__ import annotations

import numpy as np

from ..data.series import builtin_series, estimate_season, load_csv_series
from ..models.forecaster import Forecaster, ForecasterConfig
from ..nn import mse
from ..train.checkpoint import load_checkpoint, load_weights_into
from .common import Experiment, Fit, Option, SupervisedTask, fit, positive_int

BATCH = 32


def _load(ctx):
    """(values, time stamps, season, season note, description) from the options."""
    csv_file, column, name = ctx.options.get("csv"), ctx.options.get("column"), ctx.options.get("series")
    if csv_file and name:
        raise ValueError("give --csv FILE or --series NAME, not both")
    if column and not csv_file:
        raise ValueError("--column names a column of --csv FILE; give --csv too")
    season = ctx.options.get("season")
    if csv_file:
        values, stamps = load_csv_series(csv_file, column)
        what, known = f"{csv_file}" + (f", column {column}" if column else ""), None
    else:
        values, stamps, known, what = builtin_series(name or "sunspots")
    if season:
        note = "given by --season"
    elif known:
        season, note = known, "the series' known cycle"
    else:
        season = estimate_season(values[: int(0.7 * len(values))])
        note = (
            "estimated from the autocorrelation of the differenced training part (pass --season to set it)"
            if season
            else "none found in the training part (pass --season): seasonal naive left out"
        )
    return values, stamps, season, note, what


def origins(start: int, stop: int, horizon: int) -> np.ndarray:
    """The origins o whose targets o+1 .. o+horizon all lie in [start, stop)."""
    return np.arange(start - 1, stop - horizon)


def histories(z: np.ndarray, at: np.ndarray, context: int) -> np.ndarray:
    """(context, len(at), 1) float32: the `context` values up to and including each origin."""
    idx = at[None, :] + np.arange(-context + 1, 1)[:, None]
    return z[idx][:, :, None].astype(np.float32)


def targets(values: np.ndarray, at: np.ndarray, horizon: int) -> np.ndarray:
    """(len(at), horizon): y[o+1] .. y[o+horizon] of each origin."""
    return values[at[:, None] + np.arange(1, horizon + 1)[None, :]]


def baselines(values: np.ndarray, at: np.ndarray, horizon: int, season: int | None, mean: float) -> dict:
    """Forecasts (len(at), horizon) of persistence, seasonal naive (when there is a season) and the mean."""
    h = np.arange(1, horizon + 1)[None, :]
    out = {"persistence": np.repeat(values[at][:, None], horizon, axis=1), "mean": np.full((len(at), horizon), mean)}
    if season:
        out["seasonal naive"] = values[at[:, None] + h - season * np.ceil(h / season).astype(int)]
    return out


def rmse_by_lead(forecast: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((forecast - truth) ** 2, axis=0))


def train_forecaster(ctx, z, train_end, val_at, context, horizon, out_horizon, hidden, steps, lr, name):
    """Train one forecaster on windows of z[:train_end] (out_horizon outputs per step, the loss at
    every step), keeping the checkpoint with the lowest validation MSE over lead times 1..horizon."""
    model = Forecaster(ForecasterConfig(horizon=out_horizon, hidden=hidden), np.random.default_rng(ctx.seed))
    span = context + out_horizon  # a window holds the inputs and the last input's targets
    if train_end < span + 1:
        raise ValueError(
            f"the training part holds {train_end} values, too few for windows of {context} "
            f"inputs and {out_horizon} targets; use a shorter --horizon or a longer series"
        )
    val_x, val_y = histories(z, val_at, context), targets(z, val_at, horizon)
    lead = np.arange(1, out_horizon + 1)

    def batch(step, rng):
        starts = rng.integers(0, train_end - span + 1, size=BATCH)
        t = starts[None, :] + np.arange(context)[:, None]  # (context, B) input positions
        x = z[t][:, :, None].astype(np.float32)
        y = z[t[:, :, None] + lead[None, None, :]].astype(np.float32)  # (context, B, out_horizon)
        return x, None, y

    def evaluate():
        if out_horizon == 1:
            pred = model.forecast_recursive(val_x, horizon)
        else:
            pred = model.forecast_direct(val_x)
        return float(np.mean((pred - val_y) ** 2))

    task = SupervisedTask(
        model,
        batch,
        lambda p, y: mse(p, y),
        evaluate,
        {"model": model.config.to_json(), "batch": BATCH, "context": context, "use": name},
    )
    how = Fit(steps=steps, lr=lr, clip=1.0, eval_every=25, progress=ctx.progress, seed=ctx.seed)
    result, _ = fit(task, ctx.out.path / name, how)
    load_weights_into(model, load_checkpoint(ctx.out.path / name / "best"))
    return model, result


def run(ctx):
    quick = ctx.quick
    values, stamps, season, season_note, what = _load(ctx)
    n = len(values)
    n_test, n_val = int(round(0.2 * n)), max(1, int(round(0.1 * n)))
    train_end, val_end = n - n_test - n_val, n - n_test
    horizon = ctx.options.get("horizon") or season or 12
    if horizon >= min(n_val, n_test):
        # the horizon is --horizon's, else one cycle (--season's or the series'), else 12: say which
        given = (
            f"--horizon {horizon}"
            if ctx.options.get("horizon")
            else f"a horizon of one cycle, {horizon} ({season_note})"
            if season
            else f"the default horizon of {horizon}"
        )
        raise ValueError(
            f"{what}: {given} leaves no origin in the validation part ({n_val} values) or the "
            f"test part ({n_test}); give a shorter --horizon or a longer series"
        )
    context = int(min(max(24, 4 * (season or 6)), 100, train_end - horizon - 1))
    mean, sd = float(values[:train_end].mean()), float(values[:train_end].std())
    if sd == 0:
        raise ValueError(f"{what}: the training part is constant ({mean}); there is nothing to forecast")
    z = (values - mean) / sd
    val_at, test_at = origins(train_end, val_end, horizon), origins(val_end, n, horizon)
    ctx.say(
        f"{what}: {n} values ({stamps[0]} .. {stamps[-1]}); train {train_end}, validation {n_val}, "
        f"test {n_test}; context {context}, horizon {horizon}, cycle {season} ({season_note})"
    )

    # 216 training values overfit fast: a small LSTM, a modest rate, the best validation step kept
    # (32 units at lr 3e-3 for 3000 steps: best validation MSE by step 150, then rising).
    hidden, steps, lr = (16, 300, 3e-3) if quick else (16, 1500, 1e-3)
    test_x, truth = histories(z, test_at, context), targets(values, test_at, horizon)
    forecasts, trained = {}, {}
    for name, out_horizon in (("recursive", 1), ("direct", horizon)):
        ctx.say(f"training the {name} LSTM ({hidden} units, {out_horizon} output{'s' * (out_horizon > 1)})")
        model, result = train_forecaster(
            ctx, z, train_end, val_at, context, horizon, out_horizon, hidden, steps, lr, name
        )
        pred = model.forecast_recursive(test_x, horizon) if name == "recursive" else model.forecast_direct(test_x)
        forecasts[f"{name} RNN"] = pred * sd + mean  # back to the series' units
        trained[name] = {"steps": result.steps, "best_validation_mse": result.best_score}
    forecasts.update(baselines(values, test_at, horizon, season, mean))

    rmse = {k: rmse_by_lead(f, truth) for k, f in forecasts.items()}
    for k, r in rmse.items():
        ctx.out.log(
            event="test",
            method=k,
            rmse_by_lead=r.tolist(),
            one_step=r[0],
            mean_over_leads=r.mean(),
            origins=len(test_at),
        )
        ctx.say(
            f"  {k:15s} RMSE one step {r[0]:.3f}, at {horizon} steps {r[-1]:.3f}, mean over 1..{horizon} {r.mean():.3f}"
        )

    _plots(ctx, values, stamps, forecasts, rmse, test_at, horizon, val_end)

    rnns = ("recursive RNN", "direct RNN")
    base = [b for b in ("persistence", "seasonal naive") if b in rmse]
    best_one = min(rnns, key=lambda k: rmse[k][0])
    best_all = min(rnns, key=lambda k: rmse[k].mean())
    beats_one = all(rmse[best_one][0] < rmse[b][0] for b in base)
    beats_all = all(rmse[best_all].mean() < rmse[b].mean() for b in base)
    summary = {
        "series": what,
        "values": n,
        "season": season,
        "season_note": season_note,
        "context": context,
        "horizon": horizon,
        "test_origins": len(test_at),
        "models": trained,
        "rmse": {
            k: {"one_step": r[0], f"at_{horizon}": r[-1], "mean_over_leads": r.mean(), "by_lead": r.tolist()}
            for k, r in rmse.items()
        },
        "target_met": None if quick else bool(beats_one and beats_all),
        "result": f"one-step RMSE: recursive RNN {rmse['recursive RNN'][0]:.2f}, direct RNN "
        f"{rmse['direct RNN'][0]:.2f}, persistence {rmse['persistence'][0]:.2f}"
        + (f", seasonal naive {rmse['seasonal naive'][0]:.2f}" if season else "")
        + f"; mean over 1..{horizon}: recursive {rmse['recursive RNN'].mean():.2f}, direct "
        f"{rmse['direct RNN'].mean():.2f}, persistence {rmse['persistence'].mean():.2f}"
        + (f", seasonal naive {rmse['seasonal naive'].mean():.2f}" if season else ""),
    }
    lines = [
        f"{what}: {n} values; trained on the first {train_end}, validated on the next {n_val}, "
        f"tested from {len(test_at)} origins in the last {n_test}. Context {context} values; "
        f"cycle {season} ({season_note}).",
        "",
        f"| method | RMSE, one step | RMSE, {horizon} steps | mean RMSE over 1..{horizon} |",
        "|---|---|---|---|",
        *(f"| {k} | {r[0]:.3f} | {r[-1]:.3f} | {r.mean():.3f} |" for k, r in rmse.items()),
        "",
        f"An RNN beats {' and '.join(base)} at one step: {'yes' if beats_one else 'no'} ({best_one}); "
        f"over 1..{horizon} steps: {'yes' if beats_all else 'no'} ({best_all}).",
    ]
    return summary, lines


def _plots(ctx, values, stamps, forecasts, rmse, test_at, horizon, val_end):
    def x_of(i):  # the time axis: the stamps when they are numbers (years), else the index
        try:
            return np.array([float(stamps[j]) for j in np.atleast_1d(i)])
        except ValueError:
            return np.atleast_1d(i).astype(float)

    colours = {
        "recursive RNN": "tab:blue",
        "direct RNN": "tab:orange",
        "persistence": "0.5",
        "seasonal naive": "tab:green",
        "mean": "0.8",
    }
    with ctx.out.figure("forecast", nrows=2, figsize=(9, 7)) as plot:
        if plot is not None:
            fig, (top, bottom) = plot
            start = max(0, val_end - 3 * horizon)
            span = np.arange(start, len(values))
            for ax in (top, bottom):
                ax.plot(x_of(span), values[span], color="k", lw=1.2, label="truth")
                ax.axvline(x_of(val_end - 1)[0], color="0.7", ls=":")
            for k in ("recursive RNN", "direct RNN", "persistence", "seasonal naive"):
                if k in forecasts:
                    top.plot(x_of(test_at + 1), forecasts[k][:, 0], color=colours[k], lw=1, label=k)
            top.set_title("one step ahead over the test part (right of the dotted line)")
            top.legend(fontsize=7, ncol=3)
            for j, o in enumerate(test_at[:: max(1, horizon)][:4]):
                leads = x_of(o + np.arange(1, horizon + 1))
                row = int(np.where(test_at == o)[0][0])
                for k in ("recursive RNN", "direct RNN", "seasonal naive"):
                    if k in forecasts:
                        bottom.plot(
                            leads,
                            forecasts[k][row],
                            color=colours[k],
                            lw=1.2,
                            label=k if j == 0 else None,
                            marker=".",
                            ms=3,
                        )
            bottom.set_title(f"{horizon} steps ahead from every {horizon}th test origin")
            bottom.legend(fontsize=7)
    with ctx.out.figure("rmse_by_lead") as plot:
        if plot is not None:
            fig, ax = plot
            leads = np.arange(1, horizon + 1)
            for k, r in rmse.items():
                ax.plot(leads, r, marker="o", ms=3, color=colours.get(k), label=k)
            ax.set_xlabel("lead time (steps ahead)")
            ax.set_ylabel("test RMSE")
            ax.legend(fontsize=8)


EXPERIMENT = Experiment(
    name="forecast",
    title="one- and multi-step forecasting of a real series (sunspots or --csv): recursive vs direct LSTM",
    anchor="the lectures' forecasting setup: RMSE against persistence and seasonal-naive baselines; "
    "an RNN should beat both",
    options=(
        Option(
            "csv",
            "a CSV file with a header row, one row per time step (default: the yearly sunspot numbers "
            "statsmodels ships, the series extra)",
            metavar="FILE",
        ),
        Option("column", "the column of --csv to forecast", metavar="NAME"),
        Option("series", "a built-in series (default sunspots)", choices=("sunspots",)),
        Option(
            "season",
            "the cycle length in steps for the seasonal-naive baseline (default: the series' own, or estimated)",
            parse=positive_int,
            metavar="M",
        ),
        Option("horizon", "steps ahead (default one cycle)", parse=positive_int, metavar="K"),
    ),
    run=run,
)
