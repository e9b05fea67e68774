"""Commands every room has, whatever else is configured: ``/help``, ``/status``, ``/announce``."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from adapters.commands import CommandSpec, Param
from adapters.model import Reply, Role
from bots.runtime.registry import CommandRegistry
from bots.runtime.router import CommandContext, kept_phrases
from brain.text.plural import counted

__all__ = ["register_builtin", "HELP", "STATUS", "ANNOUNCE"]

HELP = CommandSpec(
    name="help",
    description="List the commands you can use, or explain one",
    params=(Param("command", description="a command to explain", required=False),),
    aliases=("commands",),
)

STATUS = CommandSpec(
    name="status",
    description="What the bot has recorded in this room: messages, people, questions",
    role=Role.MOD,
)
ANNOUNCE = CommandSpec(
    name="announce",
    description="Post a message in the room as the bot",
    params=(Param("text", description="what to post", rest=True),),
    role=Role.HOST,
)


def _render_list(context: CommandContext) -> str:
    specs = context.router.registry.specs(context.role)
    width = max(len(s.usage) for s in specs)
    lines = [f"Commands for you ({context.role.label}):"]
    for spec in specs:
        tag = "" if spec.role is Role.VIEWER else f"  [{spec.role.label}]"
        lines.append(f"  {spec.usage.ljust(width)}  {spec.description}{tag}")
    lines.append("/help <command> explains one.")
    return "\n".join(lines)


def _render_one(context: CommandContext, name: str) -> str:
    found = context.router.registry.lookup(name.lstrip("/"))
    if found is None:
        return f"No command /{name.lstrip('/')}. Type /help for the list."
    spec, _ = found
    lines = [f"{spec.usage} — {spec.description}", f"  who: {spec.role.label} and above"]
    for p in spec.params:
        kind = p.type + (f", one of {', '.join(p.choices)}" if p.choices else "")
        lines.append(f"  {p.name} ({kind}{'' if p.required else ', optional'}): {p.description}")
    if spec.aliases:
        lines.append("  also: " + ", ".join(f"/{a}" for a in spec.aliases))
    return "\n".join(lines)


async def help_command(context: CommandContext, command: str | None = None) -> str:
    return _render_one(context, command) if command else _render_list(context)


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


async def status_command(context: CommandContext) -> str:
    room = context.event.room
    store = context.router.store
    problems = await asyncio.to_thread(store.problems)
    if problems:  # say so first, and do not wait on a store that cannot answer
        return "\n".join(["NOT RECORDING: " + problem for problem in problems])
    summary = await asyncio.to_thread(store.room_summary, room.key)
    count = summary["by_kind"].get
    stats = context.router.stats
    kept = kept_phrases(already_stored=stats.duplicates + store.duplicates, repaired=stats.repaired,
                        set_aside=store.set_aside, refused=stats.refused)
    return "\n".join([
        f"Room {room.key}: {counted(summary['people'], 'person', 'people')}; "
        f"{counted(count('chat', 0), 'chat message')}, {counted(count('command', 0), 'command')}, "
        f"{counted(count('transcript', 0), 'transcript line')}, "
        f"{counted(count('join', 0), 'join')}, {counted(count('leave', 0), 'leave')}, "
        f"{counted(count('reply', 0), 'bot reply', 'bot replies')}.",
        f"First event {_when(summary['first_ts'])}; last {_when(summary['last_ts'])}.",
        *([f"Events since start: {'; '.join(kept)}."] if kept else []),
    ])


async def announce_command(context: CommandContext, text: str) -> Reply:
    # Posted to everyone, not as a reply: an announcement belongs to the room.
    return Reply(room=context.event.room, text=text)


def register_builtin(registry: CommandRegistry) -> None:
    registry.add(HELP, help_command)
    registry.add(STATUS, status_command)
    registry.add(ANNOUNCE, announce_command)
