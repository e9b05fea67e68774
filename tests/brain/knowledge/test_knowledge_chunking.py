"""Chunking: heading paths, FAQ pairs, sentence-bounded sizes, Chinese boundaries, merging."""

from __future__ import annotations

import re

import pytest

from brain.knowledge import ChunkingOptions, chunk_document
from brain.knowledge.loaders.markdown import parse_markdown
from brain.knowledge.loaders.plaintext import parse_text
from brain.knowledge.sentences import split_oversized, split_sentences

OPTS = ChunkingOptions(target_chars=200, max_chars=300, min_chars=60, cjk_weight=1.0)
_END = re.compile(r"[.?!。！？；][\"'”’」』）)]*$")


def md_chunks(src: str, opts: ChunkingOptions = OPTS):
    return chunk_document(parse_markdown(src), opts)


def english_sentences(n: int) -> list[str]:
    return [f"Sentence number {i} talks about blending fruit with the portable blender." for i in range(n)]


def test_heading_path_is_the_title():
    drafts = md_chunks("# Course\n\nIntro to the course.\n\n## Pricing\n\nIt costs 349 元.\n\n"
                       "### Early bird\n\nIt costs 299 元 before February.\n\n## Refunds\n\nWithin 14 days.\n")
    assert [(d.title, d.text) for d in drafts] == [
        ("Course", "Intro to the course."),
        ("Course > Pricing", "It costs 349 元."),
        ("Course > Pricing > Early bird", "It costs 299 元 before February."),
        ("Course > Refunds", "Within 14 days."),
    ]
    assert all(d.kind == "doc" and d.metadata["kind"] == "doc" for d in drafts)


def test_long_section_is_split_between_sentences_within_bounds():
    paragraphs = [" ".join(english_sentences(7)), " ".join(english_sentences(5)), " ".join(english_sentences(9))]
    drafts = md_chunks("# Long\n\n" + "\n\n".join(paragraphs))
    assert len(drafts) > 3
    joined = " ".join(d.text.replace("\n\n", " ") for d in drafts)
    assert joined == " ".join(paragraphs)  # nothing lost, nothing duplicated
    for d in drafts:
        assert len(d.text) <= OPTS.max_chars
        assert _END.search(d.text), f"mid-sentence cut: {d.text[-40:]!r}"
        assert d.text.split()[0] == "Sentence"  # each chunk starts at a sentence start


def test_chinese_text_splits_at_chinese_punctuation():
    sentence = "这款便携搅拌机可以打冷冻水果，先加液体再加水果，效果最好。"
    text = "".join(sentence.replace("这款", f"第{i}款") for i in range(30)) + "最后一句没有句号"
    drafts = chunk_document(parse_text(text), ChunkingOptions(target_chars=120, max_chars=160, min_chars=40))
    assert len(drafts) > 3
    assert "".join(d.text for d in drafts) == text
    for d in drafts[:-1]:
        assert d.text.endswith("。")
        assert d.lang == "zh"
        assert ChunkingOptions(target_chars=120, max_chars=160, min_chars=40).size(d.text) <= 160


def test_cjk_weight_makes_chinese_chunks_shorter():
    text = "".join(f"第{i}句话讲的是搅拌机的用法。" for i in range(80))
    heavy = chunk_document(parse_text(text), ChunkingOptions(target_chars=200, max_chars=300, min_chars=50, cjk_weight=2.0))
    light = chunk_document(parse_text(text), ChunkingOptions(target_chars=200, max_chars=300, min_chars=50, cjk_weight=1.0))
    assert len(heavy) > len(light)
    assert max(len(d.text) for d in heavy) <= 150


def test_qa_pairs_become_faq_chunks():
    drafts = md_chunks(
        "# Help\n\nSome intro text.\n\nQ: Is shipping free?\nA: Yes, on orders over 99 元.\n\n"
        "Q: Can I pay later?\nA: No.\nWe only take prepayment.\n\n"
        "问：能用冷冻水果吗？\n答：可以，先加液体。\n"
    )
    assert [(d.kind, d.title) for d in drafts] == [
        ("doc", "Help"), ("faq", "Is shipping free?"), ("faq", "Can I pay later?"), ("faq", "能用冷冻水果吗？"),
    ]
    assert drafts[1].text == "Q: Is shipping free?\nA: Yes, on orders over 99 元."
    assert drafts[2].text == "Q: Can I pay later?\nA: No. We only take prepayment."  # soft wrap joined
    assert drafts[3].text == "问：能用冷冻水果吗？\n答：可以，先加液体。"
    assert drafts[3].lang == "zh" and drafts[1].lang == "en"
    assert drafts[1].metadata == {"kind": "faq", "section": "Help"}


def test_question_headings_become_faq_chunks():
    drafts = md_chunks("# Shop\n\n## FAQ\n\n### Do you ship abroad?\n\nOnly to Singapore and Malaysia.\n\n"
                       "It costs 60 元.\n\n### 包邮吗？\n\n满 99 元包邮。\n\n## Contact\n\nMail us.\n")
    faqs = [d for d in drafts if d.kind == "faq"]
    assert [(d.title, d.metadata["section"]) for d in faqs] == [
        ("Do you ship abroad?", "Shop > FAQ"), ("包邮吗？", "Shop > FAQ"),
    ]
    assert faqs[0].text == "Q: Do you ship abroad?\nA: Only to Singapore and Malaysia.\n\nIt costs 60 元."
    assert faqs[1].text == "问：包邮吗？\n答：满 99 元包邮。"
    assert drafts[-1].kind == "doc" and drafts[-1].title == "Shop > Contact"


def test_inline_answer_wrapped_question_and_unanswered_question():
    drafts = md_chunks("Q: Is it free? A: No, 349 元.\n\nQ: Can I use\nfrozen fruit?\nA: Yes.\n\nQ: Lonely question?\n")
    assert [(d.kind, d.text) for d in drafts] == [
        ("faq", "Q: Is it free?\nA: No, 349 元."),
        ("faq", "Q: Can I use frozen fruit?\nA: Yes."),
        ("doc", "Lonely question?"),
    ]


def test_break_ends_an_answer():
    drafts = md_chunks("## FAQ\n\nQ: One?\nA: Yes.\n\n---\n\nPlain text after the rule.\n")
    assert [(d.kind, d.text) for d in drafts] == [("faq", "Q: One?\nA: Yes."), ("doc", "Plain text after the rule.")]


def test_long_faq_answer_is_split_and_repeats_question():
    answer = " ".join(english_sentences(12))
    drafts = md_chunks(f"### How long does delivery take?\n\n{answer}\n")
    assert len(drafts) > 1
    for d in drafts:
        assert d.kind == "faq" and d.title == "How long does delivery take?"
        assert d.text.startswith("Q: How long does delivery take?\nA: Sentence")
        assert len(d.text) <= OPTS.max_chars and _END.search(d.text)


def test_tiny_fragments_are_merged():
    drafts = md_chunks("# T\n\n" + " ".join(english_sentences(3)) + "\n\nThanks!\n")
    assert len(drafts) == 1 and drafts[0].text.endswith("Thanks!")
    # the tail is tiny and cannot stay alone
    big = " ".join(english_sentences(6))
    drafts = md_chunks(f"# T\n\n{big}\n\nOk.\n")
    assert all(len(d.text) >= OPTS.min_chars for d in drafts)


def test_oversized_sentence_is_cut_at_clauses_only_when_needed():
    run_on = ", ".join(f"clause {i} about blenders" for i in range(40)) + "."
    drafts = md_chunks(run_on)
    assert all(len(d.text) <= OPTS.max_chars for d in drafts)
    assert all(d.text.endswith((",", ".")) for d in drafts)
    assert split_oversized("x" * 1000, 300) == ["x" * 300, "x" * 300, "x" * 300, "x" * 100]


def test_sentence_splitter_rules():
    assert split_sentences("Price is 29.90 USD. See e.g. the FAQ! Mr. Chen said ok? Yes.") == [
        "Price is 29.90 USD.", "See e.g. the FAQ!", "Mr. Chen said ok?", "Yes."]
    assert split_sentences("能用吗？可以！“真的吗？”是的；好。no punctuation") == [
        "能用吗？", "可以！", "“真的吗？”", "是的；", "好。", "no punctuation"]
    assert split_sentences("Visit shop.example.com now.") == ["Visit shop.example.com now."]


def test_lang_detection_per_chunk():
    drafts = md_chunks("## A\n\nThis part is English text about blenders.\n\n## B\n\n这一部分是中文，讲的是搅拌机。\n")
    assert [d.lang for d in drafts] == ["en", "zh"]


def test_options_validation():
    with pytest.raises(ValueError):
        ChunkingOptions(target_chars=100, max_chars=50)
    with pytest.raises(ValueError):
        ChunkingOptions(min_chars=0)


def test_a_table_cut_between_chunks_repeats_its_header_row_and_keeps_rows_whole():
    """Issue 18: without its header, the rest of a long table answered with cells run together."""
    rows = "\n".join(f"| Region {i}, orders of {i * 10} 元 or more | Free shipping | {i}-{i + 2} days (SF Express) |"
                     for i in range(1, 16))
    drafts = md_chunks("# Shipping\n\n| Destination | Cost | Delivery time |\n|---|---|---|\n" + rows + "\n")
    assert len(drafts) > 1
    for draft in drafts:
        lines = draft.text.splitlines()
        assert lines[0] == "Destination | Cost | Delivery time"
        assert all(line.count(" | ") == 2 for line in lines)
    body = [line for d in drafts for line in d.text.splitlines()[1:]]
    assert body == [line.strip("| ").replace(" |  ", " | ") for line in rows.splitlines()]
