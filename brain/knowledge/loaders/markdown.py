"""Markdown -> blocks: headings (ATX and setext), paragraphs, lists, tables, code.

Hand-written rather than a full CommonMark parser because we need structure
and visible text, not HTML: headings for the title path, logical lines for the
chunker, and nothing that a reader of the rendered page would not see (HTML
comments and script/style blocks are dropped; they are a place to hide text).
"""

from __future__ import annotations

import re

from brain.knowledge.content import Block, DocumentContent
from brain.knowledge.faq import match_answer, match_question
from brain.knowledge.textutil import clean_text, decode_text, join_wrapped

__all__ = ["load_markdown", "parse_markdown", "clean_inline"]

_FRONT_MATTER = re.compile(r"\A---\n.*?\n(?:---|\.\.\.)\n", re.DOTALL)
_HIDDEN_HTML = re.compile(r"<!--.*?(?:-->|\Z)|<(script|style)\b.*?(?:</\1\s*>|\Z)", re.DOTALL | re.IGNORECASE)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_THEMATIC = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_BOLD_QUESTION = re.compile(r"^\s*(?:\*\*|__)(.+?[?？])(?:\*\*|__)\s*$")

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_CODE = re.compile(r"`+([^`]+)`+")
_STRIKE = re.compile(r"~~(.+?)~~")


def clean_inline(text: str) -> str:
    """Markdown inline markup -> visible text; http(s) links keep their URL in parentheses."""
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(
        lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(2).lower().startswith(("http://", "https://"))
        else m.group(1),
        text,
    )
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    text = _CODE.sub(r"\1", text)
    text = _STRONG.sub(r"\2", text)
    text = _EM.sub(r"\1", text)
    text = _STRIKE.sub(r"\1", text)
    return " ".join(text.split())


def _starts_logical_line(stripped: str) -> bool:
    return bool(_LIST.match(stripped)) or match_question(stripped) is not None or match_answer(stripped) is not None


class _Builder:
    """Accumulates logical lines of the current paragraph and emits blocks."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.lines: list[str] = []

    def add(self, raw: str) -> None:
        stripped = _QUOTE.sub("", raw).strip()
        if not stripped or _TABLE_SEP.match(stripped):
            return
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            self.lines.append(" | ".join(c for c in cells if c))
        elif _LIST.match(stripped):
            item = _LIST.sub("", stripped)
            marker = _LIST.match(stripped).group().strip()  # type: ignore[union-attr]
            self.lines.append(f"{marker if marker[0].isdigit() else '-'} {item}")
        elif _starts_logical_line(stripped) or not self.lines:
            self.lines.append(stripped)
        else:
            self.lines[-1] = join_wrapped(self.lines[-1], stripped)

    def flush(self) -> None:
        lines = [clean_inline(line) for line in self.lines]
        lines = [line for line in lines if line]
        if lines:
            self.blocks.append(Block("text", "\n".join(lines)))
        self.lines = []

    def take_paragraph_as_heading(self, level: int) -> bool:
        if not self.lines:
            return False
        heading = clean_inline(" ".join(self.lines))
        self.lines = []
        if heading:
            self.blocks.append(Block("heading", heading, level=level))
        return True

    def emit(self, block: Block) -> None:
        self.flush()
        self.blocks.append(block)


def parse_markdown(text: str) -> DocumentContent:
    """Parse Markdown source text (already decoded) into blocks."""
    text = clean_text(text)
    text = _FRONT_MATTER.sub("", text, count=1)
    text = _HIDDEN_HTML.sub("", text)
    out = _Builder()
    fence: str | None = None
    code: list[str] = []
    for line in text.split("\n"):
        if fence is not None:
            if line.strip().startswith(fence):
                if any(c.strip() for c in code):
                    out.emit(Block("text", "\n".join(c.rstrip() for c in code if c.strip())))
                fence, code = None, []
            else:
                code.append(line)
            continue
        if m := _FENCE.match(line):
            out.flush()
            fence = m.group(1)
            continue
        if m := _ATX.match(line):
            heading = clean_inline(m.group(2) or "")
            out.flush()
            if heading:
                out.emit(Block("heading", heading, level=len(m.group(1))))
            continue
        if (m := _SETEXT.match(line)) and out.take_paragraph_as_heading(1 if m.group(1)[0] == "=" else 2):
            continue
        if _THEMATIC.match(line):
            out.emit(Block("break", ""))
            continue
        if not line.strip():
            out.flush()
            continue
        if m := _BOLD_QUESTION.match(line):
            out.emit(Block("question", clean_inline(m.group(1))))
            continue
        out.add(line)
    if fence is not None and any(c.strip() for c in code):  # unclosed fence: keep its text
        out.emit(Block("text", "\n".join(c.rstrip() for c in code if c.strip())))
    out.flush()
    return DocumentContent(blocks=tuple(out.blocks))


def load_markdown(data: bytes, source: str) -> DocumentContent:
    """Loader entry point for .md/.markdown files."""
    return parse_markdown(decode_text(data))
