"""The brain's home in the runtime: built from config, run on its own thread.

Loading the embedding model takes seconds and one embedding takes milliseconds
of CPU; neither may run on the event loop, where it would stall every adapter's
heartbeat. `BrainWorker` owns one worker thread: everything that touches the
model or the indexes runs there, one job at a time (torch is set to one
thread, so two jobs would only fight over the second core the loop needs).

The knowledge base is loaded in the background at start-up; callers await
`ready()` and the room keeps chatting meanwhile.

A stopping bot does not wait for that load: importing torch and reading the
model takes seconds that cannot be interrupted, longer than a service manager
grants a stop. The worker is therefore a daemon thread, not a
`ThreadPoolExecutor` (whose threads the interpreter joins at exit): `abandon`
fails `ready()` at once, and `shutdown` waits for the thread only briefly.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import weakref
from concurrent.futures import Executor, Future, InvalidStateError
from pathlib import Path
from typing import Any, Callable, TypeVar

from bots.runtime.config import Config
from brain.answers.answer_pipeline import AnswerPipeline
from brain.answers.compose import Answerer
from brain.answers.llm import LLMClient, LLMSettings
from brain.knowledge import IngestOptions
from brain.knowledge.base import IngestSummary, KnowledgeBase
from brain.knowledge.chunking import ChunkingOptions
from brain.moderation.curated import CURATED_FILE, CuratedAnswers
from brain.retrieval.embedders import Embedder, make_embedder
from brain.retrieval.vector import ChromaServerError

__all__ = ["BrainWorker", "BrainUnavailable"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds `BrainWorker.shutdown` waits for a job still running (a model load) before leaving it behind.
SHUTDOWN_GRACE = 1.0

_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]
#: Every worker whose thread was started, for `_finish_at_exit`.
_workers: "weakref.WeakSet[_DaemonWorker]" = weakref.WeakSet()


class BrainUnavailable(RuntimeError):
    """The knowledge base could not be loaded; the message says why."""


class _DaemonWorker(Executor):
    """Runs submitted jobs one at a time, in order, on one daemon thread.

    Not a `ThreadPoolExecutor`: the interpreter joins those threads at exit, so a
    model load in progress would hold a stopping process until it finished. A
    daemon thread is simply left behind when the process ends.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> "Future[T]":
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new jobs after shutdown")
            self._jobs.put((future, fn, args, kwargs))
            if self._thread.ident is None:
                self._thread.start()  # on first use: most commands never touch the brain
                _workers.add(self)
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args, kwargs = job
            try:
                if not future.set_running_or_notify_cancel():
                    continue  # cancelled while queued
            except RuntimeError:
                continue  # failed by `BrainWorker.abandon` while queued: nobody waits for it
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiter, as ThreadPoolExecutor does
                _settle(future, exc)
            else:
                _settle(future, None, result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False,
                 timeout: float | None = None) -> None:
        """Take no more jobs; with ``wait``, wait for the running one at most ``timeout`` seconds."""
        with self._lock:
            self._closed = True
            while cancel_futures:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[0].cancel()
            self._jobs.put(None)
        if wait and self._thread.ident is not None:
            self._thread.join(timeout)

    @property
    def busy(self) -> bool:
        """Whether the thread is still running (a job, possibly one that was given up on)."""
        return self._thread.is_alive()


@atexit.register
def _finish_at_exit() -> None:
    """Let a job still running end before the interpreter finalises, as ThreadPoolExecutor's do.

    A daemon thread inside torch's C++ code while the interpreter finalises can
    abort the process ("terminate called without an active exception"). A load
    given up on (`BrainWorker.abandon`) ends at its next step. ``liveroom run`` does
    not come here: it ends with ``os._exit`` once its store is closed (bots.cli.serve).
    """
    for worker in list(_workers):
        worker.shutdown(wait=True, cancel_futures=True)


def _settle(future: "Future[Any]", exc: BaseException | None, result: Any = None) -> None:
    """Finish ``future`` unless `BrainWorker.abandon` already failed it (the waiters have moved on)."""
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


class BrainWorker:
    """The embedder, knowledge base and answerer of one bot, behind one worker thread."""

    def __init__(self, config: Config, data_dir: Path, *, knowledge_root: Path | None = None) -> None:
        self.config = config
        self.data_dir = data_dir
        self.knowledge_root = knowledge_root or Path(config.knowledge.path)
        self._executor = _DaemonWorker("brain")
        self._loaded: Future[IngestSummary] | None = None
        #: Set when the process stops: a load in progress gives up at its next step.
        self._stopping = threading.Event()
        self.embedder: Embedder | None = None
        self.kb: KnowledgeBase | None = None
        self.answerer: Answerer | None = None
        #: Moderators' corrections (``knowledge/curated-answers.md``), matched before retrieval.
        self.curated: CuratedAnswers | None = None
        #: Questions in, outcomes out: built on the models above once they are loaded.
        self.pipeline: AnswerPipeline | None = None
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

    @property
    def busy(self) -> bool:
        """Whether the brain thread still runs a job, e.g. a load that `shutdown` stopped waiting for."""
        return self._executor.busy

    def _check_stopping(self) -> None:
        """Give up between the steps of a load when the process is stopping (no step can be cut short)."""
        if self._stopping.is_set():
            raise BrainUnavailable("the bot stopped before the knowledge base had loaded")

    def _load(self, progress: Callable[[int], None] | None = None) -> IngestSummary:
        cfg = self.config
        if not self.knowledge_root.is_dir():
            raise BrainUnavailable(f"knowledge folder {self.knowledge_root} does not exist "
                                   f"(set knowledge.path in the config)")
        self._check_stopping()
        self.embedder = make_embedder(cfg.retrieval.embedder)
        options = IngestOptions(max_bytes=int(cfg.knowledge.max_file_mb * 1024 * 1024),
                                chunking=ChunkingOptions(target_chars=cfg.knowledge.chunk_chars,
                                                         max_chars=max(cfg.knowledge.chunk_chars * 8 // 5, 160)))
        try:
            self.kb = KnowledgeBase(self.knowledge_root, self.data_dir / "kb", self.embedder, options,
                                    chroma_url=cfg.retrieval.chroma_url, collection=cfg.retrieval.chroma_collection)
        except ChromaServerError as exc:
            raise BrainUnavailable(str(exc)) from exc
        self._check_stopping()
        summary = self.kb.ingest(progress=progress)
        self._check_stopping()
        self.answerer = Answerer.for_knowledge_base(
            self.kb, reader=self._reader(), llm=self.llm, min_confidence=cfg.answers.min_confidence,
            max_chars=cfg.answers.max_chars, top_k=cfg.retrieval.top_k, bars=cfg.answers.bars)
        answerer = self.answerer
        embedder = self.embedder
        self.curated = CuratedAnswers(
            self.knowledge_root / CURATED_FILE, dense_languages=self.dense_languages,
            # Variants are embedded as questions are: through the answerer's search text.
            embed=lambda texts: embedder.embed([answerer.search_text(t) for t in texts]))
        self.pipeline = AnswerPipeline(self.answerer, self.embedder, self.curated)
        for line in summary.lines():
            log.info("%s", line)
        self._check_stopping()
        # Warm up: load the models' weights, jieba's dictionary and the candidate answers' vectors
        # now, not on a viewer's question.
        for probe in ("how much is it?", "多少钱？"):
            self.answerer.decide(probe, self.answerer.retrieve(probe))
        return summary

    def _reader(self) -> Embedder | None:
        """The model that reads the meaning of questions and candidate answers (`answers.reader`).

        The multilingual USE by default: it reads English and Chinese alike
        and embeds a sentence in about 2 ms. "none" leaves answers to words.
        """
        name = self.config.answers.reader.strip()
        if name.lower() == "none":
            return None
        return self.embedder if name == self.config.retrieval.embedder else make_embedder(name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the brain thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def reload(self) -> IngestSummary:
        """Re-ingest the knowledge folder (on the brain thread)."""
        if self.kb is None:
            raise BrainUnavailable("the knowledge base is not loaded yet")
        if self.curated is not None:
            self.curated.load()  # a host may have edited the curated answers by hand
        summary = self.kb.ingest()
        if summary.changed and self.answerer is not None:
            self.answerer.selector.index(self.kb.chunks())
        return summary

    @property
    def dense_languages(self) -> frozenset[str] | None:
        """Languages the embedder reads (None: any); others are not embedded at all."""
        return getattr(self.embedder, "languages", None)

    async def aclose(self) -> None:
        """Close the LLM client's connections (they belong to the running loop)."""
        if self.llm is not None:
            await self.llm.close()

    def abandon(self) -> None:
        """The process is stopping: fail `ready()` now instead of when the model has loaded.

        Waiters (questions, product rankings) then give up at once and record what
        they hold as unanswered; the load itself stops at its next step or is left
        behind on its daemon thread. Safe to call from any thread, more than once.
        """
        self._stopping.set()
        loaded = self._loaded
        if loaded is not None and not loaded.done():
            _settle(loaded, BrainUnavailable("the bot stopped before the knowledge base had loaded"))

    def shutdown(self, timeout: float | None = SHUTDOWN_GRACE) -> None:
        """Stop the brain thread: queued jobs are dropped, a running one gets ``timeout`` seconds.

        A model load still running after that is abandoned rather than waited for
        (it can take ten seconds): ``liveroom run`` then ends the process at once;
        other commands let it reach its next step at exit (`_finish_at_exit`).
        """
        if self._loaded is not None and not self._loaded.done():
            self.abandon()
        self._executor.shutdown(wait=True, cancel_futures=True, timeout=timeout)
        if self.busy:
            log.info("brain: not waiting for the knowledge base to finish loading")
