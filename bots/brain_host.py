"""The brain's home in the runtime: built from config, run on its own thread.

Loading the embedding model takes seconds and one embedding takes milliseconds
of CPU; neither may run on the event loop, where it would stall every adapter's
heartbeat. `BrainHost` owns one worker thread: everything that touches the
model or the indexes runs there, one job at a time (torch is set to one
thread, so two jobs would only fight over the second core the loop needs).

The knowledge base is loaded in the background at start-up; callers await
`ready()` and the room keeps chatting meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TypeVar

from bots.config import Config
from brain.answer import Answerer
from brain.curated import CURATED_FILE, CuratedAnswers
from brain.kb import IngestSummary, KnowledgeBase
from brain.knowledge import IngestOptions
from brain.knowledge.chunking import ChunkingOptions
from brain.llm import LLMClient, LLMSettings
from brain.retrieval.embedders import Embedder, make_embedder

__all__ = ["BrainHost", "BrainUnavailable"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class BrainUnavailable(RuntimeError):
    """The knowledge base could not be loaded; the message says why."""


class BrainHost:
    """The embedder, knowledge base and answerer of one bot, behind one worker thread."""

    def __init__(self, config: Config, data_dir: Path, *, knowledge_root: Path | None = None) -> None:
        self.config = config
        self.data_dir = data_dir
        self.knowledge_root = knowledge_root or Path(config.knowledge.path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brain")
        self._loaded: Future[IngestSummary] | None = None
        self.embedder: Embedder | None = None
        self.kb: KnowledgeBase | None = None
        self.answerer: Answerer | None = None
        #: Moderators' corrections (``knowledge/curated-answers.md``), matched before retrieval.
        self.curated: CuratedAnswers | None = None
        self.llm: LLMClient | None = None
        if config.llm.configured:
            self.llm = LLMClient(LLMSettings(base_url=str(config.llm.base_url), model=str(config.llm.model),
                                             api_key=config.llm.api_key, timeout=config.llm.timeout))

    # ---- lifecycle -------------------------------------------------------------------

    def start(self, progress: Callable[[int], None] | None = None) -> None:
        """Begin loading the model and the knowledge base in the background (idempotent).

        ``progress`` is told how many chunks each embedding batch indexed.
        """
        if self._loaded is None:
            self._loaded = self._executor.submit(self._load, progress)

    async def ready(self) -> IngestSummary:
        """Wait for the knowledge base; raises `BrainUnavailable` if it could not load."""
        self.start()
        assert self._loaded is not None
        try:
            return await asyncio.wrap_future(self._loaded)
        except BrainUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - any load failure is reported the same way
            raise BrainUnavailable(f"the knowledge base could not be loaded: {exc}") from exc

    def load_now(self, progress: Callable[[int], None] | None = None) -> IngestSummary:
        """Load synchronously (CLI commands that need the brain before anything else)."""
        self.start(progress)
        assert self._loaded is not None
        return self._loaded.result()

    def _load(self, progress: Callable[[int], None] | None = None) -> IngestSummary:
        cfg = self.config
        if not self.knowledge_root.is_dir():
            raise BrainUnavailable(f"knowledge folder {self.knowledge_root} does not exist "
                                   f"(set knowledge.path in the config)")
        self.embedder = make_embedder(cfg.retrieval.embedder)
        options = IngestOptions(max_bytes=int(cfg.knowledge.max_file_mb * 1024 * 1024),
                                chunking=ChunkingOptions(target_chars=cfg.knowledge.chunk_chars,
                                                         max_chars=max(cfg.knowledge.chunk_chars * 8 // 5, 160)))
        self.kb = KnowledgeBase(self.knowledge_root, self.data_dir / "kb", self.embedder, options)
        summary = self.kb.ingest(progress=progress)
        lexical = self.kb.index.lexical
        self.answerer = Answerer(self.kb.search, idf=lexical.idf, known=lexical.knows, llm=self.llm,
                                 min_confidence=cfg.answers.min_confidence, max_chars=cfg.answers.max_chars,
                                 top_k=cfg.retrieval.top_k)
        answerer = self.answerer
        embedder = self.embedder
        self.curated = CuratedAnswers(
            self.knowledge_root / CURATED_FILE, dense_languages=self.dense_languages,
            # Variants are embedded as questions are: through the answerer's search text.
            embed=lambda texts: embedder.embed([answerer.search_text(t) for t in texts]))
        for line in summary.lines():
            log.info("%s", line)
        # Warm up: load the model's weights and jieba's dictionary now, not on a viewer's question.
        for probe in ("how much is it?", "多少钱？"):
            self.answerer.retrieve(probe)
        return summary

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the brain thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def reload(self) -> IngestSummary:
        """Re-ingest the knowledge folder (on the brain thread)."""
        if self.kb is None:
            raise BrainUnavailable("the knowledge base is not loaded yet")
        if self.curated is not None:
            self.curated.load()  # a host may have edited the curated answers by hand
        return self.kb.ingest()

    @property
    def dense_languages(self) -> frozenset[str] | None:
        """Languages the embedder reads (None: any); others are not embedded at all."""
        return getattr(self.embedder, "languages", None)

    async def aclose(self) -> None:
        """Close the LLM client's connections (they belong to the running loop)."""
        if self.llm is not None:
            await self.llm.close()

    def shutdown(self) -> None:
        """Stop the brain thread; a load in progress finishes, queued jobs are dropped."""
        self._executor.shutdown(wait=True, cancel_futures=True)
