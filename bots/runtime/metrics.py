"""Prometheus metrics for one running bot, read mostly from the counters the runtime already keeps.

Why a custom collector: the router, answering and moderation already count
what they do (`RouterStats`, `AnsweringStats`, `ModerationStats`), for
``/status`` and replays. Reading those at scrape time costs nothing on the
hot path and can never drift from what ``/status`` says. Only what no
counter holds is observed as it happens: per-room message counts and the
answer-latency histogram, through `observe_in`, `observe_out` and
`observe_answer`, each a dict increment or one histogram bucket (O(1)).

Each `Metrics` owns its own `CollectorRegistry`, never the process-global
one: tests build many runtimes in one process, and a second registration of
the same name in the global registry would raise.

Scrapes run in a worker thread (the queue depth is a small indexed query);
the loop only ever increments plain ints and dicts, which a reader copies
atomically under the GIL.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics", "LATENCY_BUCKETS", "METRIC_NAMES"]

log = logging.getLogger(__name__)

#: Seconds; answers take milliseconds (extractive) to seconds (an LLM, a cold start).
LATENCY_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Every family name a scrape shows (without the ``_total`` / ``_bucket`` suffixes Prometheus adds).
METRIC_NAMES: tuple[str, ...] = (
    "liveroom_messages_in", "liveroom_messages_out", "liveroom_answer_latency_seconds",
    "liveroom_review_queue_depth", "liveroom_abstentions", "liveroom_llm_errors", "liveroom_llm_fallbacks",
    "liveroom_reviews", "liveroom_feedback", "liveroom_questions", "liveroom_answers", "liveroom_events",
    "liveroom_replies", "liveroom_send_errors", "liveroom_handler_errors", "liveroom_up_seconds",
)


class _HasStats(Protocol):
    stats: Any


class _Moderation(Protocol):
    stats: Any
    queue: Any


class Metrics:
    """The bot's metrics: a few O(1) observations plus the runtime's counters, rendered on scrape."""

    def __init__(self, *, router: _HasStats | None = None, answering: _HasStats | None = None,
                 moderation: _Moderation | None = None, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._messages_in: dict[str, int] = {}
        self._messages_out: dict[str, int] = {}
        self._started = clock()
        self._clock = clock
        self.router = router
        self.answering = answering
        self.moderation = moderation
        self.latency = Histogram("liveroom_answer_latency_seconds",
                                 "Time from a question's arrival at the brain to its answer, by outcome",
                                 ["status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_RuntimeCollector(self))

    def track(self, *, router: _HasStats | None = None, answering: _HasStats | None = None,
              moderation: _Moderation | None = None) -> None:
        """Point the collector at runtime parts built after this object (None leaves one as it is)."""
        if router is not None:
            self.router = router
        if answering is not None:
            self.answering = answering
        if moderation is not None:
            self.moderation = moderation

    # ---- observations (the event loop; keep them O(1)) -----------------------------------

    def observe_in(self, room: str) -> None:
        """One inbound event routed in ``room`` (a room key)."""
        self._messages_in[room] = self._messages_in.get(room, 0) + 1

    def observe_out(self, room: str) -> None:
        """One message the bot posted in ``room``."""
        self._messages_out[room] = self._messages_out.get(room, 0) + 1

    def observe_answer(self, latency_s: float, status: str) -> None:
        """One answered question's latency in seconds; ``status``: answered, abstained, held, ..."""
        self.latency.labels(status).observe(max(0.0, float(latency_s)))

    # ---- scraping (a worker thread) ------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (blocking: a small database read)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _families(self) -> Iterable[Metric]:
        yield _per_room("liveroom_messages_in", "Inbound events routed, by room", dict(self._messages_in))
        yield _per_room("liveroom_messages_out", "Messages the bot posted, by room", dict(self._messages_out))
        up = GaugeMetricFamily("liveroom_up_seconds", "Seconds since the metrics were created (process start)")
        up.add_metric([], self._clock() - self._started)
        yield up
        yield from self._router_families()
        yield from self._answering_families()
        yield from self._moderation_families()

    def _router_families(self) -> Iterable[Metric]:
        stats = getattr(self.router, "stats", None)
        for name, field, doc in (("liveroom_events", "events", "Events routed (messages, commands, ...)"),
                                 ("liveroom_replies", "replies", "Replies the router delivered"),
                                 ("liveroom_send_errors", "send_errors", "Replies an adapter failed to send"),
                                 ("liveroom_handler_errors", "handler_errors", "Commands or listeners that raised")):
            yield _counter(name, doc, _read(stats, field))

    def _answering_families(self) -> Iterable[Metric]:
        stats = getattr(self.answering, "stats", None)
        yield _counter("liveroom_questions", "Questions detected", _read(stats, "questions"))
        yield _counter("liveroom_answers", "Answers posted", _read(stats, "answers"))
        yield _counter("liveroom_abstentions", "Questions passed to the host", _read(stats, "abstained"))
        yield _counter("liveroom_llm_errors", "Model calls that failed (timeouts, HTTP errors)",
                       _read(stats, "llm_errors"))
        yield _counter("liveroom_llm_fallbacks", "Model answers replaced by the extractive one",
                       _read(stats, "llm_fallbacks"))

    def _moderation_families(self) -> Iterable[Metric]:
        moderation = self.moderation
        stats = getattr(moderation, "stats", None)
        reviews = CounterMetricFamily("liveroom_reviews", "Moderator decisions on queued answers, by decision",
                                      labels=["decision"])
        for decision in ("queued", "approved", "edited", "rejected", "expired"):
            reviews.add_metric([decision], _read(stats, decision))
        yield reviews
        feedback = CounterMetricFamily("liveroom_feedback", "Viewers' votes on answers", labels=["value"])
        feedback.add_metric(["up"], _read(stats, "feedback_up"))
        feedback.add_metric(["down"], _read(stats, "feedback_down"))
        yield feedback
        depth = GaugeMetricFamily("liveroom_review_queue_depth", "Answers waiting for a moderator, by room",
                                  labels=["room"])
        queue = getattr(moderation, "queue", None)
        if queue is not None:
            try:
                for room, n in sorted(queue.depth_by_room().items()):
                    depth.add_metric([room], n)
            except Exception:  # noqa: BLE001 - a locked database must not fail the whole scrape
                log.exception("metrics: could not read the review queue depth")
        yield depth


class _RuntimeCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics._families()


def _read(stats: Any, name: str) -> float:
    return float(getattr(stats, name, 0) or 0) if stats is not None else 0.0


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def _per_room(name: str, doc: str, counts: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["room"])
    for room, n in sorted(counts.items()):
        family.add_metric([room], n)
    return family
