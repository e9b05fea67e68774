"""Rows of the interaction log (``brain.store.schema.questions``), built one way whoever decided.

Answering, moderation (an approved or edited review) and product recommendations all write
questions; one builder keeps their rows alike, so the log, the report and the dashboard read
every row the same way.
"""

from __future__ import annotations

import json
import time
from typing import Any, Sequence

__all__ = ["question_row"]


def question_row(*, room: str, event_id: str, user_key: str, user_name: str, text: str, lang: str, status: str,
                 answer: str | None, sources: Sequence[dict[str, Any]] | None, confidence: float | None,
                 latency_ms: float | None, model: str | None, ts: float, merged_into: str | None = None,
                 reply_id: str | None = None) -> dict[str, Any]:
    """One row of the interaction log (``brain.store.schema.questions``), whoever decided the answer."""
    return {"room": room, "event_id": event_id, "user_key": user_key, "user_name": user_name, "text": text,
            "lang": lang, "status": status, "answer": answer,
            "sources": json.dumps(list(sources), ensure_ascii=False) if sources is not None else None,
            "confidence": confidence, "latency_ms": latency_ms, "model": model, "merged_into": merged_into,
            "ts": ts, "answered_at": time.time(), "reply_id": reply_id}
