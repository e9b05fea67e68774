"""The ``liveroom`` command line, in-process (click's runner) and as a real process."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.cli import cli
from bots.guard import PackageConflict, conflicts, ensure_no_conflicts

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "knowledge" / "samples" / "room.jsonl"


@pytest.fixture(autouse=True)
def test_config(tmp_path, monkeypatch) -> Path:
    """Run every CLI test with the fast test config, from a folder of its own."""
    path = tmp_path / "config.yaml"
    path.write_text(f"knowledge:\n  path: {ROOT / 'knowledge'}\nretrieval:\n  embedder: hashing\n"
                    "answers:\n  hold: 0\n")
    monkeypatch.chdir(tmp_path)
    return path


def invoke(*args: str, data_dir: Path, input: str | None = None):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], input=input,
                              catch_exceptions=False)


def write_log(path: Path, n: int, *, start: int = 0, bad_every: int = 0) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(start, start + n):
            if bad_every and i % bad_every == 0:
                f.write("{broken\n")
                continue
            f.write(json.dumps({"id": str(i), "ts": f"2026-11-20T20:{(i // 60) % 60:02d}:{i % 60:02d}+08:00",
                                "user": f"viewer{i % 50}", "text": f"message number {i}",
                                "room": "bench"}) + "\n")
    return path


@pytest.mark.parametrize("command", [[], ["run"], ["replay"], ["check"]])
def test_every_command_has_help(command, tmp_path):
    result = invoke(*command, "--help", data_dir=tmp_path)
    assert result.exit_code == 0 and "Usage:" in result.output


def test_version(tmp_path):
    result = invoke("--version", data_dir=tmp_path)
    assert result.exit_code == 0 and result.output.startswith("liveroom 0.")


def test_check_reports_a_healthy_setup(tmp_path):
    result = invoke("check", data_dir=tmp_path / "d")
    assert result.exit_code == 0, result.output
    from brain.schema import MIGRATIONS
    assert "config" in result.output and f"schema version {len(MIGRATIONS)}" in result.output
    assert "adapters: console" in result.output


def test_bad_config_refuses_to_start_and_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("adapters:\n  console:\n    enabled: maybe\n")
    result = CliRunner().invoke(cli, ["--config", str(bad), "--data-dir", str(tmp_path), "run"])
    assert result.exit_code == 2
    assert f"{bad}:3: adapters.console.enabled: Input should be a valid boolean" in result.output


def test_run_with_no_adapter_explains(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("adapters:\n  console:\n    enabled: false\n")
    result = invoke("--config", str(cfg), "run", data_dir=tmp_path)
    assert result.exit_code == 1 and "no adapter is enabled" in result.output


def test_replay_json_counts_messages_and_bad_lines(tmp_path):
    log = write_log(tmp_path / "chat.jsonl", 300, bad_every=100)
    result = invoke("replay", str(log), "--fast", "--json", data_dir=tmp_path / "d")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"messages", "seconds", "msgs_per_s", "bad_lines"} <= set(report)
    assert report["messages"] == 297 and report["bad_lines"] == 3
    assert report["bad_line_numbers"] == [1, 101, 201]
    assert report["committed"] == 297 and report["msgs_per_s"] > 0


def test_replay_of_the_sample_room_answers_commands(tmp_path):
    result = invoke("replay", str(SAMPLE), "--fast", data_dir=tmp_path)
    assert result.exit_code == 0, result.output
    assert "replayed" in result.output and "0 bad lines" in result.output
    assert "Commands for you" in result.output  # the sample's /help got its answer


def test_replay_of_a_missing_file(tmp_path):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "replay", str(tmp_path / "no.jsonl")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_guard_names_the_conflicting_distribution():
    mapping = {"adapters": ["adapters", "liveroom"], "brain": ["liveroom"], "bots": ["Liveroom"]}
    assert conflicts(mapping) == {"adapters": ["adapters"]}
    with pytest.raises(PackageConflict, match="'adapters' is also installed by: adapters"):
        ensure_no_conflicts(mapping)
    ensure_no_conflicts({"adapters": ["liveroom"]})


def test_this_environment_has_no_conflict():
    assert conflicts() == {}


# ---- real processes ---------------------------------------------------------------------

def liveroom(*args: str, data_dir: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "LIVEROOM_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    config = data_dir.parent / "config.yaml"
    return subprocess.Popen([sys.executable, "-m", "bots.cli", "--config", str(config), *args], cwd=ROOT,
                            env=env, **kwargs)


@pytest.mark.integration
def test_kill_9_during_fast_replay_keeps_what_was_committed(tmp_path):
    log = write_log(tmp_path / "big.jsonl", 400_000)
    data = tmp_path / "d"
    proc = liveroom("replay", str(log), "--fast", "--json", data_dir=data,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = data / "liveroom.db"
    seen = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and seen < 20_000:
            if db.exists():
                try:
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                        seen = conn.execute("select count(*) from events").fetchone()[0]
                except sqlite3.OperationalError:
                    pass  # table not created yet
            time.sleep(0.05)
        assert proc.poll() is None, "replay ended before it could be killed: make the log bigger"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL and seen >= 20_000
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        after = conn.execute("select count(*) from events").fetchone()[0]
        ids = [int(r[0]) for r in conn.execute("select event_id from events order by id")]
    assert after >= seen  # nothing committed before the kill was lost
    assert ids == list(range(len(ids)))  # a clean prefix of the log, in order, no gaps
    # and the store opens and keeps working afterwards
    result = invoke("check", data_dir=data)
    assert result.exit_code == 0 and f"{after} events recorded" in result.output


@pytest.mark.integration
def test_sigterm_stops_the_console_bot_gracefully(tmp_path):
    data = tmp_path / "d"
    proc = liveroom("run", data_dir=data,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write("hello from a viewer\n/help\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        out = ""
        while "Commands for you" not in out and time.monotonic() < deadline:
            out += proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    with sqlite3.connect(data / "liveroom.db") as conn:
        kinds = [r[0] for r in conn.execute("select kind from events order by id")]
    assert kinds == ["chat", "command", "reply"]
