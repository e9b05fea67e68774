"""/live and /report in a room (on one process and on an ingress and a worker through Redis), and
`liveroom report` on a replayed sample room."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import ROOT  # noqa: E402

from bots.cli.main import cli  # noqa: E402

pytestmark = pytest.mark.both_deployments


async def test_live_marks_a_session_and_report_posts_a_summary_with_the_file(room):
    await room.as_user("lin", "host")
    assert "Live session started" in await room.say("/live start")
    await room.as_user("tom")
    await room.say("can I use frozen fruit?", settle=True)
    await room.say("this is great 😍")
    await room.as_user("lin", "host")
    ended = await room.say("/live end")
    assert "Live session ended: #1" in ended and "(/live)" in ended and "/report 1" in ended
    out = await room.say("/report")
    assert "from 1 viewer, 1 question (1 answered, 0 passed to you)" in out
    path = Path(out.rsplit("Full report: ", 1)[1].strip())
    assert path.exists() and path.parent.name == "reports"
    html = path.read_text(encoding="utf-8")
    assert "can I use frozen fruit?" in html and 'id="quality"' in html
    assert "No report: no session 9" in await room.say("/report 9")
    await room.as_user("tom")
    assert "/report is for the host only" in await room.say("/report")


def test_the_report_command_on_a_replayed_room(tmp_path):
    runner = CliRunner()
    config = tmp_path / "config.yaml"
    config.write_text(f"knowledge: {{path: {ROOT / 'knowledge'}}}\nretrieval: {{embedder: hashing}}\n"
                      "answers: {hold: 0}\n", encoding="utf-8")
    base = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    result = runner.invoke(cli, base + ["report"])
    assert result.exit_code != 0 and "nothing is recorded yet" in result.output
    result = runner.invoke(cli, base + ["replay", "--fast", "--quiet", str(ROOT / "knowledge/samples/room.jsonl")])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(cli, base + ["report", "--list"])
    assert listing.output.startswith("#1 2026-11-20 12:00") and "from chat activity" in listing.output
    out = tmp_path / "r.html"
    result = runner.invoke(cli, base + ["report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Stream #1" in result.output and f"wrote {out}" in result.output
    html = out.read_text(encoding="utf-8")
    assert "冷冻水果" in html and html.count("data:image/png;base64,") >= 3
    bad = runner.invoke(cli, base + ["report", "--out", str(tmp_path / "r.pdf")])
    assert bad.exit_code != 0 and "must be an .html file" in bad.output
    bad = runner.invoke(cli, base + ["report", "--session", "first"])
    assert bad.exit_code != 0 and "session must be a number" in bad.output
