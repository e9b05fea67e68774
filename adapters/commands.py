"""Declarative command specs, shared by the runtime and every adapter.

A `CommandSpec` says what a command is (name, description, typed parameters,
required role) and nothing about what it does: the runtime binds handlers to
specs, and each adapter renders the specs natively (Discord ``app_commands``,
Telegram ``set_my_commands``, ``/help`` in a text room). Keeping it here lets
adapters depend on it without importing the runtime.

Text rooms type commands as ``/name arg1 arg2 rest of line``; `parse_command`
and `bind_arguments` turn that into typed values, with errors a viewer can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from adapters.model import Role

__all__ = ["Param", "CommandSpec", "ArgumentError", "parse_command", "bind_arguments"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_TRUE = {"1", "true", "yes", "on", "y", "是"}
_FALSE = {"0", "false", "no", "off", "n", "否"}


class ArgumentError(ValueError):
    """Arguments that do not fit a command's parameters; the message is shown to the user."""


#: How an argument's type is named to the person who typed it wrong.
_TYPE_WORDS = {"str": "text", "int": "a whole number", "float": "a number", "bool": "yes or no"}


@dataclass(frozen=True, slots=True)
class Param:
    """One typed parameter. ``rest`` takes the remainder of the line (free text)."""

    name: str
    type: str = "str"  # str | int | float | bool
    description: str = ""
    required: bool = True
    default: Any = None
    choices: tuple[str, ...] = ()
    rest: bool = False

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"param {self.name!r}: type must be one of {sorted(_TYPES)}")

    def convert(self, text: str) -> Any:
        """Typed value from its text form, or an `ArgumentError` naming the parameter."""
        if self.choices and text not in self.choices:
            raise ArgumentError(f"{self.name} must be one of: {', '.join(self.choices)}")
        try:
            if self.type == "bool":
                low = text.strip().lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
                raise ValueError(text)
            return _TYPES[self.type](text)
        except ValueError:
            raise ArgumentError(f"{self.name} must be {_TYPE_WORDS[self.type]}, got {text!r}") from None

    @property
    def usage(self) -> str:
        label = f"{self.name}..." if self.rest else self.name
        return f"<{label}>" if self.required else f"[{label}]"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What a command is: name, one-line description, parameters and the role it needs."""

    name: str
    description: str
    params: tuple[Param, ...] = ()
    role: Role = Role.VIEWER
    aliases: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for n in (self.name, *self.aliases):
            if not _NAME.match(n):
                raise ValueError(f"command name {n!r}: lower-case letters, digits, _; at most 32")
        if any(p.rest for p in self.params[:-1]):
            raise ValueError(f"command {self.name!r}: only the last parameter may take the rest")
        seen_optional = False
        for p in self.params:
            if p.required and seen_optional:
                raise ValueError(f"command {self.name!r}: required {p.name!r} after an optional one")
            seen_optional = seen_optional or not p.required

    @property
    def usage(self) -> str:
        return " ".join([f"/{self.name}", *(p.usage for p in self.params)])


def parse_command(text: str, prefix: str = "/", bot_name: str | None = None) -> tuple[str, str] | None:
    """Split ``/name@bot args`` into ``(name, args)``; None if the text is not a command.

    Telegram appends ``@botname`` to commands in groups; a command addressed to
    another bot is not ours and yields None.
    """
    if not text.startswith(prefix) or len(text) <= len(prefix):
        return None
    head, _, args = text[len(prefix):].partition(" ")
    name, _, addressee = head.partition("@")
    if not name or not name[0].isalpha():
        return None
    if addressee and bot_name and addressee.lower() != bot_name.lower():
        return None
    return name.lower(), args.strip()


def _tokens(text: str) -> list[tuple[str, int]]:
    """Whitespace tokens with their end offsets; a double-quoted token may hold spaces."""
    out: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end != -1:
                out.append((text[i + 1:end], end + 1))
                i = end + 1
                continue
        start = i
        while i < n and not text[i].isspace():
            i += 1
        out.append((text[start:i], i))
    return out


def bind_arguments(spec: CommandSpec, args: str) -> dict[str, Any]:
    """Typed keyword arguments for ``spec`` from the raw argument text."""
    values: dict[str, Any] = {}
    tokens = _tokens(args)
    pos = 0  # offset in ``args`` consumed so far
    for index, param in enumerate(spec.params):
        if param.rest:
            remainder = args[pos:].strip()
            if remainder:
                values[param.name] = param.convert(remainder)
            elif param.required:
                raise ArgumentError(f"missing {param.usage}. Usage: {spec.usage}")
            else:
                values[param.name] = param.default
            return values
        if index < len(tokens):
            token, pos = tokens[index]
            values[param.name] = param.convert(token)
        elif param.required:
            raise ArgumentError(f"missing {param.usage}. Usage: {spec.usage}")
        else:
            values[param.name] = param.default
    if len(tokens) > len(spec.params):
        raise ArgumentError(f"too many arguments. Usage: {spec.usage}")
    return values


def bind_options(spec: CommandSpec, options: Mapping[str, Any]) -> dict[str, Any]:
    """Typed keyword arguments from options a platform already parsed (Discord slash options)."""
    known = {p.name: p for p in spec.params}
    unknown = set(options) - set(known)
    if unknown:
        raise ArgumentError(f"unknown option(s) {', '.join(sorted(unknown))}. Usage: {spec.usage}")
    values: dict[str, Any] = {}
    for p in spec.params:
        if p.name in options and options[p.name] is not None:
            raw = options[p.name]
            values[p.name] = p.convert(str(raw)) if not isinstance(raw, _TYPES[p.type]) else raw
        elif p.required:
            raise ArgumentError(f"missing {p.usage}. Usage: {spec.usage}")
        else:
            values[p.name] = p.default
    return values
