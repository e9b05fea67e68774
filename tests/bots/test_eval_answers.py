"""``liveroom eval answers DIR`` and the harness behind it: consistent figures, clear errors, safe file names.

A tiny synthetic answer set (English and Chinese docs, answerable and
unanswerable queries) and the hashing embedder: no model, no network, no /work/shared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bots.cli.main import cli
from bots.runtime.answer_eval import FIGURES, CorpusDoc, evaluate_shop, read_shop_questions, write_knowledge_folder
from bots.runtime.config import Config, RetrievalSection

DOCS = [
    {"_id": "ship", "title": "Shipping", "text": "We ship to Canada and Mexico.\nDelivery takes 5 to 7 business days."},
    {"_id": "wall", "title": "长城", "text": "长城是中国古代的军事防御工程。\n长城全长约21196千米。"},
    {"_id": "blend/er", "title": "", "text": "The blender has a 1200 watt motor and a glass jar."},
]
QUERIES = [
    {"_id": "q1", "text": "How long does delivery take?", "answers": ["5 to 7 business days"]},
    {"_id": "q2", "text": "长城全长多少千米？", "answers": ["约21196千米"]},
    {"_id": "q3", "text": "What is the blender motor power?", "answers": ["1200 watt"]},
    {"_id": "q4", "text": "Do you sell gift cards for the bakery?", "answers": []},
]


def write_set(folder: Path, queries: list[dict[str, Any]] = QUERIES) -> Path:
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS), "utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries), "utf-8")
    return folder


def invoke(tmp: Path, *args: str) -> Result:
    config = tmp / "config.yaml"
    config.write_text("retrieval:\n  embedder: hashing\n")
    return CliRunner().invoke(cli, ["--config", str(config), "--data-dir", str(tmp / "data"), "eval", "answers", *args],
                              catch_exceptions=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One --json --details run of the whole set, shared by the tests that read its figures."""
    tmp = tmp_path_factory.mktemp("eval-answers")
    details = tmp / "details.jsonl"
    result = invoke(tmp, str(write_set(tmp / "set")), "--json", "--details", str(details))
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in details.read_text("utf-8").splitlines()]
    return json.loads(result.stdout), rows


def test_json_has_the_figures_and_they_add_up(run) -> None:
    figures, _ = run
    assert list(figures) == [k for k in FIGURES if k != "details"]
    assert figures["answerable"] == 3 and figures["unanswerable"] == 1 and figures["docs"] == len(DOCS)
    assert figures["answerable"] + figures["unanswerable"] == figures["questions"] == sum(figures["by_reason"].values())
    for share in ("answer_hit", "answer_f1", "passed_answerable", "false_answer_rate"):
        assert 0.0 <= figures[share] <= 1.0
    assert figures["answer_hit"] + figures["passed_answerable"] <= 1.0  # a passed question is never a hit
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p95_ms"]
    assert 0 < figures["index_seconds"] <= figures["seconds"]


def test_an_answer_plainly_in_a_doc_is_a_hit_and_details_say_why(run) -> None:
    figures, rows = run
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4"]
    by_id = {r["id"]: r for r in rows}
    assert by_id["q1"]["hit"] and "5 to 7 business days" in by_id["q1"]["answer"] and by_id["q1"]["f1"] > 0
    assert by_id["q2"]["hit"]  # Chinese, matched by its words alone
    assert set(by_id["q4"]) == {"id", "question", "answer", "gold", "hit", "f1", "reason", "ms"}
    assert by_id["q4"]["gold"] == [] and not by_id["q4"]["hit"] and by_id["q4"]["f1"] == 0.0
    assert figures["answer_hit"] == round(sum(r["hit"] for r in rows if r["gold"]) / 3, 4)
    assert figures["false_answer_rate"] == (0.0 if by_id["q4"]["answer"] is None else 1.0)


def test_table_and_limit(tmp_path) -> None:
    result = invoke(tmp_path, str(write_set(tmp_path / "set")), "--limit", "2")
    assert result.exit_code == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.strip().splitlines())
    assert list(lines) == [k for k in FIGURES if k != "details"]
    assert lines["questions"] == "2" and lines["unanswerable"] == "0" and lines["false_answer_rate"] == "None"


@pytest.mark.parametrize(("make", "named"), [
    ("missing-queries", "missing queries.jsonl"),
    ("not-a-folder", "is not a directory"),
    ("bad-json", "queries.jsonl line 2: not valid JSON"),
    ("no-answers", "queries.jsonl line 3"),
])
def test_bad_folder_exits_2_naming_the_problem(tmp_path, make, named) -> None:
    target = tmp_path / "set"
    if make == "not-a-folder":
        target.write_text("no")
    elif make == "missing-queries":
        write_set(target)
        (target / "queries.jsonl").unlink()
    else:
        write_set(target)
        lines = (target / "queries.jsonl").read_text("utf-8").splitlines()
        if make == "bad-json":
            lines[1] = '{"_id": "q2", "text": '
        else:
            lines[2] = json.dumps({"_id": "q3", "text": "no gold field"})
        (target / "queries.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    result = invoke(tmp_path, str(target), "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert named in result.stderr and str(target) in result.stderr


def test_help_says_what_each_figure_means() -> None:
    result = CliRunner().invoke(cli, ["eval", "answers", "--help"])
    assert result.exit_code == 0
    for figure in FIGURES[:-1]:
        assert figure in result.output


def test_knowledge_files_have_safe_unique_names_headings_and_paragraphs(tmp_path) -> None:
    corpus = [CorpusDoc("a/b", "Title  one", "first\nsecond"), CorpusDoc("a_b", "", "x"),
              CorpusDoc("../up", "", "y"), CorpusDoc(".hidden", "", "z"), CorpusDoc("plain-1", "", "w")]
    written = write_knowledge_folder(corpus, tmp_path / "kb")
    assert sorted(written.values()) == sorted(d.id for d in corpus)  # one file each, none overwritten
    assert all("/" not in name and not name.startswith(".") and name.endswith(".md") for name in written)
    assert "plain-1.md" in written and "a_b.md" in written
    name = next(n for n, doc_id in written.items() if doc_id == "a/b")
    assert (tmp_path / "kb" / name).read_text("utf-8") == "# Title one\n\nfirst\n\nsecond\n"
    assert sorted(p.name for p in (tmp_path / "kb").iterdir()) == sorted(written)


def test_shop_harness_scores_a_knowledge_folder_copy(tmp_path) -> None:
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "shipping.md").write_text("# Shipping\n\nOrders are dispatched within 48 hours of payment.\n", "utf-8")
    questions = tmp_path / "shop.yaml"
    questions.write_text('- q: "how fast are orders dispatched after payment?"\n  facts: ["48 hours"]\n'
                         '- q: "do you have a discount for teachers?"\n  facts: []\n  note: not in the files\n')
    result = evaluate_shop(questions, Config(retrieval=RetrievalSection(embedder="hashing")), knowledge, tmp_path)
    assert result["answerable"] == 1 and result["unanswerable"] == 1
    assert result["answer_hit"] == 1.0 and result["details"][0]["hit"]
    assert sorted(p.name for p in knowledge.iterdir()) == ["shipping.md"]  # the folder itself is left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["knowledge", "shop.yaml"]  # the copy is cleaned up


@pytest.mark.parametrize("text", ["", "- q: 1\n  facts: []\n", "- q: hi\n", "- q: hi\n  facts: [1]\n", "[oops"])
def test_shop_questions_file_problems_are_named(tmp_path, text) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="shop.yaml"):
        read_shop_questions(path)
