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
import sqlalchemy as sa
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import kill_when_stored, write_log  # noqa: E402

from bots.cli.main import cli
from bots.runtime.package_guard import PackageConflict, conflicts, ensure_no_conflicts

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




@pytest.mark.parametrize("command", [[], ["run"], ["replay"], ["check"], ["ingest"], ["ask"], ["eval"],
                                     ["eval", "retrieval"]])
def test_every_command_has_help(command, tmp_path):
    result = invoke(*command, "--help", data_dir=tmp_path)
    assert result.exit_code == 0 and "Usage:" in result.output


def test_version(tmp_path):
    result = invoke("--version", data_dir=tmp_path)
    assert result.exit_code == 0 and result.output.startswith("liveroom 0.")


def test_check_reports_a_healthy_setup(tmp_path):
    result = invoke("check", data_dir=tmp_path / "d")
    assert result.exit_code == 0, result.output
    from brain.store.schema import MIGRATIONS
    assert "config" in result.output and f"schema version {len(MIGRATIONS)}" in result.output
    assert "adapters: console" in result.output


def test_check_on_postgresql_and_a_chroma_server(tmp_path, postgres_cluster, chroma_server):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database:\n  url: {postgres_cluster.new_database()}\nknowledge:\n  path: {ROOT / 'knowledge'}\n"
                   f"retrieval:\n  chroma_url: {chroma_server.url}\n")
    result = invoke("--config", str(cfg), "check", data_dir=tmp_path / "d")
    assert result.exit_code == 0, result.output
    assert "ok  database postgresql+psycopg://" in result.output
    assert f"ok  vectors: Chroma server {chroma_server.url}, collection liveroom-chunks" in result.output


def test_check_names_the_redis_of_a_distributed_deployment(tmp_path, redis_server):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"distributed:\n  redis_url: {redis_server.url}\nknowledge:\n  path: {ROOT / 'knowledge'}\n")
    result = invoke("--config", str(cfg), "check", data_dir=tmp_path / "d")
    assert result.exit_code == 0, result.output
    assert f"ok  redis 127.0.0.1:{redis_server.port}/0: rooms over workers in 16 partitions" in result.output


def test_a_worker_older_than_the_database_says_both_versions(tmp_path, redis_server):
    from brain.store import schema
    from brain.store.event_store import Store

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    Store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a newer liveroom migrated the shared database
        conn.execute(schema.schema_version.insert().values(version=len(schema.MIGRATIONS) + 1,
                                                           description="newer", applied_at=0))
    engine.dispose()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"database:\n  url: {url}\ndistributed:\n  redis_url: {redis_server.url}\n")
    result = invoke("--config", str(cfg), "run", "--role", "worker", data_dir=tmp_path / "d")
    assert result.exit_code == 1
    assert (f"database.url: database schema is version {len(schema.MIGRATIONS) + 1}, this liveroom knows up to "
            f"{len(schema.MIGRATIONS)}") in result.output


def test_a_role_without_redis_is_refused_with_the_key(tmp_path):
    result = invoke("run", "--role", "worker", data_dir=tmp_path / "d")
    assert result.exit_code == 1 and "--role worker needs distributed.redis_url" in result.output


@pytest.mark.parametrize("section, wrong, said", [
    ("database:\n  url: postgresql+psycopg://nobody@127.0.0.1:9/x", "database.url", "Connection refused"),
    ("retrieval:\n  chroma_url: http://127.0.0.1:9", "retrieval.chroma_url", "cannot be reached"),
    ("distributed:\n  redis_url: redis://127.0.0.1:9/0", "distributed.redis_url", "cannot be reached"),
])
def test_check_says_which_server_is_wrong_and_why(tmp_path, section, wrong, said):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"{section}\nknowledge:\n  path: {ROOT / 'knowledge'}\n")
    result = invoke("--config", str(cfg), "check", data_dir=tmp_path / "d")
    assert result.exit_code == 1 and wrong in result.output and said in result.output, result.output


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
    # The log only has to outlast the kill (60,000 rows leave ~10 s of replay past it; 400,000 took 3 s to
    # write). 12,000 rows is past SQLite's first WAL checkpoint (~9,000 rows here), so what was committed
    # before the kill lies both in the database file and in the WAL, as it did at 20,000.
    log = write_log(tmp_path / "big.jsonl", 60_000)
    data = tmp_path / "d"
    # The store's durability is under test: no model to load and no audience worker competing with
    # the store's writer thread for the GIL (with both, commits lag the replay by thousands of rows).
    (tmp_path / "config.yaml").write_text("answers: {enabled: false}\nproducts: {enabled: false}\n"
                                          "audience: {enabled: false}\n")
    proc = liveroom("replay", str(log), "--fast", "--json", data_dir=data,
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = data / "liveroom.db"
    seen = kill_when_stored(proc, db, 12_000)
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


def test_ingest_reports_files_and_skips_nothing_the_second_time(tmp_path):
    first = invoke("ingest", data_dir=tmp_path / "d")
    assert first.exit_code == 0, first.output
    assert "5 file(s) loaded (41 chunks)" in first.stdout and "41 embedded" in first.stdout
    again = invoke("ingest", data_dir=tmp_path / "d")
    assert "0 file(s) loaded" in again.stdout and "5 unchanged" in again.stdout and "0 embedded" in again.stdout


def test_ingest_skips_bad_files_with_reasons(tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "good.md").write_text("# Hours\n\nThe shop opens at 9 am every weekday.\n")
    (folder / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (folder / "empty.md").write_text("")
    result = invoke("ingest", str(folder), data_dir=tmp_path / "d")
    assert result.exit_code == 0
    assert "1 file(s) loaded" in result.stdout and "2 skipped" in result.stdout
    assert "blob.txt" in result.stdout and "empty.md" in result.stdout


def test_ingest_of_a_missing_folder(tmp_path):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "ingest", str(tmp_path / "none")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_ask_prints_the_answer_and_its_source(tmp_path):
    result = invoke("ask", "主播，包邮吗？", "--json", data_dir=tmp_path / "d")
    answer = json.loads(result.stdout)
    assert answer["abstained"] is False and "99 元" in answer["answer"]
    assert answer["sources"][0]["source"] == "faq_zh.md" and answer["lang"] == "zh"
    text = invoke("ask", "who won the football match yesterday?", data_dir=tmp_path / "d").stdout
    assert "I'll pass it to the host" in text and "abstained" in text


def write_beir(folder: Path) -> Path:
    folder.mkdir()
    docs = {"d1": "Frozen fruit can be blended directly with the Pro model.",
            "d2": "Orders over 99 yuan ship free within mainland China.",
            "d3": "The course has thirty video lessons and two live sessions a week."}
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n"
                                                for k, v in docs.items()))
    queries = {"q1": "can I blend frozen fruit", "q2": "is shipping free", "q3": "how many lessons"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n"
                                                 for k, v in queries.items()))
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    return folder


@pytest.mark.parametrize("retriever", ["bm25", "dense", "hybrid"])
def test_eval_retrieval_prints_exactly_the_figures(tmp_path, retriever):
    folder = write_beir(tmp_path / "set")
    result = invoke("eval", "retrieval", str(folder), "--retriever", retriever, "--json", data_dir=tmp_path)
    figures = json.loads(result.stdout)
    assert set(figures) == {"recall@1", "recall@5", "mrr@10", "ndcg@10", "queries", "docs", "seconds"}
    assert figures["queries"] == 3 and figures["docs"] == 3
    if retriever != "dense":
        assert figures["recall@1"] == 1.0


def test_eval_retrieval_rejects_a_folder_that_is_not_a_set(tmp_path):
    result = invoke("eval", "retrieval", str(tmp_path), data_dir=tmp_path)
    assert result.exit_code == 1 and "not a BEIR-layout set: missing corpus.jsonl" in result.output
