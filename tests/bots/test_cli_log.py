"""``liveroom log``, ``liveroom privacy`` and ``liveroom retention`` through click's runner, on a real store."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "brain"))
from test_interactions import T0, action_row, chat, insert, question, record, review_row  # noqa: E402

from bots.cli.log import parse_moment  # noqa: E402
from bots.cli.main import cli  # noqa: E402
from brain.store.event_store import Store  # noqa: E402
from brain.store.retention import DAY  # noqa: E402
from brain.store.schema import events, moderation_actions, questions, reviews  # noqa: E402


@pytest.fixture
def config(tmp_path: Path, monkeypatch) -> Path:
    """The config file the commands read, from a folder of the test's own (no knowledge base needed)."""
    path = tmp_path / "config.yaml"
    path.write_text("answers:\n  enabled: false\n")
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path, config: Path):
    """The database the commands open (``<data-dir>/liveroom.db``), filled by the test, closed before they run."""
    data_dir.mkdir(parents=True, exist_ok=True)
    s = Store(f"sqlite:///{(data_dir / 'liveroom.db').resolve()}", flush_interval=0.2)
    yield s
    s.close()


def invoke(data_dir: Path, *args: str, input: str | None = None, config: Path | None = None):
    head = ["--config", str(config)] if config is not None else []
    return CliRunner().invoke(cli, [*head, "--data-dir", str(data_dir), *args], input=input, catch_exceptions=False)


def count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.fixture
def logged(store: Store) -> Store:
    record(store,
           question(1, user="alice", text="How much is the course?", reply_id="bot-1"),
           question(2, user="bob", status="abstained", text="who won the match?"),
           question(3, user="alice", room="telegram:-100", text="is shipping free?", model="llm:gpt"),
           question(4, user="carol", text="course start date?"),
           question(5, user="alice", text="course refund?"))
    insert(store, reviews, review_row("e4", "pending", user="carol"))
    return store


@pytest.mark.parametrize("command", [["log"], ["log", "search"], ["log", "export"], ["privacy"],
                                     ["privacy", "export"], ["privacy", "delete"], ["retention"],
                                     ["retention", "apply"]])
def test_every_command_has_help(command, tmp_path):
    result = invoke(tmp_path, *command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


# ---- log search -----------------------------------------------------------------------------------

def test_search_lists_matching_questions_newest_first(logged: Store, data_dir: Path, config: Path):
    result = invoke(data_dir, "log", "search", "--room", "console:demo", "--text", "COURSE", config=config)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2027-01-15 08:00:05  console:demo  alice (console:alice)  answered · extractive",
        "  Q: course refund?",
        "  A: answer 5",
        "2027-01-15 08:00:04  console:demo  carol (console:carol)  answered · extractive · review pending #1",
        "  Q: course start date?",
        "  A: answer 4",
        "2027-01-15 08:00:01  console:demo  alice (console:alice)  answered · extractive",
        "  Q: How much is the course?",
        "  A: answer 1",
    ]


def test_search_pages_with_the_printed_cursor(logged: Store, data_dir: Path, config: Path):
    first = invoke(data_dir, "log", "search", "--limit", "2", "--json", config=config)
    page = json.loads(first.output)
    assert [r["event_id"] for r in page["rows"]] == ["e5", "e4"]
    assert page["rows"][1]["review_status"] == "pending" and page["next"] is not None
    second = json.loads(invoke(data_dir, "log", "search", "--limit", "2", "--json", "--before", page["next"],
                               config=config).output)
    third = json.loads(invoke(data_dir, "log", "search", "--limit", "2", "--json", "--before", second["next"],
                              config=config).output)
    assert [r["event_id"] for r in second["rows"]] == ["e3", "e2"]
    assert [r["event_id"] for r in third["rows"]] == ["e1"] and third["next"] is None
    text = invoke(data_dir, "log", "search", "--limit", "2", config=config).output
    assert text.splitlines()[-1] == f"next page: --before {page['next']}"


def test_search_filters_by_viewer_status_and_review(logged: Store, data_dir: Path, config: Path):
    def found(*args: str) -> list[str]:
        result = invoke(data_dir, "log", "search", "--json", *args, config=config)
        assert result.exit_code == 0, result.output
        return [r["event_id"] for r in json.loads(result.output)["rows"]]

    assert found("--viewer", "console:alice") == ["e5", "e3", "e1"]
    assert found("--status", "abstained") == ["e2"]
    assert found("--status", "pending") == ["e4"]
    assert found("--model", "llm:gpt") == ["e3"]
    assert found("--since", "2027-01-15T08:00:03", "--until", "2027-01-15T08:00:05+00:00") == ["e4", "e3"]
    assert invoke(data_dir, "log", "search", "--viewer", "console:zed", config=config).output == "no questions match\n"


def test_naive_times_are_read_in_the_configured_zone(logged: Store, data_dir: Path, tmp_path: Path):
    shanghai = tmp_path / "sh.yaml"
    shanghai.write_text("answers:\n  enabled: false\nschedule:\n  timezone: Asia/Shanghai\n")
    result = invoke(data_dir, "log", "search", "--since", "2027-01-15 16:00:04", config=shanghai)
    assert [line.split("  ")[0] for line in result.output.splitlines() if not line.startswith(" ")] == \
        ["2027-01-15 16:00:05", "2027-01-15 16:00:04"]


def test_relative_times_count_back_from_now(store: Store, data_dir: Path, config: Path):
    now = time.time()
    record(store, question(1, ts=now - 3 * 3600), question(2, ts=now - 3600), question(3, ts=now - 60))
    result = invoke(data_dir, "log", "search", "--since", "2h", "--until", "30m", "--json", config=config)
    assert [r["event_id"] for r in json.loads(result.output)["rows"]] == ["e2"]


def test_bad_times_statuses_and_cursors_are_usage_errors_naming_the_option(logged: Store, data_dir: Path,
                                                                          config: Path):
    result = invoke(data_dir, "log", "search", "--since", "last tuesday", config=config)
    assert result.exit_code == 2 and "--since" in result.output and "ISO date" in result.output
    result = invoke(data_dir, "log", "search", "--status", "done", config=config)
    assert result.exit_code == 2 and "--status" in result.output and "answered, abstained, merged" in result.output
    result = invoke(data_dir, "log", "search", "--before", "page2", config=config)
    assert result.exit_code == 2 and "--before" in result.output


def test_parse_moment_reads_iso_and_spans():
    now = 1_800_000_000.0
    assert parse_moment("3d", now=now, zone="UTC") == now - 3 * DAY
    assert parse_moment(" 1h30m ", now=now, zone="UTC") == now - 5400
    assert parse_moment("2027-01-15", now=now, zone="UTC") == T0 - 8 * 3600
    assert parse_moment("2027-01-15T08:00:00Z", now=now, zone="Asia/Shanghai") == T0
    assert parse_moment("2027-01-15T16:00", now=now, zone="Asia/Shanghai") == T0
    with pytest.raises(ValueError, match="neither an ISO date"):
        parse_moment("3 bananas", now=now, zone="UTC")


# ---- log export -----------------------------------------------------------------------------------

def test_export_writes_the_filtered_log(logged: Store, data_dir: Path, config: Path, tmp_path: Path):
    out = tmp_path / "alice.csv"
    result = invoke(data_dir, "log", "export", "--viewer", "console:alice", "--out", str(out), config=config)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote 3 questions to {out}"
    with open(out, encoding="utf-8", newline="") as fh:
        assert [(r["event_id"], r["room"], r["text"]) for r in csv.DictReader(fh)] == [
            ("e5", "console:demo", "course refund?"), ("e3", "telegram:-100", "is shipping free?"),
            ("e1", "console:demo", "How much is the course?")]
    out = tmp_path / "all.jsonl"
    assert invoke(data_dir, "log", "export", "--format", "jsonl", "--out", str(out), config=config).exit_code == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["event_id"] for r in lines] == ["e5", "e4", "e3", "e2", "e1"] and lines[1]["review_status"] == "pending"


# ---- privacy -----------------------------------------------------------------------------------------

def test_privacy_export_prints_or_writes_everything_about_a_viewer(logged: Store, data_dir: Path, config: Path,
                                                                   tmp_path: Path):
    chat(logged, 9, user="alice")
    assert logged.flush()
    printed = invoke(data_dir, "privacy", "export", "--viewer", "console:alice", config=config)
    data = json.loads(printed.output)
    assert [q["event_id"] for q in data["questions"]] == ["e1", "e3", "e5"] and len(data["events"]) == 1
    out = tmp_path / "alice.json"
    written = invoke(data_dir, "privacy", "export", "--viewer", "console:alice", "--out", str(out), config=config)
    assert written.output.strip() == (f"wrote {out}: 1 event, 3 questions, 0 reviews, 0 flagged_viewers, 0 pins, "
                                      "1 moderation_action")  # the first export, recorded
    assert json.loads(out.read_text(encoding="utf-8"))["user_key"] == "console:alice"
    with logged.engine.connect() as conn:
        actions = conn.execute(sa.select(moderation_actions.c.action, moderation_actions.c.target_user,
                                         moderation_actions.c.actor_key)).all()
    assert [(a, t) for a, t, _ in actions] == [("export", "console:alice")] * 2
    assert all(actor.startswith("cli:") for _, _, actor in actions)


def test_privacy_delete_asks_first(logged: Store, data_dir: Path, config: Path):
    declined = invoke(data_dir, "privacy", "delete", "--viewer", "console:alice", input="n\n", config=config)
    assert declined.exit_code == 1 and "Delete everything stored about console:alice?" in declined.output
    assert count(logged, questions) == 5
    accepted = invoke(data_dir, "privacy", "delete", "--viewer", "console:alice", input="y\n", config=config)
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.splitlines()[-1] == \
        "deleted console:alice: 0 events, 3 questions, 0 reviews, 0 flagged_viewers, 0 pins"
    assert count(logged, questions) == 2


def test_privacy_delete_with_yes_and_an_unknown_viewer(logged: Store, data_dir: Path, config: Path):
    insert(logged, moderation_actions, action_row("flag", "console:carol"))
    result = invoke(data_dir, "privacy", "delete", "--viewer", "console:carol", "--yes", config=config)
    assert result.output == "deleted console:carol: 0 events, 1 question, 1 review, 0 flagged_viewers, 0 pins\n"
    assert (count(logged, reviews), count(logged, moderation_actions)) == (0, 2)  # the flag stays, the deletion added
    result = invoke(data_dir, "privacy", "delete", "--viewer", "console:zed", "--yes", config=config)
    assert result.exit_code == 0 and result.output == "nothing is stored about console:zed; nothing deleted\n"


# ---- retention ---------------------------------------------------------------------------------------

def test_retention_apply_without_days_keeps_everything(logged: Store, data_dir: Path, config: Path):
    result = invoke(data_dir, "retention", "apply", config=config)
    assert result.exit_code == 0 and "every table is kept forever" in result.output
    assert count(logged, questions) == 5


def test_retention_apply_deletes_what_the_config_no_longer_keeps(store: Store, data_dir: Path, tmp_path: Path):
    now = time.time()
    for i, age in enumerate((40, 20, 1)):
        chat(store, i, ts=now - age * DAY)
    record(store, *(question(i, ts=now - age * DAY) for i, age in enumerate((40, 20, 1))))
    cfg = tmp_path / "keep.yaml"
    cfg.write_text("answers:\n  enabled: false\nretention:\n  events_days: 30\n  questions_days: 10\n")
    dry = invoke(data_dir, "retention", "apply", "--dry-run", config=cfg)
    assert dry.output.splitlines() == ["events: would delete 1 row older than 30 days",
                                       "questions: would delete 2 rows older than 10 days"]
    assert (count(store, events), count(store, questions)) == (3, 3)
    done = invoke(data_dir, "retention", "apply", "--json", config=cfg)
    assert json.loads(done.output) == {"dry_run": False, "events": 1, "questions": 2}
    assert (count(store, events), count(store, questions)) == (2, 1)


def replayed_sample(tmp_path: Path) -> tuple[CliRunner, list[str]]:
    """The sample room replayed into a data dir of its own; the runner and the global options to read it."""
    root = Path(__file__).resolve().parents[2]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"knowledge: {{path: {root / 'knowledge'}}}\nretrieval: {{embedder: hashing}}\n"
                   "answers: {hold: 0}\n", encoding="utf-8")
    base = ["--config", str(cfg), "--data-dir", str(tmp_path / "d")]
    runner = CliRunner()
    assert runner.invoke(cli, base + ["replay", "--fast", "--quiet",
                                      str(root / "knowledge/samples/room.jsonl")]).exit_code == 0
    return runner, base


def test_search_by_session_takes_the_streams_span(tmp_path):
    runner, base = replayed_sample(tmp_path)
    result = runner.invoke(cli, base + ["log", "search", "--room", "replay:smoothie-lab", "--session", "1",
                                        "--json", "--limit", "100"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    texts = json.dumps(rows, ensure_ascii=False)
    assert "how much is the course?" in texts and "冷冻水果" in texts
    for args, message in ((["--session", "1"], "add --room"),
                          (["--room", "replay:smoothie-lab", "--session", "2"], "no session 2"),
                          (["--room", "replay:smoothie-lab", "--session", "1", "--since", "2h"], "not both")):
        bad = runner.invoke(cli, base + ["log", "search", *args])
        assert bad.exit_code != 0 and message in bad.output, bad.output


def test_a_bare_room_name_names_the_one_recorded_room_and_lists_them_when_several_have_it(tmp_path):
    """Issue 18: the log says "room": "smoothie-lab", the replay records replay:smoothie-lab."""
    runner, base = replayed_sample(tmp_path)
    searched = runner.invoke(cli, base + ["log", "search", "--room", "smoothie-lab", "--session", "1", "--json"])
    assert searched.exit_code == 0 and "how much is the course?" in searched.output, searched.output
    report = runner.invoke(cli, base + ["report", "--room", "smoothie-lab", "--list"])
    assert report.exit_code == 0 and report.output.startswith("#1 2026-11-20"), report.output
    captions = tmp_path / "talk.srt"
    captions.write_text("1\n00:00:01,000 --> 00:00:02,000\nthe blender is on sale\n", encoding="utf-8")
    fed = runner.invoke(cli, base + ["feed", "captions", str(captions), "--room", "smoothie-lab", "--fast", "--json"])
    assert fed.exit_code == 0 and json.loads(fed.stdout)["room"] == "replay:smoothie-lab", fed.output
    fed = runner.invoke(cli, base + ["feed", "captions", str(captions), "--room", "console:smoothie-lab", "--fast"])
    assert fed.exit_code == 0, fed.output
    for command in (["report"], ["log", "search"], ["traffic", "plot", "--out", str(tmp_path / "t.png")],
                    ["audience", "export", "--out", str(tmp_path / "a.graphml")]):
        ambiguous = runner.invoke(cli, base + [*command, "--room", "smoothie-lab"])
        assert ambiguous.exit_code != 0, (command, ambiguous.output)
        assert ("'smoothie-lab' names 2 recorded rooms: replay:smoothie-lab, console:smoothie-lab"
                in ambiguous.output), (command, ambiguous.output)
