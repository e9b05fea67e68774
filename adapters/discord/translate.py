"""Pure translation between Discord gateway payloads and `adapters.model` (no I/O, no discord.py state).

The adapter feeds raw gateway dispatches (``t``, ``d``) through `to_event`.
Working from the documented JSON rather than discord.py's model objects keeps
translation testable on recorded payloads without a connection, and keeps us
independent of the library's caching decisions.

A payload alone does not say everything: a MESSAGE_CREATE carries role *ids*
(not names or permissions) and a channel id (not whether it is a thread). The
missing facts come from a `Directory` (the adapter answers from discord.py's
guild cache; tests from a recorded GUILD_CREATE via `StaticDirectory`).

Mapping:

- room ids are channel ids; a thread is a room of its own (its own channel id,
  kind ``thread``); guild text/voice/announcement channels are ``channel``;
  DMs are ``dm``; member join/leave happens in the guild's system channel when
  it has one (``channel``), else in the guild itself (``group``);
- event ids are Discord message ids, or interaction ids for slash commands;
- roles: a member is HOST if a role is named like a host role (case-insensitive),
  or has Administrator, or owns the guild; MOD if a role is named like a mod
  role, or has Manage Messages or Manage Server; VIEWER otherwise (and in DMs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Protocol, Sequence

from adapters.commands import CommandSpec, Param, parse_command
from adapters.model import CommandEvent, Event, FeedbackEvent, MemberEvent, MessageEvent, Role, Room, User

__all__ = [
    "PLATFORM", "ADMINISTRATOR", "MANAGE_GUILD", "MANAGE_MESSAGES", "FEEDBACK_EMOJI",
    "RoleInfo", "ChannelInfo", "Directory", "StaticDirectory", "RolePolicy", "Context", "Ignored",
    "to_event", "message_event", "interaction_event", "reaction_event", "member_event",
    "command_payload", "command_payloads", "render_outgoing_mentions", "snowflake_time",
]

PLATFORM = "discord"

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
MANAGE_MESSAGES = 1 << 13

# Channel types.
_DM_TYPES = frozenset({1, 3})  # DM, group DM
_THREAD_TYPES = frozenset({10, 11, 12})  # announcement, public, private thread
# Message types a person types: DEFAULT and REPLY. Joins, pins, boosts, thread notices are not chat.
_CHAT_MESSAGE_TYPES = frozenset({0, 19})
# Interaction types.
_APPLICATION_COMMAND = 2
# Application command option types.
_OPTION_TYPES: Mapping[str, int] = {"str": 3, "int": 4, "bool": 5, "float": 10}
_SUB_COMMAND_TYPES = frozenset({1, 2})

FEEDBACK_EMOJI: Mapping[str, int] = {"👍": 1, "👎": -1}
_SKIN_TONES = re.compile("[\U0001F3FB-\U0001F3FF\uFE0F]")
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_DISCORD_EPOCH_MS = 1420070400000
_MAX_DESCRIPTION = 100


# ---- context --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoleInfo:
    id: str
    name: str
    permissions: int = 0


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: str
    name: str
    type: int


class Directory(Protocol):
    """What a payload does not say about a guild: role names and permissions, channel types."""

    def role(self, guild_id: str, role_id: str) -> RoleInfo | None: ...

    def channel(self, channel_id: str) -> ChannelInfo | None: ...

    def guild_owner(self, guild_id: str) -> str | None: ...

    def system_channel(self, guild_id: str) -> str | None: ...


@dataclass(slots=True)
class StaticDirectory:
    """A `Directory` built from GUILD_CREATE payloads (tests, and recorded sessions)."""

    roles: dict[tuple[str, str], RoleInfo] = field(default_factory=dict)
    channels: dict[str, ChannelInfo] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    system_channels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_guilds(cls, *guilds: Mapping[str, Any]) -> "StaticDirectory":
        directory = cls()
        for guild in guilds:
            directory.add_guild(guild)
        return directory

    def add_guild(self, guild: Mapping[str, Any]) -> None:
        gid = str(guild["id"])
        for r in guild.get("roles", ()):
            self.roles[(gid, str(r["id"]))] = RoleInfo(str(r["id"]), r.get("name", ""), int(r.get("permissions", 0)))
        for c in (*guild.get("channels", ()), *guild.get("threads", ())):
            self.channels[str(c["id"])] = ChannelInfo(str(c["id"]), c.get("name", ""), int(c.get("type", 0)))
        if guild.get("owner_id"):
            self.owners[gid] = str(guild["owner_id"])
        if guild.get("system_channel_id"):
            self.system_channels[gid] = str(guild["system_channel_id"])

    def role(self, guild_id: str, role_id: str) -> RoleInfo | None:
        return self.roles.get((guild_id, role_id))

    def channel(self, channel_id: str) -> ChannelInfo | None:
        return self.channels.get(channel_id)

    def guild_owner(self, guild_id: str) -> str | None:
        return self.owners.get(guild_id)

    def system_channel(self, guild_id: str) -> str | None:
        return self.system_channels.get(guild_id)


@dataclass(frozen=True, slots=True)
class RolePolicy:
    """Which Discord roles make a host or a mod. Names compare case-insensitively."""

    host_roles: frozenset[str] = frozenset({"host", "streamer", "owner"})
    mod_roles: frozenset[str] = frozenset({"moderator", "mod"})

    @classmethod
    def from_names(cls, host_roles: Iterable[str], mod_roles: Iterable[str]) -> "RolePolicy":
        return cls(frozenset(n.casefold() for n in host_roles), frozenset(n.casefold() for n in mod_roles))

    def role_for(self, role_names: Iterable[str], permissions: int, *, owner: bool = False) -> Role:
        """The highest role any of the names, the permission bits or guild ownership grant."""
        names = {n.casefold() for n in role_names}
        if owner or permissions & ADMINISTRATOR or names & self.host_roles:
            return Role.HOST
        if permissions & (MANAGE_MESSAGES | MANAGE_GUILD) or names & self.mod_roles:
            return Role.MOD
        return Role.VIEWER


@dataclass(frozen=True, slots=True)
class Context:
    """Everything translation needs besides the payload."""

    source: str  # the adapter instance name, stamped on every event
    bot_id: str  # our own user id: our messages and reactions are not input
    directory: Directory
    policy: RolePolicy = RolePolicy()
    bot_name: str | None = None  # for text commands addressed as /name@bot


@dataclass(frozen=True, slots=True)
class Ignored:
    """A payload that deliberately produces no event; ``reason`` goes to the debug log.

    ``warn`` marks input that hints at a setup problem (a missing intent) worth one warning.
    """

    reason: str
    warn: bool = False


# ---- entry point ----------------------------------------------------------------------


def to_event(t: str, d: Mapping[str, Any], ctx: Context) -> Event | Ignored | None:
    """The event for one gateway dispatch; `Ignored` with a reason, or None for kinds we never handle."""
    if t == "MESSAGE_CREATE":
        return message_event(d, ctx)
    if t == "MESSAGE_UPDATE":
        return Ignored(f"edited message {d.get('id')} in channel {d.get('channel_id')}")
    if t in ("MESSAGE_DELETE", "MESSAGE_DELETE_BULK"):
        return Ignored(f"deleted message(s) in channel {d.get('channel_id')}")
    if t == "INTERACTION_CREATE":
        return interaction_event(d, ctx)
    if t == "MESSAGE_REACTION_ADD":
        return reaction_event(d, ctx)
    if t == "MESSAGE_REACTION_REMOVE":
        return Ignored(f"reaction removed from message {d.get('message_id')} (feedback counts additions only)")
    if t == "GUILD_MEMBER_ADD":
        return member_event(d, ctx, joined=True)
    if t == "GUILD_MEMBER_REMOVE":
        return member_event(d, ctx, joined=False)
    return None


# ---- messages -------------------------------------------------------------------------


def message_event(d: Mapping[str, Any], ctx: Context) -> MessageEvent | CommandEvent | Ignored:
    """A chat line (or a typed ``/command``) from MESSAGE_CREATE."""
    author = d.get("author") or {}
    skip = _skip_author(author, d, ctx)
    if skip is not None:
        return skip
    kind = int(d.get("type", 0))
    if kind not in _CHAT_MESSAGE_TYPES:
        return Ignored(f"system message {d.get('id')} of type {kind}")
    raw_text = d.get("content") or ""
    if not raw_text.strip():
        return _empty_message(d)
    guild_id = _opt_str(d.get("guild_id"))
    mentioned = [u for u in d.get("mentions", ()) if isinstance(u, Mapping) and "id" in u]
    text = _readable_mentions(raw_text, mentioned)
    common: dict[str, Any] = dict(
        event_id=str(d["id"]),
        room=_message_room(str(d["channel_id"]), guild_id, ctx, author),
        author=_user(author, d.get("member"), guild_id, ctx),
        ts=snowflake_time(str(d["id"])),
        source=ctx.source,
        raw=d,
        text=text,
        mentions=_mention_keys(mentioned),
        reply_to=_opt_str((d.get("message_reference") or {}).get("message_id")),
    )
    parsed = parse_command(text.strip(), bot_name=ctx.bot_name)
    if parsed is not None:
        return CommandEvent(**common, command=parsed[0], args=parsed[1])
    return MessageEvent(**common)


def _skip_author(author: Mapping[str, Any], d: Mapping[str, Any], ctx: Context) -> Ignored | None:
    if str(author.get("id")) == ctx.bot_id:
        return Ignored(f"our own message {d.get('id')}")
    if author.get("bot") or d.get("webhook_id"):
        return Ignored(f"message {d.get('id')} from bot or webhook {author.get('username')!r}")
    return None


def _empty_message(d: Mapping[str, Any]) -> Ignored:
    """Why a message has no text: attachments/stickers only, or (if nothing at all) a missing intent."""
    parts = [name for name in ("attachments", "sticker_items", "embeds", "components") if d.get(name)]
    if parts:
        return Ignored(f"message {d.get('id')} has no text ({', '.join(parts)} only)")
    return Ignored(f"message {d.get('id')} arrived with empty content: is the Message Content intent enabled "
                   "in the developer portal (Bot > Privileged Gateway Intents)?", warn=True)


def _readable_mentions(text: str, mentioned: Sequence[Mapping[str, Any]]) -> str:
    """``<@123>`` → ``@name``, so the brain and the transcript read names, not snowflakes."""
    names = {str(u["id"]): _display_name(u, u.get("member")) for u in mentioned}
    return _USER_MENTION.sub(lambda m: f"@{names[m.group(1)]}" if m.group(1) in names else m.group(0), text)


def _mention_keys(mentioned: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Each mentioned user's id and display name (either may be what a consumer looks for)."""
    keys: list[str] = []
    for u in mentioned:
        for key in (str(u["id"]), _display_name(u, u.get("member"))):
            if key not in keys:
                keys.append(key)
    return tuple(keys)


# ---- rooms and people -----------------------------------------------------------------


def _message_room(channel_id: str, guild_id: str | None, ctx: Context, author: Mapping[str, Any]) -> Room:
    if guild_id is None:
        return Room(PLATFORM, channel_id, kind="dm", name=f"DM with {_display_name(author, None)}")
    info = ctx.directory.channel(channel_id)
    if info is None:
        return Room(PLATFORM, channel_id, kind="channel")
    return Room(PLATFORM, channel_id, kind=_room_kind(info.type), name=info.name)


def _room_kind(channel_type: int) -> str:
    if channel_type in _THREAD_TYPES:
        return "thread"
    if channel_type in _DM_TYPES:
        return "dm"
    return "channel"


def _display_name(user: Mapping[str, Any], member: Mapping[str, Any] | None) -> str:
    """What people see: the server nickname, else the global display name, else the username."""
    return ((member or {}).get("nick") or user.get("global_name") or user.get("username")
            or str(user.get("id", "?")))


def _user(user: Mapping[str, Any], member: Mapping[str, Any] | None, guild_id: str | None, ctx: Context) -> User:
    uid = str(user.get("id"))
    role = _member_role(uid, member, guild_id, ctx) if guild_id and member is not None else Role.VIEWER
    return User(PLATFORM, uid, _display_name(user, member), role)


def _member_role(user_id: str, member: Mapping[str, Any], guild_id: str, ctx: Context) -> Role:
    """Role from role names and permissions.

    Interactions carry the member's resolved permissions (``member.permissions``);
    messages do not, so they are the union of @everyone's and the member's roles'
    (channel overwrites are not applied: a per-channel grant does not make a mod).
    """
    roles = [r for r in (ctx.directory.role(guild_id, str(rid)) for rid in member.get("roles", ())) if r]
    if "permissions" in member:
        permissions = int(member["permissions"])
    else:
        everyone = ctx.directory.role(guild_id, guild_id)  # @everyone's id is the guild's id
        permissions = everyone.permissions if everyone else 0
        for r in roles:
            permissions |= r.permissions
    owner = ctx.directory.guild_owner(guild_id) == user_id
    return ctx.policy.role_for((r.name for r in roles), permissions, owner=owner)


def snowflake_time(snowflake: str) -> datetime:
    """When a Discord id was minted (every message and interaction id encodes its creation time)."""
    ms = (int(snowflake) >> 22) + _DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# ---- slash commands -------------------------------------------------------------------


def interaction_event(d: Mapping[str, Any], ctx: Context) -> CommandEvent | Ignored:
    """A slash command from INTERACTION_CREATE, with typed ``options`` and the ``/name a b`` text."""
    if int(d.get("type", 0)) != _APPLICATION_COMMAND:
        return Ignored(f"interaction {d.get('id')} of type {d.get('type')} (only slash commands are handled)")
    data = d.get("data") or {}
    raw_options = list(data.get("options") or ())
    if any(int(o.get("type", 0)) in _SUB_COMMAND_TYPES for o in raw_options):
        return Ignored(f"interaction {d.get('id')}: subcommands are not part of our command specs")
    member = d.get("member")
    user = (member or {}).get("user") or d.get("user") or {}
    guild_id = _opt_str(d.get("guild_id"))
    options = {str(o["name"]): _option_value(o) for o in raw_options}
    name = str(data.get("name", "")).lower()
    args = " ".join(_quote(_option_text(v)) for v in options.values())
    channel = d.get("channel") or {}
    channel_id = str(channel.get("id") or d.get("channel_id"))
    # The raw payload holds the interaction token (a 15-minute credential): keep it out of the store.
    raw = {k: v for k, v in d.items() if k != "token"}
    return CommandEvent(
        event_id=str(d["id"]),
        room=_interaction_room(channel_id, channel, guild_id, ctx, user),
        author=_user(user, member, guild_id, ctx),
        ts=snowflake_time(str(d["id"])),
        source=ctx.source,
        raw=raw,
        text=f"/{name} {args}".rstrip(),
        command=name,
        args=args,
        options=options,
    )


def _interaction_room(channel_id: str, channel: Mapping[str, Any], guild_id: str | None, ctx: Context,
                      user: Mapping[str, Any]) -> Room:
    if "type" in channel:
        kind = _room_kind(int(channel["type"]))
        if kind == "dm" or guild_id is None:
            return Room(PLATFORM, channel_id, kind="dm", name=f"DM with {_display_name(user, None)}")
        return Room(PLATFORM, channel_id, kind=kind, name=channel.get("name") or "")
    return _message_room(channel_id, guild_id, ctx, user)


def _option_value(option: Mapping[str, Any]) -> Any:
    """The typed value: Discord sends NUMBER options that happen to be whole as JSON integers."""
    value = option.get("value")
    if int(option.get("type", 3)) == _OPTION_TYPES["float"] and isinstance(value, int):
        return float(value)
    return value


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quote(token: str) -> str:
    """Quote a value holding spaces so ``args`` re-parses to the same options."""
    return f'"{token}"' if any(c.isspace() for c in token) else token


def command_payloads(specs: Iterable[CommandSpec]) -> list[dict[str, Any]]:
    """The bulk-overwrite body for application commands, one per spec (aliases stay text-only)."""
    return [command_payload(s) for s in specs]


def command_payload(spec: CommandSpec) -> dict[str, Any]:
    """A CHAT_INPUT application command with typed options."""
    return {
        "name": spec.name,
        "type": 1,
        "description": _description(spec.description, spec.name),
        "options": [_option_payload(p) for p in spec.params],
    }


def _option_payload(param: Param) -> dict[str, Any]:
    option: dict[str, Any] = {
        "name": param.name,
        "type": _OPTION_TYPES[param.type],
        "description": _description(param.description, param.name),
        "required": param.required,
    }
    if param.choices and param.type != "bool":
        convert = {"str": str, "int": int, "float": float}[param.type]
        option["choices"] = [{"name": c, "value": convert(c)} for c in param.choices[:25]]
    return option


def _description(text: str, fallback: str) -> str:
    """Discord requires 1-100 characters."""
    text = (text or fallback).strip() or fallback
    return text if len(text) <= _MAX_DESCRIPTION else text[:_MAX_DESCRIPTION - 1] + "…"


# ---- reactions and members ------------------------------------------------------------


def reaction_event(d: Mapping[str, Any], ctx: Context, *, known_own: bool = False) -> FeedbackEvent | Ignored:
    """👍/👎 on one of our messages → feedback. ``known_own``: the adapter remembers sending it."""
    user_id = str(d.get("user_id"))
    member = d.get("member")
    if user_id == ctx.bot_id:
        return Ignored(f"our own reaction on message {d.get('message_id')}")
    if (member or {}).get("user", {}).get("bot"):
        return Ignored(f"reaction by bot {user_id} on message {d.get('message_id')}")
    if not (known_own or str(d.get("message_author_id")) == ctx.bot_id):
        return Ignored(f"reaction on message {d.get('message_id')}, which is not ours")
    emoji = _SKIN_TONES.sub("", (d.get("emoji") or {}).get("name") or "")
    value = FEEDBACK_EMOJI.get(emoji)
    if value is None:
        return Ignored(f"reaction {emoji!r} on message {d.get('message_id')} is not feedback")
    guild_id = _opt_str(d.get("guild_id"))
    user = (member or {}).get("user") or {"id": user_id}
    channel_id = str(d["channel_id"])
    return FeedbackEvent(
        event_id=f"reaction:{d.get('message_id')}:{user_id}:{value}",
        room=_message_room(channel_id, guild_id, ctx, user),
        author=_user(user, member, guild_id, ctx),
        source=ctx.source,
        raw=d,
        target=str(d["message_id"]),
        value=value,
    )


def member_event(d: Mapping[str, Any], ctx: Context, *, joined: bool) -> MemberEvent | Ignored:
    """GUILD_MEMBER_ADD / REMOVE (needs the Server Members intent) in the guild's system channel."""
    user = d.get("user") or {}
    if str(user.get("id")) == ctx.bot_id:
        return Ignored("our own membership change")
    if user.get("bot"):
        return Ignored(f"bot {user.get('username')!r} joined or left")
    guild_id = str(d["guild_id"])
    home = ctx.directory.system_channel(guild_id)
    room = (Room(PLATFORM, home, kind="channel", name=getattr(ctx.directory.channel(home), "name", ""))
            if home else Room(PLATFORM, guild_id, kind="group"))
    uid = str(user.get("id"))
    return MemberEvent(
        event_id=f"{'join' if joined else 'leave'}:{guild_id}:{uid}",
        room=room,
        author=_user(user, d if joined else None, guild_id, ctx),
        source=ctx.source,
        raw=d,
        joined=joined,
    )


# ---- outgoing -------------------------------------------------------------------------


def render_outgoing_mentions(text: str, mentions: Iterable[User]) -> tuple[str, tuple[int, ...]]:
    """Turn ``@name`` into ``<@id>`` for mentioned Discord users with known ids.

    Returns the text and the user ids a message may notify (the only ones
    ``allowed_mentions`` lets through; never @everyone or roles).
    """
    ids: list[int] = []
    for user in mentions:
        if user.platform != PLATFORM or not user.id.isdigit():
            continue
        pattern = re.compile(rf"@{re.escape(user.name)}(?![\w])")
        text, count = pattern.subn(f"<@{user.id}>", text)
        if count and int(user.id) not in ids:
            ids.append(int(user.id))
    return text, tuple(ids)
