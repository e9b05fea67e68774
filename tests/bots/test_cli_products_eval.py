"""``liveroom eval products DIR``: figures, JSON keys, and a clear exit 2 on a bad folder."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.cli.main import cli


@pytest.fixture(autouse=True)
def hashing_config(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("retrieval:\n  embedder: hashing\n")
    monkeypatch.chdir(tmp_path)
    return path


def invoke(*args: str, data_dir: Path):
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], catch_exceptions=False)


def write_set(folder: Path) -> Path:
    folder.mkdir()
    docs = {"p1": ("AA Alkaline Batteries", ""), "p2": ("Portable Bluetooth Speaker", "10 W, 12 h"),
            "p3": ("Laptop Sleeve 15 inch", ""), "p4": ("FA766AA", "")}
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "title": t, "text": x}) + "\n"
                                                for k, (t, x) in docs.items()))
    queries = {"q1": "aa battery", "q2": "bluetooth speaker", "q3": "tripod"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t3\nq2\tp2\t3\nq2\tp3\t0\nq3\tp3\t0\n")
    return folder


def test_eval_products_json_has_exactly_the_figures(tmp_path):
    result = invoke("eval", "products", str(write_set(tmp_path / "set")), "--json", data_dir=tmp_path)
    assert result.exit_code == 0
    figures = json.loads(result.stdout)
    assert set(figures) == {"ndcg@10", "p@5", "mrr@10", "queries", "docs", "seconds"}
    assert figures["queries"] == 2 and figures["docs"] == 4  # q3 has no rating > 0
    assert figures["ndcg@10"] == 1.0 and figures["mrr@10"] == 1.0 and figures["p@5"] == pytest.approx(0.2)


def test_eval_products_prints_a_table_without_json(tmp_path):
    result = invoke("eval", "products", str(write_set(tmp_path / "set")), data_dir=tmp_path)
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.strip().splitlines()] == [
        "ndcg@10", "p@5", "mrr@10", "queries", "docs", "seconds"]


@pytest.mark.parametrize("make", ["missing", "empty", "file", "bad-qrels"])
def test_eval_products_bad_folder_is_a_clear_error_with_exit_2(tmp_path, make):
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("not a folder")
    elif make == "bad-qrels":
        write_set(target)
        (target / "qrels.tsv").write_text("q\td\ts\n")
    result = invoke("eval", "products", str(target), "--json", data_dir=tmp_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert str(target) in result.stderr
    if make == "empty":
        assert "missing corpus.jsonl, queries.jsonl, qrels.tsv" in result.stderr


def test_eval_products_has_help():
    result = CliRunner().invoke(cli, ["eval", "products", "--help"])
    assert result.exit_code == 0 and "ndcg@10" in result.output and "BEIR" in result.output
