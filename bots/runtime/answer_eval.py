"""How well the bot answers: real questions through the bot's own answer path, scored against gold answers.

Two callers judge answers the same way, through one core (`evaluate_folder`):

- ``liveroom eval answers DIR`` (`evaluate_answers`): a public QA set in the
  BEIR layout plus gold answers (/work/shared/data/README.md), its corpus written
  out as a knowledge folder the bot's normal ingest reads;
- the sample-shop questions (`evaluate_shop`): the shipped ``knowledge/`` folder
  and ``tests/data/shop_questions.yaml``, each question with the facts its answer
  must carry.

Why through a `BrainWorker` and not an `Answerer` built by hand: the figures
must be those of the bot a host runs (same ingest, chunking, embedder, curated
answers, thresholds and LLM as configured), or they measure something else.
Each question is asked alone, as ``/ask`` asks it, with a fresh answer memory:
one question's cached answer must not stand in for another's.

Scoring is `brain.answers.answer_metrics` (`carries`, `answer_f1`). No click
here: the CLI (`bots.cli.evaluate`) and the bench (``bench/shop_answers.py``)
only present what these functions return.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from bots.runtime.brain_worker import BrainWorker
from bots.runtime.config import Config
from brain.answers.answer_metrics import answer_f1, carries
from brain.answers.answer_pipeline import AnswerMemory, AnswerPipeline, Asked
from brain.answers.compose import Answer
from brain.text.questions import Question, detect_question, language_of

__all__ = ["FIGURES", "SetError", "CorpusDoc", "GoldQuestion", "Progress", "answer_questions",
           "is_right", "write_knowledge_folder", "read_answer_set", "read_shop_questions", "evaluate_folder",
           "evaluate_answers", "evaluate_shop"]

#: Told ``(stage, done now, stage total or None)``: "indexing" counts chunks, "answering" questions.
Progress = Callable[[str, int, int | None], None]

#: The figures, in the order they are printed.
FIGURES = ("answer_hit", "answer_f1", "passed_answerable", "false_answer_rate", "answerable", "unanswerable",
           "questions", "docs", "index_seconds", "seconds", "latency_p50_ms", "latency_p95_ms", "by_reason", "details")

_UNSAFE = re.compile(r"[^\w.-]+")
_MAX_STEM = 80


class SetError(ValueError):
    """An answer set or questions file that cannot be read; the message names the file (and line or entry).

    Its own class so the CLI reports exactly these as a bad folder (exit 2),
    not any ValueError the bot might raise while answering.
    """


class CorpusDoc(NamedTuple):
    """One document of a QA set's corpus."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class GoldQuestion:
    """A question and the gold answers any of which a right answer carries; none: the bot should pass it on."""

    id: str
    text: str
    gold: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


# ---- asking ---------------------------------------------------------------------------

def answer_questions(source: BrainWorker | AnswerPipeline, questions: Sequence[str], *,
                     progress: Callable[[int], None] | None = None) -> list[tuple[Answer, float]]:
    """Each question's final Answer and the wall-clock ms it took (answer_batch + finish), in order.

    The calls are those of ``/ask`` (`bots.features.answering.Answering.ask`): a
    question without a room, ``answer_batch`` on the brain thread (when given a
    loaded worker), then ``finish`` on the event loop for the LLM. Unlike
    ``/ask``, each question gets a fresh `AnswerMemory`: a repeated question
    would otherwise be a 0 ms cache hit, scored and timed as something it is
    not. The LLM client is closed at the end: its connections belong to this
    call's event loop.
    """
    worker = source if isinstance(source, BrainWorker) else None
    pipeline = source.pipeline if isinstance(source, BrainWorker) else source
    if pipeline is None:
        raise RuntimeError("the brain is not loaded: call BrainWorker.load_now() first")

    async def ask_all() -> list[tuple[Answer, float]]:
        out: list[tuple[Answer, float]] = []
        try:
            for text in questions:
                question = detect_question(text) or Question(text, language_of(text), "command")
                memory: AnswerMemory[None] = AnswerMemory()
                asked = [Asked(question, typed=text)]
                started = time.perf_counter()
                if worker is not None:
                    [outcome] = await worker.run(pipeline.answer_batch, asked, memory)
                else:
                    [outcome] = pipeline.answer_batch(asked, memory)
                answer = await pipeline.finish(outcome, memory)
                out.append((answer, (time.perf_counter() - started) * 1000))
                if progress is not None:
                    progress(1)
        finally:
            if pipeline.answerer.llm is not None:
                await pipeline.answerer.llm.close()
        return out

    return asyncio.run(ask_all())


# ---- reading and writing sets ---------------------------------------------------------

def _safe_stem(doc_id: str, taken: set[str]) -> str:
    """A file name stem for ``doc_id``: the id itself when safe, else sanitised plus a hash of the id (unique)."""
    stem = _UNSAFE.sub("_", doc_id).strip("._")[:_MAX_STEM] or "doc"
    if stem != doc_id or stem.casefold() in taken:
        stem = f"{stem}-{hashlib.sha1(doc_id.encode('utf-8')).hexdigest()[:10]}"
    taken.add(stem.casefold())
    return stem


def write_knowledge_folder(corpus: Sequence[CorpusDoc], folder: Path) -> dict[str, str]:
    """Write each document as ``<safe id>.md`` (``# title``, then its paragraphs); returns file name -> doc id.

    Markdown because it is what a host drops into the knowledge folder, so the
    bot's normal loader and chunker read it (a title ending in "?" makes an
    FAQ entry, as on a real FAQ page). Hidden, backup and ``.jsonl`` names are
    skipped by discovery: a plain ``.md`` stem never is.
    """
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    written: dict[str, str] = {}
    for doc in corpus:
        name = _safe_stem(doc.id, taken) + ".md"
        heading = " ".join(doc.title.split())
        body = "\n\n".join(p.strip() for p in doc.text.splitlines() if p.strip())
        (folder / name).write_text((f"# {heading}\n\n" if heading else "") + body + "\n", encoding="utf-8")
        written[name] = doc.id
    return written


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; a line that is not a JSON object is a SetError naming it."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                row = json.loads(line)
            except UnicodeDecodeError:
                raise SetError(f"{path} line {number}: not UTF-8 text") from None
            except json.JSONDecodeError as exc:
                raise SetError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise SetError(f"{path} line {number}: expected a JSON object")
            yield number, row


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def read_answer_set(directory: Path) -> tuple[list[CorpusDoc], list[GoldQuestion]]:
    """The corpus and the questions of an answer set; any problem is a SetError naming the file and line."""
    if not directory.is_dir():
        raise SetError(f"{directory} is not a directory")
    missing = [n for n in ("corpus.jsonl", "queries.jsonl") if not (directory / n).is_file()]
    if missing:
        raise SetError(f"{directory} is not an answer set (corpus.jsonl, queries.jsonl): "
                         f"missing {', '.join(missing)}")
    corpus: list[CorpusDoc] = []
    for number, row in _json_lines(directory / "corpus.jsonl"):
        if "_id" not in row or not isinstance(row.get("text", ""), str) or not isinstance(row.get("title", ""), str):
            raise SetError(f"{directory / 'corpus.jsonl'} line {number}: needs \"_id\" and string \"text\"/\"title\"")
        corpus.append(CorpusDoc(str(row["_id"]), row.get("title") or "", row.get("text") or ""))
    questions: list[GoldQuestion] = []
    for number, row in _json_lines(directory / "queries.jsonl"):
        if "_id" not in row or not isinstance(row.get("text"), str) or not _strings(row.get("answers")):
            raise SetError(f"{directory / 'queries.jsonl'} line {number}: needs \"_id\", string \"text\" and "
                             "\"answers\", a list of strings (empty: the corpus does not hold the answer)")
        questions.append(GoldQuestion(str(row["_id"]), row["text"], tuple(a for a in row["answers"] if a.strip())))
    if not corpus or not questions:
        raise SetError(f"{directory}: {'corpus.jsonl' if not corpus else 'queries.jsonl'} is empty")
    return corpus, questions


def read_shop_questions(path: Path) -> list[GoldQuestion]:
    """``[{q: question, facts: [alternatives]}]`` from YAML; ``facts: []`` means the bot should pass it on."""
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SetError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise SetError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(entries, list) or not entries:
        raise SetError(f"{path}: expected a non-empty list of {{q, facts}} entries")
    out: list[GoldQuestion] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("q"), str) or not _strings(entry.get("facts")):
            raise SetError(f"{path} entry {number}: needs q (a string) and facts (a list of strings, may be empty)")
        out.append(GoldQuestion(str(number), entry["q"], tuple(f for f in entry["facts"] if f.strip())))
    return out


# ---- scoring --------------------------------------------------------------------------

def is_right(row: dict[str, Any]) -> bool:
    """A details row went right: its answer carries a gold answer, or a question with none was passed on."""
    return bool(row["hit"]) if row["gold"] else row["answer"] is None


def _share(part: float, whole: int) -> float | None:
    """``part / whole`` to 4 places; None when there is nothing to divide by (not zero: nothing was measured)."""
    return round(part / whole, 4) if whole else None


def _score(questions: Sequence[GoldQuestion], answered: Sequence[tuple[Answer, float]]) -> dict[str, Any]:
    """The figures of `evaluate_folder`, without the timing of the load."""
    rows = [{"id": q.id, "question": q.text, "answer": a.text, "gold": list(q.gold), "hit": carries(a.text, q.gold),
             "f1": answer_f1(a.text, q.gold), "reason": a.reason, "ms": ms}
            for q, (a, ms) in zip(questions, answered, strict=True)]
    answerable = [r for r in rows if r["gold"]]
    unanswerable = [r for r in rows if not r["gold"]]
    latencies = np.asarray([r["ms"] for r in rows], dtype=float)
    return {
        "answer_hit": _share(sum(r["hit"] for r in answerable), len(answerable)),
        "answer_f1": _share(sum(r["f1"] for r in answerable), len(answerable)),
        "passed_answerable": _share(sum(r["answer"] is None for r in answerable), len(answerable)),
        "false_answer_rate": _share(sum(r["answer"] is not None for r in unanswerable), len(unanswerable)),
        "answerable": len(answerable), "unanswerable": len(unanswerable), "questions": len(rows),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 4) if len(rows) else None,
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 4) if len(rows) else None,
        "by_reason": dict(Counter(r["reason"] for r in rows).most_common()),
        "details": [{**r, "f1": round(r["f1"], 4), "ms": round(r["ms"], 4)} for r in rows],
    }


def evaluate_folder(knowledge_root: Path, questions: Sequence[GoldQuestion], config: Config, state_dir: Path,
                    progress: Progress | None = None, *, docs: int | None = None) -> dict[str, Any]:
    """Load a bot on ``knowledge_root`` (state in ``state_dir``), ask every question, score the answers.

    The config is the caller's with only the knowledge path changed: the
    embedder, thresholds, answer length and LLM are the ones being measured.
    Returns the figures of `_score` plus ``docs`` (when given: the corpus
    size), ``index_seconds`` (model load and ingest) and ``seconds``
    (everything), in the order the CLI prints them; ``details`` last, one row a question.
    """
    started = time.perf_counter()
    config = config.model_copy(update={"knowledge": config.knowledge.model_copy(
        update={"path": str(knowledge_root)})})
    worker = BrainWorker(config, state_dir, knowledge_root=knowledge_root)
    try:
        worker.load_now(progress=None if progress is None else lambda n: progress("indexing", n, None))
        index_seconds = time.perf_counter() - started
        answered = answer_questions(worker, [q.text for q in questions],
                                    progress=None if progress is None
                                    else lambda n: progress("answering", n, len(questions)))
    finally:
        worker.shutdown()
    figures = _score(questions, answered)
    figures.update(docs=docs, index_seconds=round(index_seconds, 4), seconds=round(time.perf_counter() - started, 4))
    return {key: figures[key] for key in FIGURES if key != "docs" or docs is not None}


def evaluate_answers(directory: Path, config: Config, workdir: Path | None = None, limit: int | None = None,
                     progress: Progress | None = None, *, details: bool = False) -> dict[str, Any]:
    """Score the bot on an answer set (BEIR layout plus ``answers``); see `evaluate_folder`.

    The corpus goes through a temporary knowledge folder (under ``workdir`` if
    given), so ingest is the bot's own. ``limit`` keeps the first N queries.
    ``details`` adds one row per query (id, question, answer, gold, hit, f1, reason, ms).
    """
    corpus, questions = read_answer_set(directory)
    if limit is not None:
        questions = questions[:limit]
    with tempfile.TemporaryDirectory(prefix="lr-eval-answers-", dir=workdir) as tmp:
        root = Path(tmp) / "knowledge"
        # A subfolder: no corpus file can take the name of the knowledge root's curated-answers file.
        write_knowledge_folder(corpus, root / "corpus")
        result = evaluate_folder(root, questions, config, Path(tmp) / "state", progress, docs=len(corpus))
    if not details:
        del result["details"]
    return result


def evaluate_shop(questions_file: Path, config: Config, knowledge_root: Path, workdir: Path,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Score the bot on the sample shop: a copy of ``knowledge_root``, the questions of ``questions_file``.

    A copy (in a temporary folder under ``workdir``) because the bot is loaded
    on it as on any knowledge folder, and the shipped one must stay as shipped.
    ``answer_hit`` is the share of answerable questions whose answer carries a
    fact; ``false_answer_rate`` the share of questions the knowledge cannot
    answer that were answered anyway; ``details`` holds every question.
    """
    questions = read_shop_questions(questions_file)
    with tempfile.TemporaryDirectory(prefix="lr-eval-shop-", dir=workdir) as tmp:
        root = shutil.copytree(knowledge_root, Path(tmp) / "knowledge")
        return evaluate_folder(root, questions, config, Path(tmp) / "state", progress)
