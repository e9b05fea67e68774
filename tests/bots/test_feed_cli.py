"""``liveroom feed captions`` in-process (click's runner), with the fast test config."""

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]

SRT = """1
00:00:01,000 --> 00:00:03,000
Today we make a mango smoothie with the <b>BlendGo Pro</b>

2
00:00:04,000 --> 00:00:0x,000
a broken timestamp

3
00:00:06,000 --> 00:00:08,000
今天我们做
芒果奶昔

4
00:00:09,000 --> 00:00:08,000
ends before it starts
"""


@pytest.fixture(autouse=True)
def test_config(tmp_path, monkeypatch) -> Path:
    """The stand-in embedder config the other CLI tests use, from a folder of its own."""
    path = tmp_path / "config.yaml"
    path.write_text(f"knowledge:\n  path: {ROOT / 'knowledge'}\nretrieval:\n  embedder: hashing\n"
                    "answers:\n  hold: 0\n")
    monkeypatch.chdir(tmp_path)
    return path


def invoke(*args: str, data_dir: Path):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], catch_exceptions=False)


@pytest.mark.parametrize("command", [["feed"], ["feed", "captions"]])
def test_help(command, tmp_path):
    result = invoke(*command, "--help", data_dir=tmp_path)
    assert result.exit_code == 0 and "Usage:" in result.output
    if command == ["feed", "captions"]:
        for option in ("--room", "--fast", "--speed", "--host-name", "--json"):
            assert option in result.output


def test_fast_json_reports_cues_bad_cue_lines_and_the_runtime_figures(tmp_path):
    captions = tmp_path / "talk.srt"
    captions.write_bytes(SRT.encode("gb18030"))
    data = tmp_path / "d"
    result = invoke("feed", "captions", str(captions), "--room", "replay:smoothie-lab", "--fast",
                    "--host-name", "chef_lin", "--json", data_dir=data)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cues"] == 2 and report["bad_cues"] == 2 and report["bad_cue_lines"] == [6, 15]
    assert report["room"] == "replay:smoothie-lab" and report["encoding"] == "gb18030"
    assert report["format"] == "srt" and report["seconds"] > 0
    # the same runtime keys `liveroom replay --json` prints
    assert {"replies", "commands", "truncated", "committed", "peak_rss_mb",
            "questions", "answers", "abstained", "merged"} <= set(report)
    assert report["committed"] >= 2 and report["questions"] == 0  # the host's speech is not a question
    with sqlite3.connect(data / "liveroom.db") as conn:
        rows = conn.execute("select kind, room, user_key, role, text from events where direction = 'in' "
                            "order by ts").fetchall()
    assert rows == [
        ("transcript", "replay:smoothie-lab", "replay:chef_lin", "host",
         "Today we make a mango smoothie with the BlendGo Pro"),
        ("transcript", "replay:smoothie-lab", "replay:chef_lin", "host", "今天我们做芒果奶昔"),
    ]


def test_human_output_lists_bad_cues_on_stderr(tmp_path):
    captions = tmp_path / "talk.vtt"
    captions.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nhello\n\n00:03.000 --> 00:02.000\nback\n",
                        encoding="utf-8-sig")
    result = invoke("feed", "captions", str(captions), "--room", "demo", "--speed", "1000",
                    data_dir=tmp_path / "d")
    assert result.exit_code == 0, result.output
    assert "fed 1 cue (vtt, utf-8 (BOM)) into captions:demo" in result.stdout
    assert "1 bad cue;" in result.stdout
    assert "line 6: ends before it starts (00:00:03.000 --> 00:00:02.000)" in result.stderr


def test_a_missing_file_exits_2(tmp_path):
    result = invoke("feed", "captions", str(tmp_path / "nope.srt"), "--room", "r", data_dir=tmp_path)
    assert result.exit_code == 2 and "does not exist" in result.output


def test_an_undecodable_file_exits_2_with_the_reason(tmp_path):
    bad = tmp_path / "latin1.srt"
    bad.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\x80 caf\xe9\n")
    result = invoke("feed", "captions", str(bad), "--room", "r", data_dir=tmp_path / "d")
    assert result.exit_code == 2
    assert "cannot read caption file" in result.output and "not UTF-8" in result.output
    assert not (tmp_path / "d" / "liveroom.db").exists()  # refused before the runtime started


def test_a_bad_room_key_exits_2(tmp_path):
    captions = tmp_path / "c.srt"
    captions.write_text(SRT, encoding="utf-8")
    result = invoke("feed", "captions", str(captions), "--room", "console:", data_dir=tmp_path / "d")
    assert result.exit_code == 2 and "platform:room_id" in result.output


def test_configured_adapters_route_the_feed_to_the_other_adapters():
    from adapters.feed import FeedAdapter
    from bots.app import NoAdapterError, configured_adapters
    from bots.runtime.config import parse_config
    text = "adapters:\n  feed:\n    enabled: true\n    port: 0\n    token: ${LIVEROOM_FEED_TOKEN}\n"
    config = parse_config(text, env={"LIVEROOM_FEED_TOKEN": "s3cret"})
    adapters = configured_adapters(config)
    assert [a.name for a in adapters] == ["console", "feed"]
    feed = adapters[-1]
    assert isinstance(feed, FeedAdapter) and feed.routes == {"console": "console"}
    assert feed.host == "127.0.0.1" and "s3cret" not in repr(feed)
    alone = parse_config(text + "  console:\n    enabled: false\n", env={"LIVEROOM_FEED_TOKEN": "s3cret"})
    with pytest.raises(NoAdapterError, match="adapters.feed only feeds the rooms of the other adapters"):
        configured_adapters(alone)


def test_check_with_the_feed_enabled_and_its_variable_unset_names_it(tmp_path, test_config, monkeypatch):
    monkeypatch.delenv("LIVEROOM_FEED_TOKEN", raising=False)
    test_config.write_text(test_config.read_text() + "adapters:\n  feed:\n    enabled: true\n"
                           "    token: ${LIVEROOM_FEED_TOKEN}\n")
    result = CliRunner().invoke(cli, ["--config", str(test_config), "--data-dir", str(tmp_path / "d"), "check"])
    assert result.exit_code == 2
    assert "adapters.feed.token: environment variable LIVEROOM_FEED_TOKEN is not set" in result.output
    monkeypatch.setenv("LIVEROOM_FEED_TOKEN", "s3cret")
    result = CliRunner().invoke(cli, ["--config", str(test_config), "--data-dir", str(tmp_path / "d"), "check"])
    assert "adapters: console, feed" in result.output and "s3cret" not in result.output
