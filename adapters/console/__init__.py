"""A terminal room: type as a viewer, switch roles, read the bot's replies."""

from adapters.console.adapter import ConsoleAdapter

__all__ = ["ConsoleAdapter"]
