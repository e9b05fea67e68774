"""Pure translation between Bot API JSON and `adapters.model` (no I/O, no python-telegram-bot).

Everything here works on the JSON shapes the Bot API documents (an ``Update``
as a dict, ``sendMessage`` parameters as plain values), so it is tested on
recorded payloads and a malformed payload can only ever be ignored, never
crash the adapter. The adapter (`adapters.telegram.adapter`) does the I/O.

Mapping decisions:

- A chat is a room: ``Room.id = str(chat_id)`` (``kind`` "group" for groups
  and supergroups, "dm" for private chats). A forum topic is its own room:
  ``Room.id = f"{chat_id}/{thread_id}"``, ``kind`` "thread"; replies to it go
  back to that ``message_thread_id``. Reply threads of non-forum supergroups
  also carry a ``message_thread_id``; they are not topics and stay in the chat.
- ``event_id`` is the Telegram ``message_id`` as a string (unique per chat, which
  is what a reply quotes); callback queries use the query id.
- Offsets of Telegram entities count UTF-16 code units, not Python characters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from adapters.commands import CommandSpec, parse_command
from adapters.model import (CommandEvent, Event, FeedbackEvent, MemberEvent, MessageEvent, Reply, Role,
                            Room, User, utcnow)
from adapters.text import split_message

__all__ = [
    "PLATFORM",
    "MAX_MESSAGE_CHARS",
    "TranslateContext",
    "Destination",
    "MentionSpan",
    "OutgoingMessage",
    "to_events",
    "callback_query_id",
    "roles_from_admins",
    "destination_of",
    "dm_destination",
    "plan_messages",
    "feedback_data",
    "parse_feedback",
    "feedback_markup",
    "bot_commands",
]

log = logging.getLogger(__name__)

PLATFORM = "telegram"
MAX_MESSAGE_CHARS = 4096
MAX_COMMAND_DESCRIPTION = 256
FEEDBACK_PREFIX = "fb"
_FEEDBACK_LABELS = {1: "👍", -1: "👎"}
_GROUP_TYPES = frozenset({"group", "supergroup"})


@dataclass(frozen=True, slots=True)
class TranslateContext:
    """What translation needs to know about the receiving bot."""

    source: str  # the adapter instance name, carried by events as their reply route
    bot_username: str | None = None  # commands addressed to another bot are ignored


# ---- small readers -------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _int(value: Any) -> int | None:
    """An integer id; bools and other types are not ids."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _utf16_slice(text: str, offset: int, length: int) -> str:
    """The substring an entity covers (entity offsets count UTF-16 code units)."""
    encoded = text.encode("utf-16-le")
    return encoded[2 * offset:2 * (offset + length)].decode("utf-16-le", errors="ignore")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _timestamp(value: Any) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            pass
    return utcnow()


def _ignore(reason: str, update_id: Any) -> tuple[Event, ...]:
    log.debug("telegram: ignored update %s: %s", update_id, reason)
    return ()


# ---- people and rooms ----------------------------------------------------------------


def display_name(user: Mapping[str, Any]) -> str:
    """'first last', else the username, else the id: what people see in the chat."""
    full = " ".join(str(user[k]).strip() for k in ("first_name", "last_name") if user.get(k)).strip()
    return full or str(user.get("username") or user.get("id", ""))


def user_of(user: Any) -> User | None:
    """A `User` from a Bot API ``User`` object, or None if it has no id."""
    data = _mapping(user)
    uid = _int(data.get("id")) if data else None
    if data is None or uid is None:
        return None
    return User(PLATFORM, str(uid), display_name(data))


def _sender_of(message: Mapping[str, Any], chat: Mapping[str, Any]) -> User | None:
    """Who wrote a message. Messages sent on behalf of a chat come from that chat.

    An anonymous group administrator posts as the group itself
    (``sender_chat.id == chat.id``): that is a moderator by definition.
    """
    sender_chat = _mapping(message.get("sender_chat"))
    sender_id = _int(sender_chat.get("id")) if sender_chat else None
    if sender_chat is not None and sender_id is not None:
        role = Role.MOD if sender_id == chat.get("id") else Role.VIEWER
        name = str(sender_chat.get("title") or sender_chat.get("username") or sender_id)
        return User(PLATFORM, str(sender_id), name, role)
    return user_of(message.get("from"))


def _topic_id(message: Mapping[str, Any]) -> int | None:
    """The forum topic a message belongs to; None for the chat itself and for reply threads."""
    if message.get("is_topic_message") is not True:
        return None
    return _int(message.get("message_thread_id"))


def _topic_name(message: Mapping[str, Any]) -> str:
    """A topic's name when the payload carries it (the topic's creation message)."""
    for candidate in (message, _mapping(message.get("reply_to_message")) or {}):
        created = _mapping(candidate.get("forum_topic_created"))
        if created and created.get("name"):
            return str(created["name"])
    return ""


def room_of(chat: Mapping[str, Any], message: Mapping[str, Any]) -> Room | None:
    """The room a message was posted in; None for chats we do not serve (channels)."""
    chat_id = _int(chat.get("id"))
    chat_type = chat.get("type")
    if chat_id is None:
        return None
    if chat_type == "private":
        return Room(PLATFORM, str(chat_id), kind="dm", name=display_name(chat))
    if chat_type not in _GROUP_TYPES:
        return None
    title = str(chat.get("title") or chat_id)
    topic = _topic_id(message)
    if topic is None:
        return Room(PLATFORM, str(chat_id), kind="group", name=title)
    topic_name = _topic_name(message)
    return Room(PLATFORM, f"{chat_id}/{topic}", kind="thread",
                name=f"{title} / {topic_name}" if topic_name else title)


# ---- messages --------------------------------------------------------------------------


def _text_and_entities(message: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]]:
    """The message's text with its entities, or its caption with the caption's entities."""
    for text_key, entities_key in (("text", "entities"), ("caption", "caption_entities")):
        text = message.get(text_key)
        if isinstance(text, str) and text.strip():
            raw = message.get(entities_key)
            entities = [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
            return text, entities
    return "", []


def _entity_span(entity: Mapping[str, Any]) -> tuple[int, int] | None:
    offset, length = _int(entity.get("offset")), _int(entity.get("length"))
    if offset is None or length is None or offset < 0 or length <= 0:
        return None
    return offset, length


def _mentions(text: str, entities: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """Who a message mentions: ``@username`` mentions by name, ``text_mention`` by user id.

    A ``text_mention`` is how Telegram links a person without a username, so
    its user id is the only stable handle there is.
    """
    found: list[str] = []
    for entity in entities:
        kind, span = entity.get("type"), _entity_span(entity)
        if kind == "mention" and span is not None:
            name = _utf16_slice(text, *span).lstrip("@")
            if name:
                found.append(name)
        elif kind == "text_mention":
            user = user_of(entity.get("user"))
            if user is not None:
                found.append(user.id)
    return tuple(dict.fromkeys(found))


def _reply_to(message: Mapping[str, Any]) -> str | None:
    """The message this one answers. In a forum topic every message "replies" to the
    topic's creation message; that is not a reply."""
    quoted = _mapping(message.get("reply_to_message"))
    quoted_id = _int(quoted.get("message_id")) if quoted else None
    if quoted_id is None or quoted_id == _topic_id(message):
        return None
    return str(quoted_id)


def _command_token(text: str, entities: Sequence[Mapping[str, Any]]) -> str | None:
    """The ``/name@bot`` token of a command, or None when the text is not a command.

    Telegram marks a command with a ``bot_command`` entity at offset 0; its
    length delimits the token even when a newline, not a space, follows it.
    """
    head = next((e for e in entities if e.get("type") == "bot_command" and e.get("offset") == 0), None)
    span = _entity_span(head) if head is not None else None
    return _utf16_slice(text, *span) if span is not None else None


def _addressed_elsewhere(token: str, bot_username: str | None) -> bool:
    """``/cmd@otherbot``: a command for another bot in the same group."""
    _, _, addressee = token.partition("@")
    return bool(addressee and bot_username and addressee.lower() != bot_username.lower())


def _member_events(update: Mapping[str, Any], message: Mapping[str, Any], room: Room,
                   ctx: TranslateContext) -> tuple[Event, ...]:
    """Joins and leaves; bots joining or leaving are not audience and are skipped."""
    base_id, ts = str(message.get("message_id", "")), _timestamp(message.get("date"))
    events: list[Event] = []
    joined = message.get("new_chat_members")
    for member in joined if isinstance(joined, list) else []:
        user = user_of(member)
        if user is not None and not member.get("is_bot"):
            events.append(MemberEvent(event_id=f"{base_id}:{user.id}", room=room, author=user, ts=ts,
                                      source=ctx.source, joined=True, raw=update))
    left = _mapping(message.get("left_chat_member"))
    user = user_of(left)
    if left is not None and user is not None and not left.get("is_bot"):
        events.append(MemberEvent(event_id=f"{base_id}:{user.id}", room=room, author=user, ts=ts,
                                  source=ctx.source, joined=False, raw=update))
    return tuple(events)


def _is_membership_change(message: Mapping[str, Any]) -> bool:
    return "new_chat_members" in message or "left_chat_member" in message


def _message_events(update: Mapping[str, Any], message: Mapping[str, Any],
                    ctx: TranslateContext) -> tuple[Event, ...]:
    update_id = update.get("update_id")
    chat = _mapping(message.get("chat"))
    if chat is None:
        return _ignore("message without a chat", update_id)
    room = room_of(chat, message)
    if room is None:
        return _ignore(f"chat type {chat.get('type')!r} is not served", update_id)
    if _is_membership_change(message):
        return _member_events(update, message, room, ctx) or _ignore("membership change of bots only", update_id)
    if message.get("is_automatic_forward"):
        return _ignore("automatic forward of a linked channel post", update_id)
    author = _sender_of(message, chat)
    message_id = _int(message.get("message_id"))
    if author is None or message_id is None:
        return _ignore("message without a sender or an id", update_id)
    text, entities = _text_and_entities(message)
    if not text:
        return _ignore("no text or caption (sticker, media without caption, service message)", update_id)
    common: dict[str, Any] = dict(
        event_id=str(message_id), room=room, author=author, ts=_timestamp(message.get("date")),
        source=ctx.source, raw=update, text=text, mentions=_mentions(text, entities),
        reply_to=_reply_to(message))
    token = _command_token(text, entities)
    if token is not None and _addressed_elsewhere(token, ctx.bot_username):
        return _ignore(f"command {token!r} is addressed to another bot", update_id)
    parsed = parse_command(f"{token} {text[len(token):].strip()}", "/", ctx.bot_username) if token else None
    if parsed is None:
        return (MessageEvent(**common),)
    name, args = parsed
    return (CommandEvent(**common, command=name, args=args),)


# ---- feedback buttons ------------------------------------------------------------------


def feedback_data(value: int, message_id: str) -> str:
    """Callback data of a feedback button: ``fb:+1:<message id>`` (at most 64 bytes)."""
    return f"{FEEDBACK_PREFIX}:{value:+d}:{message_id}"


def parse_feedback(data: Any) -> tuple[int, str] | None:
    """``(value, message id)`` from a feedback button's callback data; None for anything else."""
    if not isinstance(data, str):
        return None
    prefix, _, rest = data.partition(":")
    value_text, _, target = rest.partition(":")
    if prefix != FEEDBACK_PREFIX or value_text not in ("+1", "-1") or not target.isdigit():
        return None
    return int(value_text), target


def feedback_markup(message_id: str) -> dict[str, Any]:
    """An ``InlineKeyboardMarkup`` with 👍 and 👎 buttons referencing ``message_id``."""
    return {"inline_keyboard": [[{"text": label, "callback_data": feedback_data(value, message_id)}
                                 for value, label in _FEEDBACK_LABELS.items()]]}


def callback_query_id(update: Mapping[str, Any]) -> str | None:
    """The id to answer (``answerCallbackQuery``) so the client stops its spinner."""
    query = _mapping(update.get("callback_query"))
    qid = query.get("id") if query else None
    return str(qid) if isinstance(qid, (str, int)) and not isinstance(qid, bool) else None


def _callback_events(update: Mapping[str, Any], query: Mapping[str, Any],
                     ctx: TranslateContext) -> tuple[Event, ...]:
    update_id = update.get("update_id")
    feedback = parse_feedback(query.get("data"))
    if feedback is None:
        return _ignore(f"callback data {query.get('data')!r} is not feedback", update_id)
    message = _mapping(query.get("message"))
    chat = _mapping(message.get("chat")) if message else None
    room = room_of(chat, message) if chat and message else None
    author = user_of(query.get("from"))
    qid = callback_query_id(update)
    if room is None or author is None or qid is None:
        return _ignore("callback query without a usable message, chat or sender", update_id)
    value, target = feedback
    return (FeedbackEvent(event_id=qid, room=room, author=author, source=ctx.source, raw=update,
                          target=target, value=value),)


# ---- updates ---------------------------------------------------------------------------


def to_events(update: Any, ctx: TranslateContext) -> tuple[Event, ...]:
    """The events one Bot API ``Update`` means; empty when it is ignored (logged at debug).

    A tuple, not one event: a single ``new_chat_members`` message may add
    several people. Roles are not known here (they need ``getChatAdministrators``):
    authors are viewers unless the payload itself proves more (an anonymous admin).
    """
    data = _mapping(update)
    if data is None:
        return _ignore("update is not an object", None)
    message = _mapping(data.get("message"))
    if message is not None:
        return _message_events(data, message, ctx)
    query = _mapping(data.get("callback_query"))
    if query is not None:
        return _callback_events(data, query, ctx)
    kinds = sorted(k for k in data if k != "update_id") or ["empty"]
    return _ignore(f"{', '.join(kinds)} updates are not handled", data.get("update_id"))


def roles_from_admins(members: Iterable[Any]) -> dict[str, Role]:
    """User id → role from ``getChatAdministrators``: the creator hosts, administrators moderate."""
    roles: dict[str, Role] = {}
    for member in members:
        data = _mapping(member)
        user = user_of(data.get("user")) if data else None
        if data is None or user is None:
            continue
        status = data.get("status")
        if status == "creator":
            roles[user.id] = Role.HOST
        elif status == "administrator":
            roles[user.id] = Role.MOD
    return roles


# ---- outgoing --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a message goes: a chat, and a forum topic in it."""

    chat_id: int
    thread_id: int | None = None

    @property
    def is_private(self) -> bool:
        """Private chats have positive ids (the user's id); groups negative ones."""
        return self.chat_id > 0


def destination_of(room: Room) -> Destination:
    """Parse a room id (``chat`` or ``chat/topic``) back into a destination."""
    chat, _, topic = room.id.partition("/")
    try:
        return Destination(int(chat), int(topic) if topic else None)
    except ValueError:
        raise ValueError(f"{room.key} is not a Telegram room id (want 'chat_id' or 'chat_id/topic_id')") from None


def dm_destination(user: User | None) -> Destination | None:
    """A private chat with ``user`` (its id is the user's id); None for people of other platforms."""
    if user is None or user.platform != PLATFORM or not user.id.isdigit():
        return None
    return Destination(int(user.id))


@dataclass(frozen=True, slots=True)
class MentionSpan:
    """A ``text_mention`` entity: links ``@name`` in the text to a user id, so they are notified."""

    offset: int
    length: int
    user_id: int
    name: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One ``sendMessage`` call."""

    chat_id: int
    text: str
    thread_id: int | None = None
    reply_to: int | None = None
    mentions: tuple[MentionSpan, ...] = ()


def _mention_spans(text: str, users: Sequence[User]) -> tuple[MentionSpan, ...]:
    """The first ``@name`` of each Telegram user in ``text``, as UTF-16 entity spans."""
    spans: list[MentionSpan] = []
    for user in users:
        if user.platform != PLATFORM or not user.id.lstrip("-").isdigit():
            continue
        at = text.find(f"@{user.name}")
        if at >= 0:
            spans.append(MentionSpan(_utf16_len(text[:at]), _utf16_len(user.name) + 1, int(user.id), user.name))
    return tuple(spans)


def plan_messages(reply: Reply, destination: Destination, *, quote: bool,
                  limit: int = MAX_MESSAGE_CHARS) -> list[OutgoingMessage]:
    """The ``sendMessage`` calls a reply takes: parts of at most ``limit`` characters.

    Only the first part quotes the question (``quote``: the question is in this
    chat); every part goes to the destination's topic.
    """
    quoted = int(reply.reply_to) if quote and reply.reply_to and reply.reply_to.isdigit() else None
    return [OutgoingMessage(chat_id=destination.chat_id, text=part, thread_id=destination.thread_id,
                            reply_to=quoted if index == 0 else None,
                            mentions=_mention_spans(part, reply.mentions))
            for index, part in enumerate(split_message(reply.text, limit))]


def bot_commands(specs: Iterable[CommandSpec], max_role: Role = Role.HOST) -> list[tuple[str, str]]:
    """``(command, description)`` pairs for ``setMyCommands`` within Telegram's limits.

    Names are already lower-case and at most 32 characters (`CommandSpec`
    checks); descriptions must be 1-256 characters.
    """
    pairs: list[tuple[str, str]] = []
    for spec in specs:
        if spec.role > max_role:
            continue
        description = " ".join(spec.description.split()) or spec.name
        if len(description) > MAX_COMMAND_DESCRIPTION:
            description = description[:MAX_COMMAND_DESCRIPTION - 1] + "…"
        pairs.append((spec.name, description))
    return pairs
