"""``liveroom traffic ...`` and ``liveroom eval forecast``: the room's rhythm, offline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bots.cli.rooms import echo_figures, open_store, pick_room
from bots.cli.settings import EXIT_CONFIG, Settings
from brain.text.plural import counted

__all__ = ["traffic_group"]


@click.group(name="traffic")
def traffic_group() -> None:
    """A room's activity over time: forecasts and pictures."""


@traffic_group.command(name="plot")
@click.option("--room", default=None,
              help="Room key (platform:room_id), or a name one recorded room has; optional when only one is recorded.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The PNG file to write.")
@click.option("--metric", type=click.Choice(["messages", "chatters", "questions", "joins", "viewers"]),
              default="messages", show_default=True)
@click.option("--horizon", type=click.IntRange(min=1, max=10000), default=None,
              help="Steps to forecast (default: a week of hours, or two hours of minutes).")
@click.pass_obj
def traffic_plot(settings: Settings, room: str | None, out: Path, metric: str, horizon: int | None) -> None:
    """Plot a room's activity with the forecast and its 80% interval.

    Rooms recorded over more than two days are plotted per hour with daily and
    weekly seasons; shorter ones per minute.
    """
    import numpy as np

    from brain.traffic.forecast import forecast
    from brain.traffic.plots import plot_forecast
    from brain.traffic.series import HOUR, MINUTE, activity_series
    if out.suffix.lower() != ".png":
        raise click.ClickException(f"--out must be a .png file, got {out.name!r}")
    with open_store(settings) as store:
        key = pick_room(store, room)
        minutes = activity_series(store, key, step=MINUTE)
        hourly = len(minutes) > 2 * 24 * 60
        series = activity_series(store, key, step=HOUR) if hourly else minutes
    values = series.metric(metric)
    if len(values) < 2:
        raise click.ClickException(f"{key} has too little activity to plot "
                                   f"({counted(len(values), 'hour' if hourly else 'minute')})")
    steps = horizon or (168 if hourly else 120)
    fc = forecast(values, horizon=steps, season=(24, 168) if hourly else 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    future = series.end + series.step * np.arange(steps, dtype=np.float64)
    plot_forecast(series.ts, values, fc, out, forecast_ts=future, ylabel=f"{metric} per {'hour' if hourly else 'minute'}",
                  tz=settings.config().schedule.zone_of(key), title=f"{key}: {metric} ({fc.method})")
    click.echo(f"wrote {out} ({counted(len(values), 'hour' if hourly else 'minute')} of history, "
               f"{steps} forecast, method {fc.method})")


@click.command(name="forecast")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--horizon", type=click.IntRange(min=1), default=30, show_default=True,
              help="Held-out points at the end of the series.")
@click.option("--season", type=click.IntRange(min=1), default=1, show_default=True,
              help="Season length M of the MASE scale and of the seasonal-naive baseline.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
def eval_forecast(file: Path, horizon: int, season: int, as_json: bool) -> None:
    """Score the bot's forecaster on a series (CSV with columns ts,value).

    Holds out the last HORIZON points, fits on the rest and prints mase (MAE
    over the in-sample seasonal-naive MAE with season M), mase_naive and
    mase_seasonal_naive (the two baselines, same scale), coverage80 (held-out
    points inside the 80% interval), points, seconds and model (the model the
    forecaster's backtest on the training part chose, e.g. profile, snaive:24,
    holt_winters, sarima, ses). Exit code 2 if FILE is missing or not such a
    series.
    """
    from brain.traffic.traffic_eval import evaluate_forecast
    if not file.is_file():
        click.echo(f"liveroom: {file} is not a file", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        result = evaluate_forecast(file, horizon=horizon, season=season)
    except (ValueError, UnicodeDecodeError) as exc:
        click.echo(f"liveroom: cannot evaluate: {exc}", err=True)  # the message names the file and line
        sys.exit(EXIT_CONFIG)
    echo_figures(result, as_json)
