"""The answer pipeline run directly, as the brain thread runs it: no room, no router, no bots.

A private copy of the shipped knowledge/ folder indexed with the deterministic
hashing embedder (as tests/brain/test_answer.py does), the answerer built as the
runtime builds it, and a curated-answers file of the test's own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from brain.answers.answer_pipeline import AnswerMemory, AnswerPipeline, Asked
from brain.answers.bursts import AnswerCache, BurstTracker
from brain.answers.compose import ABSTAIN_TEXT, Answerer
from brain.answers.selection import SelectionWeights
from brain.knowledge.base import KnowledgeBase
from brain.moderation.curated import CURATED_FILE, CuratedAnswers
from brain.retrieval.embedders import make_embedder
from brain.text.questions import Question, detect_question

ROOT = Path(__file__).resolve().parents[2]


class CountingEmbedder:
    """The hashing embedder, counting what it is asked to embed; ``languages`` as given."""

    def __init__(self, languages: frozenset[str] | None = frozenset({"en", "zh"})) -> None:
        self.inner = make_embedder("hashing")
        self.languages = languages
        self.calls: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed(texts)


class ScriptedLLM:
    """An LLM client that always says the same, citing its first source."""

    name = "scripted"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.asked = 0

    async def complete(self, messages) -> str:  # noqa: ANN001
        self.asked += 1
        return self.reply


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(ROOT / "knowledge", base / "knowledge", ignore=shutil.ignore_patterns("samples"))
    kb = KnowledgeBase(base / "knowledge", base / "state", make_embedder("hashing"))
    kb.ingest()
    yield kb
    if kb.index.vector is not None:
        kb.index.vector._client.close()  # noqa: SLF001 - KnowledgeBase has no public close


def _pipeline(kb: KnowledgeBase, tmp_path: Path, *, embedder: CountingEmbedder | None = None,
              llm: ScriptedLLM | None = None, says_all: bool = True) -> AnswerPipeline:
    """Built as `bots.runtime.brain_worker.BrainWorker` builds it.

    ``says_all`` (the default here) drops the bar an answer must clear: it is
    fit for the packaged MiniLM's retrieval scores (docs/answers.md), and
    these tests are about the pipeline around it.
    """
    embedder = embedder or CountingEmbedder()
    answerer = Answerer.for_knowledge_base(kb, reader=_READER, llm=llm)  # type: ignore[arg-type]
    if says_all:
        answerer.selector.weights = SelectionWeights(threshold={"en": 0.0, "zh": 0.0})
    curated = CuratedAnswers(tmp_path / CURATED_FILE, dense_languages=embedder.languages,
                             embed=lambda texts: embedder.inner.embed([answerer.search_text(t) for t in texts]))
    return AnswerPipeline(answerer, embedder, curated)  # type: ignore[arg-type]


_READER = make_embedder("use-multilingual")


def _memory() -> AnswerMemory:
    return AnswerMemory(BurstTracker(window=30.0), AnswerCache(ttl=600.0))


def _asked(text: str, *, room: str | None = "r1", event_id: str = "e", asker: str = "viewer",
           ts: float = 0.0) -> Asked:
    question = detect_question(text)
    assert question is not None, text
    return Asked(question, room=room, event_id=event_id, asker=asker, ts=ts)


def test_a_question_is_answered_from_its_sources(kb, tmp_path):
    pipeline = _pipeline(kb, tmp_path)
    memory = _memory()
    [outcome] = pipeline.answer_batch([_asked("how much is the course?", event_id="e1")], memory)
    answer = outcome.answer
    assert outcome.source == "retrieved" and outcome.final and outcome.opened
    assert answer is not None and not answer.abstained and answer.model == "extractive"
    assert "349" in answer.text and 0.0 < answer.confidence <= 1.0 and answer.latency_ms > 0
    assert answer.citations and kb.chunk(answer.citations[0].chunk_id) is not None
    assert "source:" in answer.render()
    assert outcome.vector is not None and outcome.search_text == pipeline.answerer.search_text(
        "how much is the course?", "en")
    assert outcome.burst is not None and outcome.burst.lead_event_id == "e1"
    assert len(memory.cache) == 1  # no LLM configured: the answer is final and cached


def test_a_question_the_knowledge_cannot_answer_is_an_abstention_and_is_not_cached(kb, tmp_path):
    pipeline = _pipeline(kb, tmp_path, says_all=False)
    memory = _memory()
    [outcome] = pipeline.answer_batch([_asked("who won the football match yesterday?")], memory)
    assert outcome.source == "retrieved" and outcome.answer is not None and outcome.answer.abstained
    assert outcome.answer.render() == ABSTAIN_TEXT["en"] and outcome.answer.citations == ()
    assert len(memory.cache) == 0
    [again] = pipeline.answer_batch([_asked("who won the football match yesterday?", room="r2")], memory)
    assert again.source == "retrieved" and again.answer.abstained


def test_a_curated_answer_wins_over_retrieval(kb, tmp_path):
    pipeline = _pipeline(kb, tmp_path)
    assert pipeline.curated is not None
    entry = pipeline.curated.add(["How much is the course?"], "The course is 199 USD this week.",
                                 approved_by="console:mo", approved_by_name="mo")
    [outcome] = pipeline.answer_batch([_asked("how much is the course?")], _memory())
    answer = outcome.answer
    assert outcome.curated and outcome.hits == []
    assert answer.text == "The course is 199 USD this week." and answer.model == "curated"
    assert answer.citations[0].chunk_id == f"curated:{entry.id}" and answer.citations[0].source == CURATED_FILE
    [zh] = pipeline.answer_batch([_asked("包邮吗？")], _memory())
    assert zh.source == "retrieved" and "99 元" in zh.answer.text  # only the curated question is taken


def test_a_repeat_is_served_from_the_cache(kb, tmp_path):
    embedder = CountingEmbedder()
    pipeline = _pipeline(kb, tmp_path, embedder=embedder)
    memory = _memory()
    [first] = pipeline.answer_batch([_asked("can I use frozen fruit?", room="r1", event_id="e1")], memory)
    # Another room (no burst to join there): the same question is answered from the cache, not retrieved.
    [second] = pipeline.answer_batch([_asked("can I use frozen fruit?", room="r2", event_id="e2")], memory)
    assert first.source == "retrieved" and second.cached and second.hits == []
    assert second.answer.text == first.answer.text and second.answer.citations == first.answer.citations
    assert (second.answer.model, second.answer.latency_ms) == ("cache", 0.0)
    assert memory.cache.stats()["hits"] == 1
    assert embedder.calls == [[first.search_text]]  # the repeat's vector came from the memory's LRU
    # Answered alone (/ask): no burst, no vector, the cache matched by its words.
    [alone] = pipeline.answer_batch([Asked(Question("can I use frozen fruit?", "en", "command"))], memory)
    assert alone.cached and alone.burst is None and alone.vector is None and len(embedder.calls) == 1


def test_a_batch_merges_repeats_into_the_burst_its_first_question_opened(kb, tmp_path):
    embedder = CountingEmbedder()
    pipeline = _pipeline(kb, tmp_path, embedder=embedder)
    memory = _memory()
    batch = [_asked("包邮吗？", event_id="e1", asker="tom", ts=1.0),
             _asked("主播包邮吗", event_id="e2", asker="ana", ts=2.0),
             _asked("how much is the course?", event_id="e3", asker="ravi", ts=3.0)]
    lead, merged, other = pipeline.answer_batch(batch, memory)
    assert lead.opened and not lead.merged and "99 元" in lead.answer.text
    assert merged.merged and merged.answer is None and merged.burst is lead.burst
    assert other.opened and other.burst is not lead.burst
    assert lead.burst.askers == ["tom", "ana"] and lead.burst.event_ids == ["e1", "e2"]
    assert len(embedder.calls) == 1  # one embedding call for the batch's distinct texts
    # Later, a repeat that shares its words joins on the loop's side, before any brain call.
    later = _asked("包邮吗？", event_id="e4", asker="mia", ts=10.0)
    assert memory.join_by_words(later) is lead.burst and lead.burst.size == 3


def test_languages_the_embedder_cannot_read_get_no_vector(kb, tmp_path):
    embedder = CountingEmbedder(languages=frozenset({"en"}))
    pipeline = _pipeline(kb, tmp_path, embedder=embedder)
    zh, en = pipeline.answer_batch([_asked("多久发货？"), _asked("do you ship to Singapore?", ts=1.0)], _memory())
    assert zh.vector is None and en.vector is not None
    assert embedder.calls == [[en.search_text]]
    assert zh.opened and en.opened and zh.answer is not None and en.answer is not None


async def test_with_an_llm_the_answer_is_final_and_cached_only_after_finish(kb, tmp_path):
    llm = ScriptedLLM("Yes, frozen fruit works well in the blender [1].")
    pipeline = _pipeline(kb, tmp_path, llm=llm)
    memory = _memory()
    [outcome] = pipeline.answer_batch([_asked("can I use frozen fruit?")], memory)
    assert not outcome.final and outcome.llm and outcome.answer.model == "extractive"
    assert len(memory.cache) == 0 and llm.asked == 0  # the model is asked on the event loop, not here
    answer = await pipeline.finish(outcome, memory)
    assert llm.asked == 1 and answer.model == "scripted" and answer.text.startswith("Yes, frozen fruit")
    assert outcome.final and outcome.answer is answer and len(memory.cache) == 1
    [repeat] = pipeline.answer_batch([_asked("can I use frozen fruit?", room="r2")], memory)
    assert repeat.cached and repeat.final and repeat.answer.text == answer.text
    assert await pipeline.finish(repeat, memory) is repeat.answer and llm.asked == 1


def test_the_pipeline_imports_nothing_from_bots_or_adapters():
    code = ("import sys, brain.answers.answer_pipeline; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('bots', 'adapters') "
            "and m not in ('adapters', 'adapters.model')); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
