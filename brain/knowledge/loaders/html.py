"""HTML -> blocks of visible text, with h1-h6 as headings.

Built on the stdlib `html.parser` (tolerant of broken markup, no dependency).
Only what a visitor would see is kept: <script>, <style>, <template>, <nav>,
forms' internals and anything marked hidden (``hidden``, ``aria-hidden``,
``display:none``/``visibility:hidden``) are dropped, because invisible text is
both noise and the easiest place to plant instructions aimed at the bot.
<dt> and <summary> are questions (definition-list and <details> FAQs).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from brain.knowledge.content import Block, DocumentContent
from brain.knowledge.textutil import clean_text, decode_text

__all__ = ["load_html", "parse_html"]

_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "math", "iframe", "object",
                   "embed", "canvas", "nav", "select", "option", "textarea", "button"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"})
_BLOCK = frozenset({"p", "div", "section", "article", "main", "header", "footer", "aside", "ul", "ol",
                    "dl", "dd", "table", "thead", "tbody", "tfoot", "blockquote", "pre", "hr", "form",
                    "figure", "figcaption", "details", "address", "fieldset", "caption", "body", "html"})
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_QUESTION_TAGS = frozenset({"dt", "summary"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._in_title = False
        self._lines: list[str] = []
        self._buf = ""
        self._pre = 0
        self._skip: list[str] = []  # stack of tags whose content is invisible
        self._capture: tuple[str, int] | None = None  # ("heading"|"question", level)

    # -- text accumulation -------------------------------------------------
    def _end_line(self) -> None:
        line = self._buf.strip()
        if line and line != "-":
            self._lines.append(line)
        self._buf = ""

    def _flush(self) -> None:
        self._end_line()
        if self._lines and self._capture is None:
            self.blocks.append(Block("text", "\n".join(self._lines)))
            self._lines = []

    # -- parser callbacks --------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self._skip:
            self._in_title = True
            return
        if self._skip:
            if tag == self._skip[-1] and tag not in _VOID:
                self._skip.append(tag)
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        hidden = "hidden" in a or a.get("aria-hidden", "").lower() == "true" or bool(
            _HIDDEN_STYLE.search(a.get("style", ""))
        )
        if (tag in _SKIP or hidden) and tag not in _VOID:
            self._flush()
            self._skip.append(tag)
            return
        if tag in _HEADINGS or tag in _QUESTION_TAGS:
            self._flush()
            self._capture = ("heading", _HEADINGS[tag]) if tag in _HEADINGS else ("question", 0)
            return
        if tag == "br":
            self._end_line()
        elif tag == "li":
            self._end_line()
            self._buf = "- "
        elif tag == "tr":
            self._end_line()
        elif tag in ("td", "th"):
            if self._buf.strip():
                self._buf += " | "
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if self._capture is not None and (tag in _HEADINGS or tag in _QUESTION_TAGS):
            kind, level = self._capture
            text = " ".join(self._buf.split())
            self._capture, self._buf = None, ""
            if text:
                self.blocks.append(Block("heading" if kind == "heading" else "question", text, level=level))
            return
        if tag == "pre":
            self._flush()
            self._pre = max(0, self._pre - 1)
        elif tag in ("li", "tr", "dd"):
            self._end_line()
            if tag == "dd":
                self._flush()
        elif tag in ("dl", "details"):
            self._flush()
            self.blocks.append(Block("break", ""))
        elif tag in _BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip:
            return
        if self._pre and self._capture is None:
            for i, part in enumerate(data.split("\n")):
                if i:
                    self._end_line()
                self._buf += part
            return
        text = " ".join(data.split())
        if not text:
            if data and self._buf and not self._buf.endswith(" "):
                self._buf += " "
            return
        if data[:1].isspace() and self._buf and not self._buf.endswith(" "):
            self._buf += " "
        self._buf += text
        if data[-1:].isspace():
            self._buf += " "

    def close(self) -> None:
        super().close()
        self._capture = None
        self._flush()


def parse_html(text: str) -> DocumentContent:
    """Extract visible text blocks and headings from decoded HTML."""
    parser = _VisibleText()
    parser.feed(clean_text(text))
    parser.close()
    blocks = parser.blocks
    title = " ".join(parser.title.split())
    has_h1 = any(b.kind == "heading" and b.level == 1 for b in blocks)
    if title and not has_h1:
        # The page's <title> stands in for a missing <h1>, so chunks still carry a context.
        blocks = [Block("heading", title, level=1), *blocks]
    return DocumentContent(blocks=tuple(blocks))


def load_html(data: bytes, source: str) -> DocumentContent:
    """Loader entry point for .html/.htm files."""
    return parse_html(decode_text(data))
