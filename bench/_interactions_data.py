"""Synthetic interaction logs for the log's benchmark, and the benchmark itself.

`fill_synthetic` writes ``n`` handled questions (a real store's shape: rooms,
a long tail of viewers, English and Chinese questions, answered / abstained /
merged, three models) plus the 👍/👎 events on some answers and the
moderator reviews of some questions, with ``executemany`` in chunks of 10,000
rows (straight to the driver on SQLite), so 1,000,000 questions with 7
indexes take about 28 s on the project's machine.

`bench_search` times `brain.insights.interaction_log.search` for each single filter, on
first pages and on deep pages (a cursor somewhere in the past), and reports
p50/p95 in milliseconds. ``python bench/_interactions_data.py [N]`` does both
in a temporary database and prints a Markdown table and one JSON line.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from brain.store.schema import events, migrate, questions, reviews  # noqa: E402

__all__ = ["fill_synthetic", "bench_search", "SPAN_DAYS", "WORDS", "MODELS"]

CHUNK = 10_000
#: Questions are spread over this many days before the newest one.
SPAN_DAYS = 90
#: What viewers ask about (the text filter's candidates); a few are rare on purpose.
WORDS = ("price", "shipping", "refund", "blender", "course", "coupon", "size", "colour", "warranty",
         "frozen", "battery", "recipe", "lid", "discount", "stock", "delivery", "ebook", "mango",
         "价格", "包邮", "退款", "冷冻", "电池", "优惠券")
_TEMPLATES = ("how much is the {w}?", "is the {w} any good?", "what about the {w} for beginners",
              "can I get the {w} today?", "{w}??", "does the {w} come in blue", "这个{w}怎么样？", "{w}多少钱？")
#: (model, share of answered questions).
MODELS = (("extractive", 0.7), ("llm:gpt-4o-mini", 0.2), ("cache", 0.1))
_STATUSES = (("answered", 0.6), ("abstained", 0.25), ("merged", 0.15))
_REVIEWS = (("approved", 0.55), ("edited", 0.15), ("rejected", 0.2), ("expired", 0.08), ("pending", 0.02))


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    """A weighted choice without `random.choices`' per-call set-up (a third of the fill time)."""
    r = rng.random()
    for value, weight in weighted:
        r -= weight
        if r < 0:
            return value
    return weighted[-1][0]


@dataclass(frozen=True)
class _Vocabulary:
    """Every string a row can hold, built once: formatting them per row was most of the fill time."""

    rooms: tuple[str, ...]
    keys: tuple[str, ...]
    names: tuple[str, ...]
    texts: tuple[tuple[str, str, str], ...]        # (question, lang, word), one per template and word
    answers: dict[str, tuple[str, str]]          # word -> (answer, sources JSON)

    @classmethod
    def build(cls, rooms: int, viewers: int) -> "_Vocabulary":
        texts = tuple((t.format(w=w), "en" if t.format(w=w).isascii() else "zh", w)
                      for w in WORDS for t in _TEMPLATES)
        return cls(tuple(f"discord:room{r}" for r in range(rooms)), tuple(f"discord:{v}" for v in range(viewers)),
                   tuple(f"viewer {v}" for v in range(viewers)), texts,
                   {w: (f"About the {w}: see the shop page.",
                        json.dumps([{"chunk_id": f"c-{w}", "source": "faq.md", "title": w}], ensure_ascii=False))
                    for w in WORDS})


def _question(i: int, ts: float, rng: random.Random, vocab: _Vocabulary, last_lead: dict[str, str]) -> dict[str, Any]:
    """One handled question: Zipf-like viewers and words, a lead of its room for merged ones."""
    room = vocab.rooms[rng.randrange(len(vocab.rooms))]
    viewer = min(int((rng.paretovariate(1.2) - 1) * 50), len(vocab.keys) - 1)  # a long tail of one-off askers
    status = _pick(rng, _STATUSES)
    if status == "merged" and room not in last_lead:
        status = "abstained"
    word_index = min(int(rng.expovariate(0.25)), len(WORDS) - 1)
    text, lang, word = vocab.texts[word_index * len(_TEMPLATES) + rng.randrange(len(_TEMPLATES))]
    event_id = f"e{i:09d}"  # zero-padded: index inserts append instead of landing all over the tree
    row = {
        "room": room, "event_id": event_id, "user_key": vocab.keys[viewer], "user_name": vocab.names[viewer],
        "text": text, "lang": lang, "status": status, "answer": None, "sources": None, "confidence": None,
        "latency_ms": round(rng.uniform(5, 900), 1), "model": _pick(rng, MODELS), "merged_into": None,
        "reply_id": None, "ts": ts, "answered_at": ts + 1.5,
    }
    if status == "answered":
        answer, sources = vocab.answers[word]
        row.update(answer=answer, sources=sources, confidence=round(rng.uniform(0.5, 1), 3), reply_id=f"m{i:09d}")
        last_lead[room] = event_id
    elif status == "abstained":
        row.update(answer="I'll pass it to the host.", confidence=round(rng.uniform(0, 0.5), 3))
        last_lead[room] = event_id
    else:
        row["merged_into"] = last_lead[room]
    return row


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """executemany; on SQLite straight to the driver with tuples (SQLAlchemy's per-row parameter
    processing cost as much as SQLite's own work)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn.exec_driver_sql(sql, [tuple(r[c] for c in columns) for r in rows])


def _feedback(row: dict[str, Any], rng: random.Random, n: int) -> list[dict[str, Any]]:
    """1-3 👍/👎 events on an answer, as `Store.record` writes a FeedbackEvent."""
    return [{"event_id": f"f{row['reply_id']}-{k}", "room": row["room"], "platform": "discord",
             "source": "discord", "kind": "feedback", "direction": "in",
             "user_key": f"discord:{rng.randrange(n)}", "user_name": "someone", "role": "viewer",
             "text": "+1" if rng.random() < 0.8 else "-1", "command": None, "reply_to": row["reply_id"],
             "mentions": None, "flags": None, "ts": row["ts"] + 10 + k, "recorded_at": row["ts"] + 10 + k}
            for k in range(rng.randint(1, 3))]


def _review(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The moderator's review of a question (pending ones undecided)."""
    status = _pick(rng, _REVIEWS)
    decided = status != "pending"
    return {"room": row["room"], "platform": "discord", "room_id": row["room"].split(":", 1)[1],
            "room_kind": "channel", "room_name": row["room"], "source": "discord", "event_id": row["event_id"],
            "user_key": row["user_key"], "user_id": row["user_key"].split(":", 1)[1],
            "user_name": row["user_name"], "askers": "[]", "question": row["text"], "lang": row["lang"],
            "draft": row["answer"], "sources": row["sources"], "confidence": row["confidence"],
            "model": row["model"], "reasons": "money", "status": status,
            "final": row["answer"] if status in ("approved", "edited") else None,
            "decided_by": "discord:mod" if decided else None, "decided_by_name": "mod" if decided else None,
            "note": None, "message_id": row["reply_id"], "created_at": row["ts"], "expires_at": row["ts"] + 600,
            "decided_at": row["ts"] + 60 if decided else None}


def fill_synthetic(engine: sa.Engine, n: int, rooms: int = 5, viewers: int = 5000, seed: int = 0, *,
                   end: float | None = None, feedback_share: float = 0.05, review_share: float = 0.02,
                   progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Insert ``n`` questions ending at ``end`` (default now), with feedback events and reviews.

    Questions are evenly spaced over `SPAN_DAYS` in id order (as a live store
    writes them). Returns the rows written per table. The engine is migrated
    first, so a fresh SQLite URL works.
    """
    migrate(engine)
    rng = random.Random(seed)
    end = time.time() if end is None else end
    start = end - SPAN_DAYS * 86400
    step = (end - start) / max(n, 1)
    written = {"questions": 0, "events": 0, "reviews": 0}
    last_lead: dict[str, str] = {}
    vocab = _Vocabulary.build(rooms, viewers)
    for base in range(0, n, CHUNK):
        qrows, erows, rrows = [], [], []
        for i in range(base, min(n, base + CHUNK)):
            row = _question(i, start + i * step, rng, vocab, last_lead)
            qrows.append(row)
            if row["reply_id"] is not None and rng.random() < feedback_share / 0.6:
                erows.extend(_feedback(row, rng, viewers))
            if row["status"] != "merged" and rng.random() < review_share / 0.85:
                rrows.append(_review(row, rng))
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":  # 7 indexes on a million rows thrash the default 2 MB page cache
                conn.exec_driver_sql("PRAGMA cache_size=-262144")
            _insert(conn, questions, qrows)
            _insert(conn, events, erows)
            _insert(conn, reviews, rrows)
        written["questions"] += len(qrows)
        written["events"] += len(erows)
        written["reviews"] += len(rrows)
        if progress is not None:
            progress(len(qrows))
    return written


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))])


def bench_search(engine: sa.Engine, *, runs: int = 40, rooms: int = 5, viewers: int = 5000, seed: int = 1,
                 limit: int = 50) -> dict[str, dict[str, float]]:
    """p50/p95 ms of one `search` page per single filter (half first pages, half at a random cursor).

    Filter values are drawn like real use: any room, a viewer who asked
    something (heavy or one-off), every status (review statuses included),
    a ``since``/``until`` anywhere in the span, any word of `WORDS` (common
    and rare) and every model. The first page of each filter is run once
    before timing (a warm cache, as a dashboard has).
    """
    from brain.insights.interaction_log import QUESTION_STATUSES, REVIEW_STATUSES, Cursor, LogFilter, search

    rng = random.Random(seed)
    with engine.connect() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(questions.c.ts), sa.func.max(questions.c.ts))).one()
        top = conn.execute(sa.select(sa.func.max(questions.c.id))).scalar_one()
    statuses = QUESTION_STATUSES + REVIEW_STATUSES

    def viewer() -> str:
        with engine.connect() as conn:
            pick = sa.select(questions.c.user_key).where(questions.c.id == rng.randint(1, top))
            return conn.execute(pick).scalar_one()

    makers: dict[str, Callable[[], LogFilter]] = {
        "none": lambda: LogFilter(),
        "room": lambda: LogFilter(room=f"discord:room{rng.randrange(rooms)}"),
        "viewer": lambda: LogFilter(viewer=viewer()),
        "status": lambda: LogFilter(status=rng.choice(statuses)),
        "since": lambda: LogFilter(since=rng.uniform(lo, hi)),
        "until": lambda: LogFilter(until=rng.uniform(lo, hi)),
        "text": lambda: LogFilter(text=rng.choice(WORDS)),
        "text (no match)": lambda: LogFilter(text=f"no such words {rng.random()}"),
        "model": lambda: LogFilter(model=rng.choice([m for m, _ in MODELS])),
    }
    out: dict[str, dict[str, float]] = {}
    for name, make in makers.items():
        search(engine, make(), limit=limit)
        samples: list[float] = []
        for k in range(runs):
            flt = make()
            before = None if k % 2 == 0 else Cursor(rng.uniform(lo, hi), top + 1)
            t0 = time.perf_counter()
            search(engine, flt, limit=limit, before=before)
            samples.append((time.perf_counter() - t0) * 1000)
        p50, p95 = _percentiles(samples)
        out[name] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "max_ms": round(max(samples), 1)}
    return out


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        from brain.store.event_store import Store

        store = Store(f"sqlite:///{Path(tmp) / 'log.db'}")
        try:
            t0 = time.perf_counter()
            written = fill_synthetic(store.engine, n)
            fill_s = time.perf_counter() - t0
            print(f"filled {written} in {fill_s:.1f} s")
            result = bench_search(store.engine)
        finally:
            store.close()
    print("| filter | p50 ms | p95 ms | max ms |\n|---|---|---|---|")
    for name, figures in result.items():
        print(f"| {name} | {figures['p50_ms']} | {figures['p95_ms']} | {figures['max_ms']} |")
    print(json.dumps({"rows": n, "fill_seconds": round(fill_s, 1), **written, "search": result}))


if __name__ == "__main__":
    main(sys.argv[1:])
