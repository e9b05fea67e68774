"""Platform-neutral text helpers adapters share: splitting long messages at natural breaks, and
repairing text no database can store before it enters the runtime."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from dataclasses import fields, replace
from typing import Any, Mapping, TypeVar

from adapters.model import Event, Role

__all__ = ["split_message", "scrub_text", "scrub_event", "REPLACEMENT"]

E = TypeVar("E", bound=Event)

# Preferred break points, best first: paragraph, line, sentence end, clause, word.
_BREAKS = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", "，", ", ", " ")


def split_message(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, breaking where a reader would.

    Each part ends at the last paragraph, line, sentence, clause or word break
    in its second half; only text with no break at all is cut hard. Parts are
    never empty, and joining them (with the stripped whitespace) gives the text.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = -1
        for brk in _BREAKS:
            pos = window.rfind(brk)
            if pos >= limit // 2:
                cut = pos + len(brk)
                break
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


# Text no database can store: lone UTF-16 surrogates (valid in JSON as "\ud800", produced by Python's
# surrogateescape for undecodable bytes) cannot be encoded as UTF-8, and PostgreSQL refuses NUL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_search = _UNSTORABLE.search
#: What replaces each unstorable character: the Unicode replacement character, as decoders do.
REPLACEMENT = "\ufffd"


def scrub_text(text: str) -> str:
    """``text`` with every character no database can store (lone surrogates, NUL) replaced by U+FFFD.

    The common case costs one regex scan and returns the same object, so callers can test
    ``scrub_text(s) is not s`` to count repairs.
    """
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name != "raw")  # raw: the platform's payload, never stored


def _needs_scrub(value: Any) -> bool:
    """Whether ``value`` holds an unstorable character anywhere (the fast check every event gets).

    Written as plain loops over cached field names: it runs on every event, and
    generator expressions and ``is_dataclass`` cost more than the regex itself.
    """
    kind = type(value)
    if kind is str:
        return _search(value) is not None
    if value is None or kind in _ATOMIC:
        return False
    if isinstance(value, str):  # a str subclass
        return _search(value) is not None
    if isinstance(value, tuple):
        for item in value:
            if _needs_scrub(item):
                return True
        return False
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _needs_scrub(key) or _needs_scrub(item):
                return True
        return False
    names = _field_names(kind) if hasattr(kind, "__dataclass_fields__") else ()
    for name in names:
        item = getattr(value, name)
        if type(item) is str:
            if _search(item) is not None:
                return True
        elif item is not None and _needs_scrub(item):
            return True
    return False


#: Field value types that hold no text: skipped at the cost of one set lookup.
_ATOMIC = frozenset({int, float, bool, datetime, Role})


def _scrub_value(value: Any) -> Any:
    """``value`` rebuilt with its text scrubbed (called only where `_needs_scrub` found something)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, tuple):
        return tuple(_scrub_value(v) for v in value)
    if isinstance(value, Mapping):
        return {_scrub_value(k): _scrub_value(v) for k, v in value.items()}
    return _scrub_dataclass(value)


def _scrub_dataclass(obj: Any) -> Any:
    changes = {name: _scrub_value(getattr(obj, name)) for name in _field_names(type(obj))
               if _needs_scrub(getattr(obj, name))}
    return replace(obj, **changes)


def scrub_event(event: E) -> E:
    """The event with unstorable characters replaced in every text field (text, names, ids, options).

    Returns the same object when nothing needed repair; otherwise a copy flagged ``repaired``, so
    the change is recorded with the event and never made silently.
    """
    if not _needs_scrub(event):
        return event
    return _scrub_dataclass(event).with_flags("repaired")
