"""An event is stored and answered once: a log replayed again, resumed after a kill, or twice at once.

Fault 3 of issue 17: after a killed replay, replaying the same file stored
75,500 rows for 50,000 distinct ids. An event's id identifies it within its
room; the store refuses a second copy and the runtime does not act on it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import ROOT, kill_when_stored, write_log  # noqa: E402
from test_cli import liveroom  # noqa: E402  (the real-process helper: config.yaml beside the data dir)

from bots.cli.main import cli


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"knowledge:\n  path: {ROOT / 'knowledge'}\nretrieval:\n  embedder: hashing\n"
                    "answers:\n  hold: 0\n")
    return path


def replay(config: Path, data: Path, log: Path) -> dict:
    result = CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(data), "replay", str(log),
                                      "--fast", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def stored(data: Path) -> tuple[int, int, int]:
    """(rows, distinct (room, event_id) pairs, questions) of inbound events in the data dir's database."""
    with sqlite3.connect(data / "liveroom.db") as conn:
        rows, distinct = conn.execute("select count(*), count(distinct room || ' ' || event_id) from events "
                                      "where direction = 'in'").fetchone()
        asked = conn.execute("select count(*) from questions").fetchone()[0]
    return rows, distinct, asked


def test_a_log_replayed_again_is_neither_stored_nor_answered_twice(tmp_path, config):
    sample = ROOT / "knowledge" / "samples" / "room.jsonl"
    data = tmp_path / "d"
    first = replay(config, data, sample)
    assert first["questions"] > 0 and first["replies"] > 0 and first["already_stored"] == 0
    before = stored(data)
    again = replay(config, data, sample)
    assert again["already_stored"] == first["messages"] == again["messages"]
    assert again["replies"] == 0 and again["questions"] == 0 and again["committed"] == 0
    assert stored(data) == before and before[0] == before[1]


def test_a_plain_summary_says_what_was_skipped(tmp_path, config):
    log = write_log(tmp_path / "chat.jsonl", 50)
    data = tmp_path / "d"
    replay(config, data, log)
    result = CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(data), "replay", str(log),
                                      "--fast", "--quiet"], catch_exceptions=False)
    assert "events: 50 already stored (skipped, not answered again)" in result.output


def _quiet_config(tmp_path: Path) -> Path:
    """Storage only: no model, no audience worker (the store is under test, as in test_cli's kill -9 test)."""
    path = tmp_path / "config.yaml"  # where test_cli's `liveroom` looks: beside the data dir
    path.write_text("answers: {enabled: false}\nproducts: {enabled: false}\naudience: {enabled: false}\n")
    return path


@pytest.mark.integration
def test_a_replay_killed_midway_resumes_where_it_stopped(tmp_path):
    # Sizes well under the store's in-memory limits (_PRELOAD_IDS, _SEEN_KEYS), as 60,000 was. The log only
    # has to outlast the kill: 25,000 rows to go is over 2 s of the killed replay (at most ~10,000 rows/s)
    # against a 50 ms poll. A bigger log only lengthens the resume.
    total, kill_at = 30_000, 5_000
    log = write_log(tmp_path / "big.jsonl", total)
    data = tmp_path / "d"
    config = _quiet_config(tmp_path)
    proc = liveroom("replay", str(log), "--fast", "--json", data_dir=data,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when_stored(proc, data / "liveroom.db", kill_at)
    killed_at = stored(data)[0]
    assert kill_at <= killed_at < total
    # The resume, in this process, also without the moderation watch: it classifies every viewer line in a
    # thread (3/4 of the resume's time) and stores no event. The killed replay above ran with it, as before.
    resume = tmp_path / "resume.yaml"
    resume.write_text(config.read_text() + "moderation: {enabled: false}\n")
    resumed = replay(resume, data, log)
    assert resumed["already_stored"] == killed_at and resumed["committed"] == total - killed_at
    rows, distinct, _ = stored(data)
    assert rows == distinct == total


@pytest.mark.integration
def test_two_replays_of_one_file_at_once_store_each_event_once(tmp_path):
    # 10,000 events: both processes start replaying within ~0.1 s of each other (the same start-up) and
    # replay for ~3 s side by side, so they still race over every id; 20,000 only lengthened the race.
    total = 10_000
    log = write_log(tmp_path / "chat.jsonl", total)
    data = tmp_path / "d"
    config = _quiet_config(tmp_path)
    replay(config, data, write_log(tmp_path / "warm.jsonl", 1, start=10**6))  # create and migrate the database
    procs = [liveroom("replay", str(log), "--fast", "--json", data_dir=data, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True) for _ in range(2)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    rows, distinct, _ = stored(data)
    assert rows == distinct == total + 1
    assert sum(r["committed"] for r in reports) == total  # every event written by exactly one of them
    assert sum(r["already_stored"] for r in reports) == total
