"""Structure-aware chunking: document blocks -> sections -> FAQ pairs and sized passages.

Why structure first: a passage is only citable if its context is known, so the
heading path travels with every chunk as its title ("Course > Pricing"); FAQ
pairs are kept whole; long sections are cut only between sentences, and tiny
leftovers are merged so no chunk is a lone "Thanks!".

Output is `ChunkDraft`s (no ids yet): ids depend on the chunk's position in the
whole file, which only the caller knows once drafts from all sections exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal

from brain.knowledge.content import Block, DocumentContent
from brain.knowledge.faq import (
    is_question_heading,
    match_answer,
    match_question,
    split_inline_answer,
    strip_question_marker,
)
from brain.knowledge.sentences import split_oversized, split_sentences
from brain.knowledge.textutil import detect_lang, is_cjk, weighted_len
from brain.retrieval.types import MetaValue

__all__ = ["ChunkingOptions", "ChunkDraft", "chunk_document", "TITLE_SEPARATOR"]

TITLE_SEPARATOR = " > "
ChunkKind = Literal["doc", "faq", "product"]


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """Size budget for passages, in characters where a CJK ideograph counts ``cjk_weight``.

    ``target_chars``: stop adding sentences once a chunk would pass this, unless
    the sentence finishes the current paragraph and stays under ``max_chars``.
    ``max_chars``: hard bound; only a single sentence longer than this is cut
    (at clause punctuation). ``min_chars``: a smaller leftover is merged into a
    neighbour of the same section when the result fits ``max_chars``.
    ``cjk_weight`` 2.0 makes a Chinese chunk ~250 ideographs, about the same
    information and model tokens as ~500 English characters.
    """

    target_chars: int = 500
    max_chars: int = 800
    min_chars: int = 120
    cjk_weight: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.min_chars <= self.target_chars <= self.max_chars:
            raise ValueError("need 0 < min_chars <= target_chars <= max_chars")
        if self.cjk_weight <= 0:
            raise ValueError("cjk_weight must be positive")

    def size(self, text: str) -> int:
        return weighted_len(text, self.cjk_weight)


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A chunk before it gets its id: kind, title, text, language, flat metadata."""

    kind: ChunkKind
    title: str
    text: str
    lang: str
    metadata: dict[str, MetaValue] = field(default_factory=dict)


@dataclass(slots=True)
class _Section:
    path: tuple[str, ...]
    blocks: list[Block]


@dataclass(frozen=True, slots=True)
class _Item:
    """One logical line of a section, with whether it starts a paragraph."""

    text: str
    para_start: bool
    page: int | None
    question: bool = False


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence (or a short line) to pack; ``sep`` is what joins it to the previous unit."""

    text: str
    sep: str
    page: int | None
    #: for a row of a table (cells joined by " | "), the table's header row; None for other text
    table_header: str | None = None


def _is_table_row(text: str) -> bool:
    return " | " in text


def chunk_document(doc: DocumentContent, options: ChunkingOptions | None = None) -> list[ChunkDraft]:
    """Turn a loaded document into chunk drafts in reading order."""
    opts = options or ChunkingOptions()
    drafts: list[ChunkDraft] = []
    for section in _sections(doc.blocks, doc.title):
        drafts.extend(_chunk_section(section, opts))
    return drafts


def _sections(blocks: Iterable[Block], doc_title: str) -> list[_Section]:
    """Group blocks under their heading path (a stack of (level, heading))."""
    stack: list[tuple[int, str]] = []
    root = _Section(path=(doc_title,) if doc_title else (), blocks=[])
    sections = [root]
    for block in blocks:
        if block.kind == "heading":
            heading = block.text.strip()
            if not heading:
                continue
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, heading))
            sections.append(_Section(path=tuple(h for _, h in stack), blocks=[]))
        else:
            sections[-1].blocks.append(block)
    return [s for s in sections if s.blocks]


_BREAK = "\x00break"  # sentinel item text; real text never contains NUL (decode_text refuses it)


def _items(blocks: list[Block]) -> list[_Item]:
    items: list[_Item] = []
    for block in blocks:
        if block.kind == "break":
            items.append(_Item(_BREAK, True, block.page))
            continue
        if block.kind == "question":
            items.append(_Item(block.text.strip(), True, block.page, question=True))
            continue
        first = True
        for line in block.text.split("\n"):
            if line.strip():
                items.append(_Item(line.strip(), first, block.page))
                first = False
    return items


def _chunk_section(section: _Section, opts: ChunkingOptions) -> list[ChunkDraft]:
    items = _items(section.blocks)
    if not items:
        return []
    title = TITLE_SEPARATOR.join(section.path)
    if all(it.text == _BREAK for it in items):
        return []
    items_no_break = [it for it in items if it.text != _BREAK]
    has_markers = any(it.question or match_question(it.text) is not None for it in items_no_break)
    if section.path and not has_markers and is_question_heading(section.path[-1]):
        question = strip_question_marker(section.path[-1])
        parent = TITLE_SEPARATOR.join(section.path[:-1])
        return _faq_drafts(question, items_no_break, parent, opts)

    # Segments in reading order: ("doc", items) or (question, answer items).
    segments: list[tuple[str | None, list[_Item]]] = [(None, [])]
    in_answer = False
    for item in items:
        if item.text == _BREAK:
            if segments[-1][0] is not None:
                segments.append((None, []))
            continue
        question = strip_question_marker(item.text) if item.question else match_question(item.text)
        if question is not None:
            question, inline_answer = split_inline_answer(question)
            answer: list[_Item] = []
            if inline_answer:
                answer.append(_Item(inline_answer, True, item.page))
            segments.append((question, answer))
            in_answer = bool(inline_answer)
            continue
        q_text, body = segments[-1]
        if q_text is None:
            body.append(item)
            continue
        a_text = match_answer(item.text)
        if a_text is not None:
            in_answer = True
            if a_text:
                body.append(_Item(a_text, True, item.page))
        elif not in_answer and not item.para_start:
            segments[-1] = (f"{q_text} {item.text}", body)  # wrapped question line
        else:
            in_answer = True
            body.append(item)

    drafts: list[ChunkDraft] = []
    for q_text, body in segments:
        if q_text is None:
            drafts.extend(_doc_drafts(body, title, opts))
        elif body:
            drafts.extend(_faq_drafts(q_text, body, title, opts))
        else:  # a "Q:" with nothing after it is just text
            drafts.extend(_doc_drafts([_Item(q_text, True, None)], title, opts))
    return drafts


def _units(items: list[_Item], opts: ChunkingOptions, budget: int) -> list[_Unit]:
    """Split items into sentences, recording how each joins its predecessor."""
    units: list[_Unit] = []
    header: str | None = None  # the first row of the table being read
    for item in items:
        sep = "\n\n" if item.para_start else "\n"
        if _is_table_row(item.text) and opts.size(item.text) <= budget:
            # A row is one unit, never split into sentences: cut, it would read as two broken rows.
            if header is None or item.para_start:
                header = item.text
                units.append(_Unit(item.text, sep, item.page))
            else:
                units.append(_Unit(item.text, sep, item.page, table_header=header))
            continue
        header = None
        for i, sentence in enumerate(split_sentences(item.text)):
            for j, piece in enumerate(split_oversized(sentence, budget, opts.cjk_weight)):
                if i == 0 and j == 0:
                    units.append(_Unit(piece, sep, item.page))
                else:
                    prev = units[-1].text
                    joiner = "" if (is_cjk(prev[-1]) or is_cjk(piece[0])) else " "
                    units.append(_Unit(piece, joiner, item.page))
    return units


def _pack(units: list[_Unit], opts: ChunkingOptions, budget_max: int, budget_target: int) -> list[list[_Unit]]:
    """Greedy packing by sentence with paragraph preference, then merge tiny leftovers."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for index, unit in enumerate(units):
        add = opts.size(unit.text) + (len(unit.sep) if current else 0)
        if current:
            fits_target = size + add <= budget_target
            # Past the target, still take the sentence that ends the paragraph,
            # so a paragraph slightly over target is not left with a stub.
            ends_paragraph = index + 1 == len(units) or units[index + 1].sep == "\n\n"
            finishes_paragraph = unit.sep != "\n\n" and ends_paragraph and size + add <= budget_max
            too_small = size < opts.min_chars and size + add <= budget_max
            if not (fits_target or finishes_paragraph or too_small):
                groups.append(current)
                current, size = [], 0
                add = opts.size(unit.text)
        current.append(unit)
        size += add
    if current:
        groups.append(current)
    return _merge_tiny(groups, opts, budget_max)


def _group_size(group: list[_Unit], opts: ChunkingOptions) -> int:
    return opts.size(_render(group))


def _merge_tiny(groups: list[list[_Unit]], opts: ChunkingOptions, budget_max: int) -> list[list[_Unit]]:
    merged: list[list[_Unit]] = []
    for group in groups:
        if merged and (
            _group_size(group, opts) < opts.min_chars or _group_size(merged[-1], opts) < opts.min_chars
        ):
            candidate = merged[-1] + group
            if _group_size(candidate, opts) <= budget_max:
                merged[-1] = candidate
                continue
        merged.append(group)
    return merged


def _render(group: list[_Unit]) -> str:
    parts: list[str] = []
    for i, unit in enumerate(group):
        if i:
            parts.append(unit.sep)
        parts.append(unit.text)
    return "".join(parts).strip()


def _page_meta(group: list[_Unit]) -> dict[str, MetaValue]:
    pages = [u.page for u in group if u.page is not None]
    if not pages:
        return {}
    meta: dict[str, MetaValue] = {"page": min(pages)}
    if max(pages) != min(pages):
        meta["page_end"] = max(pages)
    return meta


def _doc_drafts(items: list[_Item], title: str, opts: ChunkingOptions) -> list[ChunkDraft]:
    if not items:
        return []
    units = _units(items, opts, opts.max_chars)
    drafts = []
    for group in _pack(units, opts, opts.max_chars, opts.target_chars):
        text = _render(group)
        if group[0].table_header is not None:  # a table cut between chunks: its rest keeps the header row
            text = f"{group[0].table_header}\n{text}"
        meta: dict[str, MetaValue] = {"kind": "doc", **_page_meta(group)}
        drafts.append(ChunkDraft("doc", title, text, detect_lang(text), meta))
    return drafts


def _faq_drafts(question: str, answer: list[_Item], section: str, opts: ChunkingOptions) -> list[ChunkDraft]:
    """One chunk per Q/A pair; an over-long answer is split, each part repeating the question."""
    lang = detect_lang(question + " " + " ".join(i.text for i in answer))
    q_label, a_label = ("问：", "答：") if lang == "zh" else ("Q: ", "A: ")
    head = f"{q_label}{question}\n{a_label}"
    room = max(opts.min_chars, opts.max_chars - opts.size(head))
    target = max(opts.min_chars, min(opts.target_chars, room))
    units = _units(answer, opts, room)
    # The first answer unit follows "A: " directly, not after a paragraph break.
    if units:
        units[0] = _Unit(units[0].text, "", units[0].page)
    drafts = []
    for group in _pack(units, opts, room, target):
        text = head + _render(group)
        meta: dict[str, MetaValue] = {"kind": "faq", **_page_meta(group)}
        if section:
            meta["section"] = section
        drafts.append(ChunkDraft("faq", question, text, lang, meta))
    return drafts
