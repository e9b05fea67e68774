"""The approval queue: which answers wait for a moderator, and the durable queue they wait in.

Two halves, both platform-free:

* `review_reasons` decides whether an answer may post at once. Answers about
  money (prices, refunds, coupons, payment) cost the host most when wrong,
  answers the retrieval is unsure of are the likeliest to be wrong, and
  answers to flagged viewers are where abuse hides; the room's mode
  (``auto``, ``review-risky``, ``review-all``) says which of these wait.
* `ReviewQueue` keeps the waiting answers in the database, not in memory, so
  a crash while an item waits keeps it for after the restart. Each decision
  is one conditional ``UPDATE ... WHERE status = 'pending'``: when two
  moderators approve the same item at once, exactly one of them wins and the
  answer is posted once.

Writes here are synchronous single-row transactions (a few per minute, each
wanted on disk before the viewer is told "a moderator is checking"), unlike
the event log's batched writer. Callers on an event loop run them in a thread.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

import sqlalchemy as sa

from brain.store.schema import flagged_viewers, moderation_actions, reviews

__all__ = ["ReviewMode", "REVIEW_MODES", "review_reasons", "touches_money", "Review", "Asker", "ReviewQueue",
           "Decision", "FlagList", "DECIDED", "ReviewError"]

ReviewMode = Literal["auto", "review-risky", "review-all"]
REVIEW_MODES: tuple[str, ...] = ("auto", "review-risky", "review-all")
#: The statuses a pending item may move to, once.
DECIDED: tuple[str, ...] = ("approved", "edited", "rejected", "expired")
#: How a decision is named in the moderation log (the command a moderator typed).
_ACTION_NAMES = {"approved": "approve", "edited": "edit", "rejected": "reject", "expired": "expire"}

_MONEY_EN = re.compile(
    r"\b(price[sd]?|pricing|cost[s]?|costing|how much|refund(s|ed|ing)?|money ?back|coupon(s)?|discount(s|ed)?|"
    r"promo ?code|voucher(s)?|pay(s|ing|ment|ments|pal)?|paid|charge[sd]?|billing|invoice|installment(s)?|"
    r"subscription|cheap(er|est)?|expensive|dollars?|usd|eur|rmb|yuan|credit card|card|checkout|"
    r"deposit|fee(s)?|tax(es)?|free shipping|sale)\b(?!\s+attention)", re.IGNORECASE)
_MONEY_ZH = re.compile(r"多少钱|价格|价钱|几块|元|块钱|退款|退钱|退货|优惠券?|折扣|打折|满减|红包|券|付款|支付|"
                       r"付钱|分期|花呗|转账|收费|费用|包邮|便宜|贵|定金|订金|尾款|发票|微信支付|支付宝")
_CURRENCY = re.compile(r"[$¥€£]\s?\d|\d\s?(元|块|usd|rmb|eur)\b", re.IGNORECASE)


def touches_money(*texts: str | None) -> bool:
    """Whether any text talks about prices, refunds, coupons or payment (English or Chinese)."""
    for text in texts:
        if text and (_MONEY_EN.search(text) or _MONEY_ZH.search(text) or _CURRENCY.search(text)):
            return True
    return False


def review_reasons(mode: ReviewMode, *, question: str, answer: str | None, confidence: float | None,
                   min_confidence: float, flagged: bool, disputed: bool = False) -> tuple[str, ...]:
    """Why this answer must wait for a moderator; empty: it may post now.

    ``answer`` None is an abstention: it never waits (telling a viewer "I'll
    pass that to the host" is never risky). ``disputed`` marks a question
    viewers recently voted down an answer to.
    """
    if mode == "auto" or answer is None:
        return ()
    reasons: list[str] = []
    if mode == "review-all":
        reasons.append("review-all")
    if touches_money(question, answer):
        reasons.append("money")
    if confidence is not None and confidence < min_confidence:
        reasons.append("low-confidence")
    if flagged:
        reasons.append("flagged-viewer")
    if disputed:
        reasons.append("disputed")
    return tuple(reasons)


@dataclass(frozen=True, slots=True)
class Asker:
    """Someone whose question the item answers (the lead, or a viewer merged into its burst)."""

    platform: str
    id: str
    name: str
    event_id: str = ""  # the message they asked in (their row of the interaction log)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True)
class Review:
    """One item of the queue, as stored."""

    id: int
    room: str
    platform: str
    room_id: str
    room_kind: str
    room_name: str
    source: str
    event_id: str
    user_key: str
    user_id: str
    user_name: str
    askers: tuple[Asker, ...]
    question: str
    lang: str
    draft: str | None
    sources: tuple[dict[str, Any], ...]
    confidence: float | None
    model: str | None
    reasons: tuple[str, ...]
    status: str
    final: str | None
    decided_by: str | None
    decided_by_name: str | None
    note: str | None
    message_id: str | None
    created_at: float
    expires_at: float
    decided_at: float | None

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @classmethod
    def from_row(cls, row: Any) -> "Review":
        m = row._mapping
        return cls(
            id=m["id"], room=m["room"], platform=m["platform"], room_id=m["room_id"], room_kind=m["room_kind"],
            room_name=m["room_name"], source=m["source"], event_id=m["event_id"], user_key=m["user_key"],
            user_id=m["user_id"], user_name=m["user_name"],
            askers=tuple(Asker(*a) for a in json.loads(m["askers"] or "[]")),
            question=m["question"], lang=m["lang"], draft=m["draft"],
            sources=tuple(json.loads(m["sources"] or "[]")), confidence=m["confidence"], model=m["model"],
            reasons=tuple(r for r in (m["reasons"] or "").split(",") if r), status=m["status"], final=m["final"],
            decided_by=m["decided_by"], decided_by_name=m["decided_by_name"], note=m["note"],
            message_id=m["message_id"], created_at=m["created_at"], expires_at=m["expires_at"],
            decided_at=m["decided_at"])


@dataclass(frozen=True, slots=True)
class Decision:
    """A moderator's (or the clock's) decision on one item."""

    action: Literal["approved", "edited", "rejected", "expired"]
    actor_key: str
    actor_name: str
    text: str | None = None  # the edited answer (edited), the text to post otherwise filled by the queue
    note: str | None = None  # a rejection's reason


class ReviewError(ValueError):
    """A moderator's request the queue cannot carry out; the message says why (unknown id, empty edit)."""


@dataclass
class _Now:
    clock: Any = field(default=time.time)

    def __call__(self) -> float:
        return float(self.clock())


class ReviewQueue:
    """The durable approval queue on one SQLAlchemy engine (the store's)."""

    def __init__(self, engine: sa.Engine, *, clock: Any = time.time) -> None:
        self.engine = engine
        self.now = _Now(clock)

    # ---- adding ----------------------------------------------------------------------

    def add(self, *, room: str, platform: str, room_id: str, room_kind: str, room_name: str, source: str,
            event_id: str, asker: Asker, others: Sequence[Asker], question: str, lang: str, draft: str | None,
            sources: Sequence[dict[str, Any]], confidence: float | None, model: str | None,
            reasons: Sequence[str], timeout: float) -> Review:
        """Put one answer in the queue, committed before this returns."""
        now = self.now()
        row = {
            "room": room, "platform": platform, "room_id": room_id, "room_kind": room_kind,
            "room_name": room_name, "source": source, "event_id": event_id, "user_key": asker.key,
            "user_id": asker.id, "user_name": asker.name,
            "askers": _askers_json(others),
            "question": question, "lang": lang, "draft": draft,
            "sources": json.dumps(list(sources), ensure_ascii=False), "confidence": confidence, "model": model,
            "reasons": ",".join(reasons), "status": "pending", "created_at": now, "expires_at": now + timeout,
        }
        with self.engine.begin() as conn:
            new_id = conn.execute(reviews.insert().values(**row)).inserted_primary_key[0]
            return Review.from_row(conn.execute(sa.select(reviews).where(reviews.c.id == new_id)).one())

    # ---- reading ---------------------------------------------------------------------

    def get(self, review_id: int) -> Review | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(reviews).where(reviews.c.id == review_id)).first()
        return Review.from_row(row) if row is not None else None

    def pending(self, *, room: str | None = None, limit: int = 100) -> list[Review]:
        """Waiting items, oldest first (the one closest to timing out leads)."""
        query = sa.select(reviews).where(reviews.c.status == "pending")
        if room is not None:
            query = query.where(reviews.c.room == room)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(reviews.c.created_at, reviews.c.id).limit(limit)).all()
        return [Review.from_row(r) for r in rows]

    def recent(self, *, room: str | None = None, limit: int = 50) -> list[Review]:
        """Decided items, newest decision first (the dashboard's "just handled")."""
        query = sa.select(reviews).where(reviews.c.status != "pending")
        if room is not None:
            query = query.where(reviews.c.room == room)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(reviews.c.decided_at.desc(), reviews.c.id.desc()).limit(limit)).all()
        return [Review.from_row(r) for r in rows]

    def depth(self, room: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(reviews).where(reviews.c.status == "pending")
        if room is not None:
            query = query.where(reviews.c.room == room)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def depth_by_room(self) -> dict[str, int]:
        query = (sa.select(reviews.c.room, sa.func.count()).where(reviews.c.status == "pending")
                 .group_by(reviews.c.room))
        with self.engine.connect() as conn:
            return {room: int(n) for room, n in conn.execute(query)}

    def due(self, now: float | None = None) -> list[Review]:
        """Pending items whose time is up."""
        now = self.now() if now is None else now
        query = (sa.select(reviews).where(reviews.c.status == "pending", reviews.c.expires_at <= now)
                 .order_by(reviews.c.expires_at))
        with self.engine.connect() as conn:
            return [Review.from_row(r) for r in conn.execute(query)]

    # ---- deciding --------------------------------------------------------------------

    def decide(self, review_id: int, decision: Decision, *, room: str | None = None) -> Review | None:
        """Move a pending item to its decision; the item if this call won, None if it was already decided.

        ``room`` limits the decision to items of one room (a moderator in a
        room decides that room's items). Raises `ReviewError` for an unknown
        id or an empty edit.
        """
        if decision.action == "edited" and not (decision.text or "").strip():
            raise ReviewError("an edit needs the answer text: /edit <id> <answer>")
        current = self.get(review_id)
        if current is None or (room is not None and current.room != room):
            raise ReviewError(f"no review #{review_id}" + (" in this room" if room is not None else ""))
        now = self.now()
        if decision.action == "edited":
            final: str | None = decision.text.strip()  # type: ignore[union-attr]
        elif decision.action == "approved":
            final = current.draft
        else:
            final = None
        with self.engine.begin() as conn:
            won = conn.execute(
                reviews.update().where(reviews.c.id == review_id, reviews.c.status == "pending")
                .values(status=decision.action, final=final, decided_by=decision.actor_key,
                        decided_by_name=decision.actor_name, note=decision.note, decided_at=now)).rowcount
            if won != 1:
                return None
            conn.execute(moderation_actions.insert().values(
                room=current.room, review_id=review_id, action=_ACTION_NAMES[decision.action],
                actor_key=decision.actor_key, actor_name=decision.actor_name, target_user=current.user_key,
                detail=decision.note if decision.action == "rejected" else final, ts=now))
            row = conn.execute(sa.select(reviews).where(reviews.c.id == review_id)).one()
        return Review.from_row(row)

    def add_asker(self, review_id: int, asker: Asker) -> Review | None:
        """Someone else asked the same: add them to a pending item; the item as it is now (None: unknown)."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(reviews).where(reviews.c.id == review_id)).first()
            if row is None:
                return None
            current = Review.from_row(row)
            if not current.pending or asker.key in {a.key for a in current.askers} or asker.key == current.user_key:
                return current
            askers = _askers_json(current.askers + (asker,))
            conn.execute(reviews.update().where(reviews.c.id == review_id, reviews.c.status == "pending")
                         .values(askers=askers))
            return Review.from_row(conn.execute(sa.select(reviews).where(reviews.c.id == review_id)).one())

    def mark_posted(self, review_id: int, message_id: str | None) -> None:
        """Remember the platform id of the posted answer (feedback on it finds the item)."""
        with self.engine.begin() as conn:
            conn.execute(reviews.update().where(reviews.c.id == review_id).values(message_id=message_id))


def _askers_json(askers: Iterable[Asker]) -> str:
    return json.dumps([[a.platform, a.id, a.name, a.event_id] for a in askers], ensure_ascii=False)


class FlagList:
    """Flagged viewers: every answer to them waits for a moderator. Cached in memory, kept in the database."""

    def __init__(self, engine: sa.Engine, *, clock: Any = time.time) -> None:
        self.engine = engine
        self.now = _Now(clock)
        with engine.connect() as conn:
            self._flagged = {r.user_key: r.user_name for r in conn.execute(sa.select(flagged_viewers))}

    def __contains__(self, user_key: object) -> bool:
        return user_key in self._flagged

    def __len__(self) -> int:
        return len(self._flagged)

    def names(self) -> dict[str, str]:
        return dict(self._flagged)

    def flag(self, user_key: str, user_name: str, *, actor_key: str, actor_name: str, reason: str | None = None,
             room: str | None = None) -> bool:
        """Flag a viewer; False if they already were."""
        if user_key in self._flagged:
            return False
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(flagged_viewers.insert().values(user_key=user_key, user_name=user_name, reason=reason,
                                                         flagged_by=actor_key, ts=now))
            conn.execute(moderation_actions.insert().values(room=room, action="flag", actor_key=actor_key,
                                                            actor_name=actor_name, target_user=user_key,
                                                            detail=reason, ts=now))
        self._flagged[user_key] = user_name
        return True

    def unflag(self, user_key: str, *, actor_key: str, actor_name: str, room: str | None = None) -> bool:
        """Clear a flag; False if the viewer was not flagged."""
        if user_key not in self._flagged:
            return False
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(flagged_viewers.delete().where(flagged_viewers.c.user_key == user_key))
            conn.execute(moderation_actions.insert().values(room=room, action="unflag", actor_key=actor_key,
                                                            actor_name=actor_name, target_user=user_key, ts=now))
        self._flagged.pop(user_key, None)
        return True

    def forget(self, user_keys: Iterable[str]) -> None:
        """Drop cached flags whose rows were deleted elsewhere (a viewer's data deletion)."""
        for key in user_keys:
            self._flagged.pop(key, None)
