"""What the answerer may quote from a passage: its sentences, its table rows, its product's fields.

A chunk is written for readers of the page, not for a viewer who asked one
thing. This module cuts each retrieved chunk into *candidates*, each a short
text that can stand alone in a chat message:

- prose and FAQ answers → sentences (an FAQ's question line is never quoted; a
  bare "Yes." / "No." / "可以。" is kept with the sentence after it, because
  the pair settles the question and explains it);
- table rows (`" | "`-joined cells under a header row) → one sentence per row,
  "first cell — header: value; header: value.", so a row reads as a sentence
  instead of cells run together;
- products → one candidate per catalog field (price, stock) and per sentence
  of the description, each led by the product's name, plus the whole product
  line (name, price, stock, link) for "tell me about …" questions.

Text that looks like an instruction to the bot is never a candidate
(`brain.text.safety`): knowledge files are untrusted too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from brain.knowledge.product_records import format_price
from brain.knowledge.sentences import split_sentences
from brain.retrieval.types import Chunk
from brain.text.safety import looks_like_instruction
from brain.text.tokens import tokenize

__all__ = ["Candidate", "candidates_of", "product_line", "product_head_words", "product_subject", "join_sentences"]

_FAQ_QUESTION = re.compile(r"^\s*(Q|Question|问|问题)\s*[:：]", re.IGNORECASE)
_FAQ_ANSWER = re.compile(r"^\s*(A|Answer|答|回答)\s*[:：]\s*", re.IGNORECASE)
_LIST_MARK = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)、])\s+")
#: A bare "Yes." / "No." / "可以。" settles a question only together with the sentence after it.
_SETTLER = re.compile(r"^\s*(?:yes|no|yep|nope|sure|of course|not yet|correct|right|可以|不可以|不行|能|不能|是的|是|不是|"
                      r"有|没有|会|不会|支持|不支持|对|不对|行)\s*[.!。！,，]?\s*$", re.IGNORECASE)
#: Product text lines that are bookkeeping, not facts a viewer asks about.
_PRODUCT_NOISE = re.compile(r"^\s*(Tags|Product ID|Link|Price|Stock|标签|商品编号|链接|价格|库存)\s*[:：]", re.I)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One quotable text and where it comes from.

    ``position`` is its order inside the chunk (0 = first), ``field`` names the
    catalog field a product candidate states ("price", "stock", "description",
    "product") and is "" for prose.
    """

    text: str
    chunk: Chunk
    position: int
    field: str = ""


def join_sentences(sentences: list[str]) -> str:
    """Join sentences the way their script does: no space after CJK punctuation."""
    out = ""
    for sentence in sentences:
        out += sentence if not out or out[-1] in "。！？；：" else " " + sentence
    return out


def product_line(chunk: Chunk) -> str:
    """A product in one line: name, price, stock and link, all from the catalog's own fields."""
    meta = chunk.metadata
    name = product_name(chunk)
    parts = [name]
    price = _price(chunk)
    if price:
        parts.append(price)
    stock = _stock(chunk)
    if stock:
        parts.append(stock)
    line = ", ".join(parts)
    return f"{line}. {meta['url']}" if meta.get("url") else f"{line}."


def product_name(chunk: Chunk) -> str:
    """The product's name; a name that addresses the bot is replaced by the product's id."""
    name = str(chunk.metadata.get("name") or chunk.title or chunk.source)
    if looks_like_instruction(name):
        return str(chunk.metadata.get("id") or chunk.source)
    return name


#: What an accessory's name says it is made for ("Spare Jar for BlendGo Pro", "适用于 BlendGo Pro").
_MADE_FOR = re.compile(r"\s+(?:for|fits)\s+|适用于|适合|配")
_HEAD_END = re.compile(r"\s+(?:for|with|fits|\+)\s+|[:：+(（]|适用于|适合|配")


def product_head_words(chunk: Chunk) -> set[str]:
    """The words of what a product *is*: its name up to "for", "+", ":" or "(".

    "BlendGo Pro Portable Blender 500 ml" → all of it; "Spare Jar for BlendGo
    Pro" → "spare jar"; "Starter Bundle: BlendGo Pro + …" → "starter bundle".
    A question naming "the pro" names the blender, not its jar.
    """
    return set(tokenize(_HEAD_END.split(product_name(chunk), maxsplit=1)[0]))


def product_subject(chunk: Chunk, asked: set[str]) -> int:
    """Whether a question's words name this product (+1), only what it is made for (-1), or neither (0).

    "how much is the pro" names the BlendGo Pro (+1) and, of the "Spare Jar
    for BlendGo Pro", only what the jar fits (-1): the question is about the
    blender, and the jar's price is the wrong answer even though retrieval
    ranks the jar's card first. A bundle's contents ("Starter Bundle: BlendGo
    Pro + …") and a name's second part ("Smoothie Lab: 30-Day Blender Course")
    are neither: the course *is* the product "how much is the course?" names.
    """
    if asked & product_head_words(chunk):
        return 1
    parts = _MADE_FOR.split(product_name(chunk), maxsplit=1)
    return -1 if len(parts) == 2 and asked & set(tokenize(parts[1])) else 0


def _price(chunk: Chunk) -> str:
    price = chunk.metadata.get("price")
    if isinstance(price, (int, float)) and not isinstance(price, bool):
        return f"{format_price(float(price))} {chunk.metadata.get('currency', '')}".strip()
    return ""


def _stock(chunk: Chunk) -> str:
    stock = chunk.metadata.get("stock")
    if isinstance(stock, int) and not isinstance(stock, bool):
        if chunk.lang == "zh":
            return f"库存 {stock} 件" if stock > 0 else "已售罄"
        return f"{stock} in stock" if stock > 0 else "sold out"
    return ""


def _product_candidates(chunk: Chunk) -> list[Candidate]:
    name = product_name(chunk)
    zh = chunk.lang == "zh"
    colon = "：" if zh else ": "
    out = [Candidate(product_line(chunk), chunk, 0, "product")]
    price, stock = _price(chunk), _stock(chunk)
    link = f" {chunk.metadata['url']}" if chunk.metadata.get("url") else ""
    stop = "。" if zh else "."
    # A viewer asking the price or the stock is about to buy: the answer carries the other and the link.
    if price:
        tail = f"{'，' if zh else ', '}{stock}" if stock else ""
        out.append(Candidate(f"{name}{colon}{'价格' if zh else 'price'} {price}{tail}{stop}{link}", chunk, 1, "price"))
    if stock:
        tail = f"{'，价格 ' if zh else ', price '}{price}" if price else ""
        out.append(Candidate(f"{name}{colon}{stock}{tail}{stop}{link}", chunk, 2, "stock"))
    body = chunk.text.splitlines()[0] if chunk.text else ""
    if body.startswith(name):
        body = body[len(name):].lstrip(" .。")
    for i, sentence in enumerate(split_sentences(body)):
        if _PRODUCT_NOISE.match(sentence) or looks_like_instruction(sentence):
            continue
        out.append(Candidate(f"{name}{colon}{sentence}", chunk, 3 + i, "description"))
    return out


def _table_rows(lines: list[str], lang: str) -> list[str]:
    """Rows of a `" | "`-joined table as sentences, using the header row's labels when there is one."""
    cells = [[c.strip() for c in line.split(" | ")] for line in lines]
    header, rows = (cells[0], cells[1:]) if len(cells) > 1 else ([], cells)
    out: list[str] = []
    for row in rows:
        if not any(row):
            continue
        lead, rest = row[0], row[1:]
        labelled = []
        for i, value in enumerate(rest, start=1):
            if not value:
                continue
            label = header[i] if i < len(header) and header[i] else ""
            if not label:
                labelled.append(value)
            elif lang == "zh":
                labelled.append(f"{label} {value}")
            else:  # "cost: Free shipping", not "cost Free shipping": the label stays apart from the value
                labelled.append(f"{label.lower() if label.isascii() else label}: {value}")
        if not labelled:
            out.append(lead)
            continue
        out.append(f"{lead}：{'；'.join(labelled)}。" if lang == "zh" else f"{lead} — {'; '.join(labelled)}.")
    return out


def _prose_candidates(chunk: Chunk) -> list[Candidate]:
    sentences: list[str] = []
    table: list[str] = []

    def flush_table() -> None:
        if table:
            sentences.extend(_table_rows(table, chunk.lang) if len(table) > 1 else [table[0].replace(" | ", ", ")])
            table.clear()

    for line in chunk.text.splitlines():
        if _FAQ_QUESTION.match(line):
            flush_table()
            continue
        line = _LIST_MARK.sub("", _FAQ_ANSWER.sub("", line)).strip()
        if not line:
            flush_table()
            continue
        if " | " in line:
            table.append(line)
            continue
        flush_table()
        sentences.extend(s.strip() for s in split_sentences(line) if s.strip())
    flush_table()
    merged: list[str] = []
    for sentence in sentences:
        if merged and _SETTLER.match(merged[-1]):
            merged[-1] = join_sentences([merged[-1], sentence])
        else:
            merged.append(sentence)
    return [Candidate(s, chunk, i) for i, s in enumerate(merged) if not looks_like_instruction(s)]


def candidates_of(chunk: Chunk) -> list[Candidate]:
    """Everything ``chunk`` offers to quote, in its order."""
    if chunk.metadata.get("kind") == "product":
        return _product_candidates(chunk)
    return _prose_candidates(chunk)
