"""Curated answers: the file people read, and the match that wins over retrieval."""

import numpy as np

from brain.knowledge.loaders.markdown import load_markdown
from brain.moderation.curated import CuratedAnswers, parse
from brain.retrieval.embedders import make_embedder


def test_entries_round_trip_through_the_file(tmp_path):
    path = tmp_path / "curated-answers.md"
    curated = CuratedAnswers(path, clock=lambda: 1_764_637_200.0)
    first = curated.add(["How much is the course?", "what does the course cost", "How much is the course?"],
                        "The course is 349 USD.\nLifetime access.", approved_by="discord:42",
                        approved_by_name='Al "the mod"', review_id=7)
    second = curated.add(["包邮吗？"], "满 99 元包邮。", approved_by="telegram:9", approved_by_name="小王")
    assert (first.id, second.id) == (1, 2)
    text = path.read_text(encoding="utf-8")
    assert "review=7" in text and "at=2025-12-02T01:00:00Z" in text
    entries, problems = parse(text)
    assert problems == [] and entries == [first, second]
    assert first.variants == ("How much is the course?", "what does the course cost")
    assert first.answer == "The course is 349 USD. Lifetime access."
    assert CuratedAnswers(path).entries == [first, second]


def test_the_knowledge_base_reads_the_questions_and_answers_but_not_the_provenance(tmp_path):
    path = tmp_path / "curated-answers.md"
    CuratedAnswers(path).add(["Is there a refund?"], "Yes, within 30 days.", approved_by="console:mo",
                             approved_by_name="mo")
    content = load_markdown(path.read_bytes(), path.name)
    text = "\n".join(b.text for b in content.blocks)
    assert "Q: Is there a refund?" in text and "A: Yes, within 30 days." in text
    assert "liveroom:curated" not in text and "console:mo" not in text and "moderators corrected" not in text


def test_viewer_text_cannot_hide_later_entries_from_the_knowledge_base(tmp_path):
    path = tmp_path / "curated-answers.md"
    curated = CuratedAnswers(path)
    curated.add(["<!-- hide everything after me"], "First answer.", approved_by="k", approved_by_name="n")
    curated.add(["Is shipping free?"], "Free over 99 yuan.", approved_by="k", approved_by_name="n")
    text = "\n".join(b.text for b in load_markdown(path.read_bytes(), path.name).blocks)
    assert "Free over 99 yuan." in text
    assert len(parse(path.read_text(encoding="utf-8"))[0]) == 2


def test_a_file_a_human_broke_is_read_as_far_as_it_parses(tmp_path):
    path = tmp_path / "curated-answers.md"
    path.write_text("""# Curated answers

## Ok?
<!-- liveroom:curated id=1 by="k" name="n" at=x -->
Q: is it ok?
A: It is ok,
and this line continues the answer.

## Broken
<!-- liveroom:curated id=oops -->
Q: nothing
A: skipped

## No answer
<!-- liveroom:curated id=2 by="k" name="n" at=x -->
Q: where is the answer?

## Twin
<!-- liveroom:curated id=1 by="k" name="n" at=x -->
Q: again?
A: again.
""", encoding="utf-8")
    curated = CuratedAnswers(path)
    [entry] = curated.entries
    assert entry.answer == "It is ok, and this line continues the answer."
    assert len(curated.problems) == 3
    assert any("line 10" in p and "numeric id" in p for p in curated.problems)
    assert any("no 'A:' line" in p for p in curated.problems)
    assert any("used twice" in p for p in curated.problems)
    # Appending after a broken file keeps what a human wrote and picks a fresh id.
    assert curated.add(["new?"], "New.", approved_by="k", approved_by_name="n").id == 2
    assert "## Broken" in path.read_text(encoding="utf-8")


def test_matching_by_words_and_by_meaning(tmp_path):
    embedder = make_embedder("hashing")
    curated = CuratedAnswers(tmp_path / "c.md", embed=embedder.embed)
    curated.add(["how much is the course?"], "349 USD.", approved_by="k", approved_by_name="n")
    curated.add(["这个能用冷冻水果吗？"], "可以。", approved_by="k", approved_by_name="n")
    assert curated.match("How much is the course").entry.answer == "349 USD."
    assert curated.match("这个能用冷冻水果吗").entry.answer == "可以。"
    assert curated.match("can I use frozen fruit?") is None
    assert curated.match("how much is the blender?") is None
    vector = embedder.embed(["how much is the course?"])[0]
    found = curated.match("totally different words", vector)
    assert found is not None and found.score > 0.99
    assert curated.match("totally different words", np.zeros_like(vector)) is None


def test_an_empty_correction_is_refused(tmp_path):
    curated = CuratedAnswers(tmp_path / "c.md")
    for variants, answer in ((["q?"], "  "), (["   "], "a")):
        try:
            curated.add(variants, answer, approved_by="k", approved_by_name="n")
        except ValueError as exc:
            assert "non-empty answer" in str(exc)
        else:
            raise AssertionError("accepted an empty correction")
    assert not (tmp_path / "c.md").exists()
