"""Moderation in the room: risky answers wait for a moderator; corrections become curated answers.

`LiveModeration` is the gate `Answering` asks before posting an answer. An
answer that must wait (`brain.moderation.review.review_reasons`: money, low
confidence, a flagged viewer, a question viewers disputed) goes into the
durable `ReviewQueue`, and the viewer is told a moderator is checking. A
moderator decides in the room (``/review``, ``/approve``, ``/reject``,
``/edit``) or in the web dashboard; both call the same methods here, so the
rules are in one place:

* the decision is one conditional UPDATE: two moderators at once post once;
* the viewer (and everyone merged into the burst) gets the answer the moment
  it is approved, through the adapter that delivered the question, even
  after a restart (the reply route is in the row);
* an item nobody decides within ``timeout`` gets the abstention message;
* an edited answer is appended to the curated-answers file in the knowledge
  folder and indexed at once, so the next viewer asking the same gets it
  instantly, ahead of whatever retrieval would find.

Viewers' 👎 on an answer clears the answer cache and sends similar questions
to review for ``dispute_minutes``: a bad answer is not repeated unchecked.
Viewers whose lines the message classifier calls spam or abuse
``auto_flag_strikes`` times within ``auto_flag_window`` are flagged (by
"liveroom"), so answers to them wait too; a moderator can /unflag them.
Classification runs off the loop in batches, every half second at most.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol

from adapters.commands import CommandSpec, Param
from adapters.model import FeedbackEvent, MessageEvent, Reply, Role, Room, User
from bots.runtime.config import ModerationSection
from bots.runtime.counters import Counters
from bots.runtime.listeners import VIEWER_LINES, Wants
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import CommandContext
from brain.answers.compose import ABSTAIN_TEXT, Answer
from brain.moderation.curated import CuratedEntry
from brain.moderation.review import Asker, Decision, FlagList, Review, ReviewError, ReviewQueue, review_reasons
from brain.store.question_rows import question_row
from brain.text.plural import counted
from brain.text.questions import Question
from brain.text.similarity import similarity_terms, text_overlap

if TYPE_CHECKING:  # pragma: no cover
    from bots.runtime.brain_worker import BrainWorker
    from bots.runtime.router import Router
    from brain.store.event_store import Store

__all__ = ["LiveModeration", "ModerationStats", "Outcome", "HOLDING_TEXT", "review_json",
           "REVIEW", "APPROVE", "REJECT", "EDIT", "FLAG", "UNFLAG"]

log = logging.getLogger(__name__)

HOLDING_TEXT = {
    "en": "A moderator is checking the answer to your question; it will be here shortly.",
    "zh": "管理员正在核对这个问题的答案，请稍等。",
}
#: The bot's own name in the moderation log when the clock decides (a timeout).
_CLOCK_ACTOR = ("liveroom", "timeout")
#: Lines the abuse watch classifies in one batch at most; a flood beyond it waits for the next batch.
_ABUSE_BATCH = 2000
_ABUSE_INTERVAL = 0.5
#: Overlap with a disputed question at which a new question counts as the same one.
_DISPUTE_OVERLAP = 0.5
_MAX_MENTIONS = 8

_ID = Param("id", type="int", description="the review number /review shows")
REVIEW = CommandSpec("review", "Answers waiting for a moderator in this room", role=Role.MOD)
APPROVE = CommandSpec("approve", "Post a waiting answer as it is", params=(_ID,), role=Role.MOD)
REJECT = CommandSpec("reject", "Drop a waiting answer; the viewer hears it goes to the host",
                     params=(_ID, Param("reason", required=False, rest=True, description="why (for the log)")),
                     role=Role.MOD)
EDIT = CommandSpec("edit", "Correct a waiting answer and post it; it becomes a curated answer",
                   params=(_ID, Param("text", rest=True, description="the corrected answer")), role=Role.MOD)
FLAG = CommandSpec("flag", "Make every answer to a viewer wait for a moderator",
                   params=(Param("viewer", description="their name or @name"),
                           Param("reason", required=False, rest=True, description="why (for the log)")),
                   role=Role.MOD)
UNFLAG = CommandSpec("unflag", "Let answers to a flagged viewer post again",
                     params=(Param("viewer", description="their name or @name"),), role=Role.MOD)


class _Clearable(Protocol):
    def clear(self) -> None: ...


class GatedAnswers(Protocol):
    """What moderation needs of the answering feature: to sit in front of its posts, and to clear
    its cache of answers when one is disputed or corrected (`bots.features.answering.Answering`)."""

    gate: Any

    @property
    def cache(self) -> _Clearable: ...


@dataclass(slots=True)
class ModerationStats(Counters):
    """What moderation did since start-up (metrics, replays)."""

    queued: int = 0
    approved: int = 0
    edited: int = 0
    rejected: int = 0
    expired: int = 0
    curated: int = 0
    feedback_up: int = 0
    feedback_down: int = 0
    dup_decisions: int = 0
    post_errors: int = 0
    abusive_lines: int = 0
    auto_flagged: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a moderator's request did, in words they can be shown."""

    ok: bool
    message: str
    review: Review | None = None
    message_id: str | None = None


def review_json(review: Review) -> dict[str, Any]:
    """A review as plain JSON (the dashboard's live updates)."""
    data = dataclasses.asdict(review)
    data["askers"] = [dataclasses.asdict(a) for a in review.askers]
    data["sources"] = list(review.sources)
    data["reasons"] = list(review.reasons)
    return data


def _asker(event: MessageEvent) -> Asker:
    user = event.author
    return Asker(user.platform, user.id, user.name, event.event_id)


class LiveModeration:
    """The approval gate, its queue, flags, and the moderation commands of every room."""

    def __init__(self, store: "Store", settings: ModerationSection, *, brain: "BrainWorker | None" = None,
                 clock: Callable[[], float] = time.time, poll_interval: float = 1.0) -> None:
        self.store = store
        self.settings = settings
        self.brain = brain
        self.clock = clock
        self.poll_interval = poll_interval
        self.queue = ReviewQueue(store.engine, clock=clock)
        self.flags = FlagList(store.engine, clock=clock)
        self.stats = ModerationStats()
        self._router: Router | None = None
        self._answering: GatedAnswers | None = None
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._disputed: dict[str, list[tuple[frozenset[str], float]]] = {}
        self._expiry: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._min_confidence = 0.0
        self._lines: list[MessageEvent] = []  # viewer chat waiting for the abuse watch
        self._strikes: dict[str, list[float]] = {}
        self._watch: asyncio.Task[None] | None = None
        self._classifier: Any = None
        #: Called with a viewer's key after their data was deleted (the audience graph forgets them).
        self._forgetters: list[Callable[[str], Awaitable[Any]]] = []
        #: Per room, the mod or host who spoke last, and the adapter they spoke through: who hears of new items.

    # ---- wiring ----------------------------------------------------------------------

    def attach(self, router: "Router", registry: CommandRegistry, answering: "GatedAnswers | None") -> None:
        self._router = router
        self._answering = answering
        if answering is not None:
            answering.gate = self
            self._min_confidence = self.settings.review_confidence
        router.add_listener(self._watch_line, VIEWER_LINES)
        router.add_listener(self.on_feedback, Wants.of(kinds=("feedback",)))
        registry.add(REVIEW, self._review_command)
        registry.add(APPROVE, self._approve_command)
        registry.add(REJECT, self._reject_command)
        registry.add(EDIT, self._edit_command)
        registry.add(FLAG, self._flag_command)
        registry.add(UNFLAG, self._unflag_command)

    async def start(self) -> None:
        """Begin expiring overdue items (also those that timed out while the bot was down)."""
        if self._expiry is None or self._expiry.done():
            self._expiry = asyncio.create_task(self._expire_loop(), name="moderation-expiry")

    async def drain(self) -> None:
        """Stop the expiry loop and finish posting what was decided; pending items stay queued."""
        if self._expiry is not None:
            self._expiry.cancel()
            await asyncio.gather(self._expiry, return_exceptions=True)
            self._expiry = None
        if self._watch is not None:
            await asyncio.gather(self._watch, return_exceptions=True)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def mode_for(self, room_key: str) -> str:
        return self.settings.rooms.get(room_key, self.settings.mode)

    # ---- the gate (called by Answering) ----------------------------------------------

    async def hold(self, lead: MessageEvent, question: Question, answer: Answer,
                   others: list[MessageEvent]) -> int | None:
        """Queue the answer if it must wait, telling the viewer; the review id, or None to post it now."""
        if answer.reason == "curated":
            return None  # a moderator approved this answer already (also when it comes from the cache)
        reasons = review_reasons(self.mode_for(lead.room.key), question=question.text,  # type: ignore[arg-type]
                                 answer=answer.text, confidence=answer.confidence,
                                 min_confidence=self._min_confidence, flagged=lead.author.key in self.flags,
                                 disputed=self._is_disputed(lead.room.key, question.text))
        if not reasons:
            return None
        room = lead.room
        askers = [_asker(e) for e in others if e.author.key != lead.author.key]
        review = await asyncio.to_thread(
            self.queue.add, room=room.key, platform=room.platform, room_id=room.id, room_kind=room.kind,
            room_name=room.name, source=lead.source, event_id=lead.event_id, asker=_asker(lead),
            others=askers, question=question.text, lang=answer.lang, draft=answer.render(),
            sources=[{"chunk_id": c.chunk_id, "source": c.source, "title": c.title} for c in answer.citations],
            confidence=answer.confidence, model=answer.model, reasons=reasons, timeout=self.settings.timeout)
        self.stats.queued += 1
        self._publish("added", review)
        if self.settings.holding_message and self._router is not None:
            await self._router.send(Reply(room=room, text=HOLDING_TEXT.get(answer.lang, HOLDING_TEXT["en"]),
                                          reply_to=lead.event_id, to_user=lead.author, priority=2),
                                    source=lead.source)
        await self._tell_staff(review)
        return review.id

    async def _tell_staff(self, review: Review) -> None:
        """Whisper a new item to the room's most recently active mod or host, with what to type."""
        staff = self._router.contacts.staff(review.room) if self._router is not None else None
        if not self.settings.notify_mods or staff is None or self._router is None:
            return
        text = (f"Waiting for review #{review.id} [{', '.join(review.reasons)}] {review.user_name}: "
                f"{review.question}\n  draft: {review.draft}\n"
                f"/approve {review.id} · /edit {review.id} <answer> · /reject {review.id} [reason]")
        await self._router.whisper(staff, text, priority=2)

    async def join(self, review_id: int, event: MessageEvent) -> None:
        """A viewer asked the same while the answer waits: they get it too (or at once, if it was decided)."""
        review = await asyncio.to_thread(self.queue.add_asker, review_id, _asker(event))
        if review is None or review.pending:
            return
        await self._post(review, only=[_asker(event)], reply_to=event.event_id)

    # ---- deciding (commands and the dashboard) ---------------------------------------

    async def approve(self, review_id: int, *, actor_key: str, actor_name: str,
                      room: str | None = None) -> Outcome:
        return await self._decide(review_id, Decision("approved", actor_key, actor_name), room)

    async def edit(self, review_id: int, text: str, *, actor_key: str, actor_name: str,
                   room: str | None = None) -> Outcome:
        return await self._decide(review_id, Decision("edited", actor_key, actor_name, text=text), room)

    async def reject(self, review_id: int, reason: str | None, *, actor_key: str, actor_name: str,
                     room: str | None = None) -> Outcome:
        return await self._decide(review_id, Decision("rejected", actor_key, actor_name, note=reason), room)

    async def flag(self, user_key: str, user_name: str, *, actor_key: str, actor_name: str,
                   reason: str | None = None, room: str | None = None) -> bool:
        return await asyncio.to_thread(self.flags.flag, user_key, user_name, actor_key=actor_key,
                                       actor_name=actor_name, reason=reason, room=room)

    async def unflag(self, user_key: str, *, actor_key: str, actor_name: str, room: str | None = None) -> bool:
        return await asyncio.to_thread(self.flags.unflag, user_key, actor_key=actor_key, actor_name=actor_name,
                                       room=room)

    def on_forget(self, forget: Callable[[str], Awaitable[Any]]) -> None:
        """Also run ``forget(user_key)`` when a viewer's data is deleted (in-memory state elsewhere)."""
        self._forgetters.append(forget)

    async def forget_viewer(self, user_key: str, *, actor_key: str, actor_name: str) -> dict[str, int]:
        """Delete everything stored about a viewer (a moderator's privacy request), here and in memory."""
        from brain.store.retention import delete_viewer

        counts = await asyncio.to_thread(delete_viewer, self.store.engine, user_key, actor_key=actor_key,
                                         actor_name=actor_name)
        self.flags.forget([user_key])
        self._strikes.pop(user_key, None)
        for forget in self._forgetters:
            await forget(user_key)
        return counts

    def curated_entries(self) -> list[CuratedEntry]:
        curated = self.brain.curated if self.brain is not None else None
        return curated.entries if curated is not None else []

    async def _decide(self, review_id: int, decision: Decision, room: str | None) -> Outcome:
        try:
            review = await asyncio.to_thread(self.queue.decide, review_id, decision, room=room)
        except ReviewError as exc:
            return Outcome(False, str(exc))
        if review is None:
            self.stats.dup_decisions += 1
            current = await asyncio.to_thread(self.queue.get, review_id)
            who = f" by {current.decided_by_name}" if current is not None and current.decided_by_name else ""
            status = current.status if current is not None else "decided"
            return Outcome(False, f"#{review_id} was already {status}{who}; nothing posted", current)
        setattr(self.stats, review.status, getattr(self.stats, review.status) + 1)
        self._publish("decided" if review.status != "expired" else "expired", review)
        message_id = await self._post(review)
        curated_note = ""
        if review.status == "edited" and self.settings.curate_edits:
            curated_note = await self._curate(review)
        verb = {"approved": "approved and posted", "edited": "edited and posted",
                "rejected": "rejected; the viewer was told it goes to the host",
                "expired": "expired; the viewer was told it goes to the host"}[review.status]
        sent = "" if message_id is not None else " (but the message could not be sent)"
        return Outcome(True, f"#{review.id} {verb}{sent}.{curated_note}", review, message_id)

    # ---- posting ---------------------------------------------------------------------

    async def _post(self, review: Review, *, only: list[Asker] | None = None,
                    reply_to: str | None = None) -> str | None:
        """Tell the askers the decision: the answer, or the abstention message."""
        if self._router is None:
            return None
        answered = review.status in ("approved", "edited") and bool(review.final)
        body = review.final if answered else ABSTAIN_TEXT.get(review.lang, ABSTAIN_TEXT["en"])
        room = Room(review.platform, review.room_id, review.room_kind, review.room_name)
        lead = User(review.platform, review.user_id, review.user_name)
        people = [User(a.platform, a.id, a.name) for a in (only if only is not None else review.askers)]
        people = [p for p in dict.fromkeys(people) if p.key != lead.key or only is not None][:_MAX_MENTIONS]
        prefix = " ".join(f"@{p.name}" for p in people)
        text = f"{prefix} {body}" if prefix else body
        reply = Reply(room=room, text=text, reply_to=reply_to or review.event_id,
                      to_user=lead if only is None else people[0] if people else lead,
                      mentions=tuple(people), priority=2, feedback=answered)
        message_id = await self._router.send(reply, source=review.source)
        if message_id is None:
            self.stats.post_errors += 1
        if only is None:
            await asyncio.to_thread(self.queue.mark_posted, review.id, message_id)
        self._record(review, body, answered, message_id, late=only)
        return message_id

    def _record(self, review: Review, body: str | None, answered: bool, message_id: str | None,
                late: list[Asker] | None = None) -> None:
        """The interaction log's rows: the lead's outcome and everyone merged (or only ``late`` askers)."""
        model = "moderator" if review.status == "edited" else (review.model if answered else "none")
        common = dict(room=review.room, lang=review.lang, sources=list(review.sources) if answered else [],
                      confidence=review.confidence, latency_ms=(time.time() - review.created_at) * 1000,
                      model=model, ts=review.created_at)
        if late is None:
            self.store.record_question(question_row(
                event_id=review.event_id, user_key=review.user_key, user_name=review.user_name,
                text=review.question, status="answered" if answered else "abstained", answer=body,
                reply_id=message_id, **common))
        for asker in review.askers if late is None else late:
            self.store.record_question(question_row(
                event_id=asker.event_id, user_key=asker.key, user_name=asker.name,
                text=review.question, status="merged", answer=None, merged_into=review.event_id, **common))

    async def _curate(self, review: Review) -> str:
        """Append the edited answer to the curated file, index it, and forget cached answers."""
        brain = self.brain
        if brain is None or brain.curated is None or not review.final:
            return " (not saved as a curated answer: the knowledge base is not loaded)"
        try:
            entry = await brain.run(functools.partial(
                brain.curated.add, [review.question], review.final, approved_by=review.decided_by or "",
                approved_by_name=review.decided_by_name or "", review_id=review.id))
            await brain.run(brain.reload)
        except (OSError, ValueError) as exc:
            log.error("could not save review #%d as a curated answer: %s", review.id, exc)
            return f" (not saved as a curated answer: {exc})"
        if self._answering is not None:
            self._answering.cache.clear()
        self.stats.curated += 1
        return f" Saved as curated answer #{entry.id} in {brain.curated.path.name}."

    async def _expire_loop(self) -> None:
        while True:
            try:
                for review in await asyncio.to_thread(self.queue.due, self.clock()):
                    await self._decide(review.id, Decision("expired", *_CLOCK_ACTOR), None)
            except Exception:  # noqa: BLE001 - a database hiccup delays expiry, never ends it
                log.exception("moderation: could not expire overdue reviews")
            await asyncio.sleep(self.poll_interval)

    # ---- feedback and disputes -------------------------------------------------------

    async def on_feedback(self, event: FeedbackEvent, router: "Router") -> None:
        """Viewers' 👍/👎 on the bot's answers: a 👎 disputes the answer for a while."""
        row = await asyncio.to_thread(self.store.question_for_reply, event.target)
        if event.value > 0:
            self.stats.feedback_up += 1
            return None
        self.stats.feedback_down += 1
        if row is None:
            return None
        until = self.clock() + self.settings.dispute_minutes * 60
        self._disputed.setdefault(row["room"], []).append((similarity_terms(row["text"]), until))
        if self._answering is not None:
            self._answering.cache.clear()  # the disliked answer must not be served from the cache again
        return None

    async def _watch_line(self, event: MessageEvent, router: "Router") -> None:
        """Viewers' chat, gathered for the abuse watch."""
        if self.settings.auto_flag_strikes <= 0 or event.author.key in self.flags:
            return
        self._lines.append(event)
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._classify_lines(), name="moderation-abuse-watch")

    async def _classify_lines(self) -> None:
        """Classify the lines gathered meanwhile in one batch off the loop; flag repeat offenders."""
        while self._lines:
            if len(self._lines) < _ABUSE_BATCH:
                await asyncio.sleep(_ABUSE_INTERVAL)  # gather what else arrives meanwhile
            batch, self._lines = self._lines[:_ABUSE_BATCH], self._lines[_ABUSE_BATCH:]
            try:
                labels = await asyncio.to_thread(self._classify, [e.text for e in batch])
            except Exception:  # noqa: BLE001 - the watch is a safety net, never a reason to stop the room
                log.exception("moderation: the abuse watch could not classify %d lines", len(batch))
                continue
            for event, abusive in zip(batch, labels):
                if abusive:
                    await self._strike(event)

    def _classify(self, texts: list[str]) -> list[bool]:
        from brain.chat.classify import MessageClassifier, is_abuse

        if self._classifier is None:
            self._classifier = MessageClassifier(explain=False)
        return [is_abuse(label) for label in self._classifier.classify_many(texts)]

    async def _strike(self, event: MessageEvent) -> None:
        self.stats.abusive_lines += 1
        key = event.author.key
        now = event.ts.timestamp()
        strikes = [t for t in self._strikes.get(key, []) if now - t <= self.settings.auto_flag_window] + [now]
        self._strikes[key] = strikes
        if len(strikes) < self.settings.auto_flag_strikes or key in self.flags:
            return
        reason = (f"{counted(len(strikes), 'spam/abuse message')} in {self.settings.auto_flag_window:g} s, "
                  f"e.g. {event.text[:80]!r}")
        if await self.flag(key, event.author.name, actor_key="liveroom", actor_name="abuse watch", reason=reason,
                           room=event.room.key):
            self.stats.auto_flagged += 1
            self._strikes.pop(key, None)

    def _is_disputed(self, room: str, question: str) -> bool:
        entries = self._disputed.get(room)
        if not entries:
            return False
        now = self.clock()
        entries[:] = [(t, until) for t, until in entries if until > now]
        terms = similarity_terms(question)
        return any(text_overlap(terms, t) >= _DISPUTE_OVERLAP for t, _ in entries)

    # ---- live updates ----------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue of changes (``{"type": "added"|"decided"|"expired", "review": {...}}``) for live pages."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=256)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)

    def _publish(self, kind: str, review: Review) -> None:
        message = {"type": kind, "review": review_json(review)}
        for q in list(self._subscribers):
            try:
                q.put_nowait(message)
            except asyncio.QueueFull:  # a stalled page misses updates; it reloads, the bot goes on
                pass

    # ---- commands --------------------------------------------------------------------

    async def _review_command(self, context: CommandContext) -> str:
        room = context.event.room.key
        items = await asyncio.to_thread(self.queue.pending, room=room, limit=20)
        if not items:
            return f"Nothing waits for review in this room (mode: {self.mode_for(room)})."
        now = self.clock()
        lines = [f"{counted(len(items), 'answer')} waiting (mode: {self.mode_for(room)}):"]
        for r in items:
            left = max(0, int(r.expires_at - now))
            lines.append(f"  #{r.id} [{', '.join(r.reasons)}] {r.user_name}: {r.question}")
            lines.append(f"      draft: {r.draft}  ({left // 60}m{left % 60:02d}s left)")
        lines.append("/approve <id>, /edit <id> <answer>, /reject <id> [reason]")
        return "\n".join(lines)

    async def _approve_command(self, context: CommandContext, id: int) -> str:  # noqa: A002 - the param's name
        actor = context.event.author
        return (await self.approve(id, actor_key=actor.key, actor_name=actor.name,
                                   room=context.event.room.key)).message

    async def _reject_command(self, context: CommandContext, id: int, reason: str | None = None) -> str:  # noqa: A002
        actor = context.event.author
        return (await self.reject(id, reason, actor_key=actor.key, actor_name=actor.name,
                                  room=context.event.room.key)).message

    async def _edit_command(self, context: CommandContext, id: int, text: str) -> str:  # noqa: A002
        actor = context.event.author
        return (await self.edit(id, text, actor_key=actor.key, actor_name=actor.name,
                                room=context.event.room.key)).message

    async def _flag_command(self, context: CommandContext, viewer: str, reason: str | None = None) -> str:
        found = await asyncio.to_thread(self.store.find_person, context.event.room.key, viewer)
        if found is None:
            return f"No one called {viewer} has spoken in this room."
        key, name = found
        actor = context.event.author
        if not await self.flag(key, name, actor_key=actor.key, actor_name=actor.name, reason=reason,
                               room=context.event.room.key):
            return f"{name} is already flagged."
        return f"Flagged {name}: every answer to them now waits for a moderator."

    async def _unflag_command(self, context: CommandContext, viewer: str) -> str:
        found = await asyncio.to_thread(self.store.find_person, context.event.room.key, viewer)
        key, name = found if found is not None else (viewer, viewer)
        actor = context.event.author
        if not await self.unflag(key, actor_key=actor.key, actor_name=actor.name, room=context.event.room.key):
            return f"{name} is not flagged."
        return f"Unflagged {name}."
