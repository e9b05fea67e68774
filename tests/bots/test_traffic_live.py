"""Traffic through the real runtime: anomaly notices from a replayed raid, /when from past streams,
the weekly job (on one process and on an ingress and a worker through Redis), and the offline plot and
forecast evaluation."""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import ROOT  # noqa: E402

from adapters.replay import ReplayAdapter  # noqa: E402
from bots.app import Runtime  # noqa: E402
from bots.cli.main import cli  # noqa: E402

pytestmark = pytest.mark.both_deployments

SHANGHAI = timezone(timedelta(hours=8))
QUIET = {"answers": {"enabled": False}, "products": {"enabled": False}, "audience": {"enabled": False}}


def write_log(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def steady_then_raid(start: datetime) -> list[dict[str, Any]]:
    """An hour of ~10 lines a minute, a raid of 300 lines in one minute, then the hour goes on."""
    rng = random.Random(5)
    rows = [{"id": "h", "ts": start.isoformat(), "user": "lin", "role": "host", "room": "live",
             "text": "welcome everyone"}]
    for minute in range(90):
        n = 300 if minute == 60 else rng.randint(8, 12)
        for i in range(n):
            ts = start + timedelta(minutes=minute, seconds=(i + 0.5) * 60 / n)
            rows.append({"id": f"{minute}-{i}", "ts": ts.isoformat(), "user": f"v{rng.randrange(40)}",
                         "room": "live", "text": "hello" if minute != 60 else "RAID HYPE"})
    return rows


async def replay(deployment: Any, log: Path, data_dir: Path, **sections: Any) -> tuple[Runtime, ReplayAdapter]:
    runtime = deployment.build(data_dir, **{**QUIET, **sections})
    adapter = ReplayAdapter(log, fast=True)
    await deployment.serve(runtime, [adapter])
    return runtime, adapter


async def test_a_raid_is_whispered_to_the_host_once(deployment, data_dir, tmp_path):
    log = write_log(tmp_path / "raid.jsonl", steady_then_raid(datetime(2026, 11, 20, 20, 0, tzinfo=SHANGHAI)))
    runtime, adapter = await replay(deployment, log, data_dir)
    try:
        spikes = [a for _, a in runtime.traffic.notices if a.kind == "spike"]
        assert len(spikes) == 1 and spikes[0].value == 300
        assert spikes[0].ts == datetime(2026, 11, 20, 21, 0, tzinfo=SHANGHAI).timestamp()
        whispers = [r for r in adapter.replies if r.text.startswith("Chat spike")]
        assert len(whispers) == 1 and whispers[0].ephemeral and whispers[0].to_user.name == "lin"
        assert not [a for _, a in runtime.traffic.notices if a.kind == "drop"]
    finally:
        runtime.close()


def weekly_streams(weeks: int, *, end: datetime) -> list[dict[str, Any]]:
    """Past streams: Fridays 20:00 busy (30 chatters, 5 lines a minute), Tuesdays 12:00 quiet (6 chatters, 1 line a
    minute), Shanghai time: ~3,200 lines in 6 weeks, which the distributed variant replays through Redis."""
    rng = random.Random(9)
    rows: list[dict[str, Any]] = []
    for week in range(weeks, 0, -1):
        for weekday, hour, people in ((4, 20, 30), (1, 12, 6)):
            day = end - timedelta(weeks=week)
            day = day + timedelta(days=(weekday - day.weekday()) % 7)
            start = day.replace(hour=hour, minute=0, second=0, microsecond=0)
            for minute in range(90):
                for i in range(people // 6):
                    ts = start + timedelta(minutes=minute, seconds=i)
                    rows.append({"id": f"{start:%m%d%H}-{minute}-{i}", "ts": ts.isoformat(), "room": "shop",
                                 "user": f"u{rng.randrange(people)}", "text": "nice"})
    rows.sort(key=lambda r: r["ts"])
    return rows


async def test_when_suggests_the_busy_evening_and_books_the_weekly_post(deployment, data_dir, tmp_path, monkeypatch):
    now = datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)             # a Tuesday morning
    rows = weekly_streams(6, end=now)
    rows.append({"id": "w", "ts": now.isoformat(), "user": "lin", "role": "host", "room": "shop", "text": "/when"})
    log = write_log(tmp_path / "weeks.jsonl", rows)
    runtime = deployment.build(data_dir, **QUIET, schedule={"timezone": "Asia/Shanghai"})
    runtime.traffic.clock = lambda: now
    adapter = ReplayAdapter(log, fast=True)
    await deployment.serve(runtime, [adapter])
    try:
        [answer] = [r.text for r in adapter.replies if r.reply_to == "w"]
        lines = answer.splitlines()
        assert lines[0] == "Best times to go live next week (Asia/Shanghai):"
        assert lines[1].startswith("  1. Fri 27 Nov 20:00"), answer
        assert "Fridays" in lines[1] and "6" in lines[1]                  # the reason names the past streams
        assert "I will send you these every Mon at 10:00" in answer
        assert stored_jobs(runtime) == ["when-replay:shop"]
    finally:
        runtime.close()


def stored_jobs(runtime: Runtime) -> list[str]:
    """The ids in the job tables: one table in one process, one per partition on the workers."""
    engine = runtime.store.engine
    with engine.connect() as conn:
        return sorted(row[0] for table in sa.inspect(engine).get_table_names() if table.startswith("scheduled_jobs")
                      for row in conn.execute(sa.text(f"SELECT id FROM {table}")))


async def test_when_in_a_new_room_says_why_there_is_nothing(deployment, data_dir, tmp_path):
    log = write_log(tmp_path / "new.jsonl", [{"id": "w", "ts": "2026-11-24T09:00:00+08:00", "user": "lin",
                                              "role": "host", "room": "fresh", "text": "/when"}])
    runtime, adapter = await replay(deployment, log, data_dir, traffic={"weekly_suggestions": False})
    try:
        [answer] = [r.text for r in adapter.replies if r.reply_to == "w"]
        assert answer.startswith("No suggestion yet: no stream of 10 minutes or more is recorded")
    finally:
        runtime.close()


def test_plot_and_eval_forecast_from_the_command_line(tmp_path):
    rows = steady_then_raid(datetime(2026, 11, 20, 20, 0, tzinfo=SHANGHAI))
    log = write_log(tmp_path / "raid.jsonl", rows)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({**QUIET, "knowledge": {"path": str(ROOT / "knowledge")},
                                  "retrieval": {"embedder": "hashing"}}), encoding="utf-8")
    base = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    done = runner.invoke(cli, [*base, "replay", str(log), "--fast", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output.strip().splitlines()[-1])
    assert [a["kind"] for a in report["anomalies"]] == ["spike"]
    png = tmp_path / "traffic.png"
    done = runner.invoke(cli, [*base, "traffic", "plot", "--out", str(png)])
    assert done.exit_code == 0, done.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    done = runner.invoke(cli, [*base, "traffic", "plot", "--out", str(tmp_path / "t.jpg")])
    assert done.exit_code != 0 and ".png" in done.output

    series = tmp_path / "series.csv"
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    series.write_text("ts,value\n" + "".join(f"{start + timedelta(minutes=i):%Y-%m-%d %H:%M:%S},{100 + (i % 7) * 3}\n"
                                              for i in range(300)))
    done = runner.invoke(cli, ["eval", "forecast", str(series), "--horizon", "30", "--season", "1", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert set(result) == {"mase", "mase_naive", "mase_seasonal_naive", "coverage80", "points", "seconds", "model"}
    assert result["points"] == 300
    done = runner.invoke(cli, ["eval", "forecast", str(series), "--horizon", "30", "--season", "1"])
    assert done.exit_code == 0 and f"model  {result['model']}\n" in done.output, done.output  # the backtest's winner
    series.write_text("ts,value\n2026-11-01 00:00:00,1\n2026-11-01 00:01:00,lots\n")
    done = runner.invoke(cli, ["eval", "forecast", str(series)])
    assert done.exit_code == 2 and "series.csv:3: value 'lots' is not a number" in done.output
