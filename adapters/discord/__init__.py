"""Discord: guild channels, threads and DMs through discord.py; pure payload translation in `translate`."""

from adapters.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
