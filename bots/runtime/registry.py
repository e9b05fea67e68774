"""The command registry: each `CommandSpec` bound to the coroutine that handles it.

Handlers receive a `CommandContext` (`bots.runtime.router`) and the command's typed arguments as
keyword arguments, and return what to say: a string, a `Reply`, several
replies, or None for nothing. Specs are what adapters see; handlers stay here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Union

from adapters.commands import CommandSpec
from adapters.model import Reply, Role

__all__ = ["CommandRegistry", "Handler", "HandlerResult"]

HandlerResult = Union[str, Reply, Iterable[Reply], None]
Handler = Callable[..., Awaitable[HandlerResult]]


@dataclass(frozen=True, slots=True)
class _Entry:
    spec: CommandSpec
    handler: Handler


class CommandRegistry:
    """Name (and alias) → spec and handler. Registering a name twice is a programming error."""

    def __init__(self) -> None:
        self._by_name: dict[str, _Entry] = {}
        self._order: list[_Entry] = []

    def add(self, spec: CommandSpec, handler: Handler) -> None:
        entry = _Entry(spec, handler)
        for name in (spec.name, *spec.aliases):
            if name in self._by_name:
                raise ValueError(f"command /{name} is registered twice")
        for name in (spec.name, *spec.aliases):
            self._by_name[name] = entry
        self._order.append(entry)

    def command(self, spec: CommandSpec) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""
        def wrap(handler: Handler) -> Handler:
            self.add(spec, handler)
            return handler
        return wrap

    def lookup(self, name: str) -> tuple[CommandSpec, Handler] | None:
        entry = self._by_name.get(name.lower())
        return (entry.spec, entry.handler) if entry else None

    def specs(self, max_role: Role = Role.HOST) -> list[CommandSpec]:
        """Specs a person of ``max_role`` may run, in registration order."""
        return [e.spec for e in self._order if e.spec.role <= max_role]

    def names(self) -> list[str]:
        return [e.spec.name for e in self._order]

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: Any) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name
