"""Platform-neutral text helpers adapters share: splitting long messages at natural breaks."""

from __future__ import annotations

__all__ = ["split_message"]

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
