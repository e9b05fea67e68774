"""Catalog rows -> validated `Product`s -> product chunk drafts.

A product answer is only as good as its price, so validation is strict where
a wrong value would be quoted to a buyer (price, stock, currency) and lenient
where it would not (unknown extra columns become text). Rows come from CSV,
JSON or YAML; the field names and aliases are the catalog schema documented in
docs/knowledge.md.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

from brain.knowledge.chunking import ChunkDraft
from brain.knowledge.content import CatalogContent, Product, RowIssue
from brain.knowledge.textutil import clean_text, detect_lang
from brain.retrieval.types import MetaValue

__all__ = [
    "FIELD_ALIASES",
    "RowError",
    "normalize_key",
    "parse_product",
    "parse_products",
    "format_price",
    "product_draft",
]

#: Canonical field -> accepted column/key names (compared after `normalize_key`).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "sku", "product_id", "item_id", "编号", "货号", "商品编号"),
    "name": ("name", "title", "product", "product_name", "名称", "商品名称", "品名"),
    "price": ("price", "价格", "售价"),
    "currency": ("currency", "币种", "货币"),
    "url": ("url", "link", "链接", "购买链接"),
    "tags": ("tags", "tag", "keywords", "标签", "关键词"),
    "stock": ("stock", "inventory", "quantity", "qty", "库存"),
    "description": ("description", "desc", "details", "描述", "简介", "商品描述"),
}
_ALIAS_TO_FIELD = {alias: canon for canon, aliases in FIELD_ALIASES.items() for alias in aliases}

_SYMBOLS = {"¥": "CNY", "￥": "CNY", "元": "CNY", "块": "CNY", "RMB": "CNY", "$": "USD", "US$": "USD",
            "€": "EUR", "£": "GBP"}
_PRICE = re.compile(
    r"^\s*(?P<pre>US\$|[¥￥$€£]|[A-Za-z]{3})?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(?P<post>元|块|[A-Za-z]{3})?\s*$"
)
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_TAG_SPLIT = re.compile(r"\s*[,;|、，；]\s*")
_MAX_FIELD = 5000


class RowError(ValueError):
    """A catalog row that cannot be used; the message is the reason in the report."""


def normalize_key(key: object) -> str:
    """Lower-case, trimmed, spaces/dashes as underscores: "Product ID" -> "product_id"."""
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def _text(value: Any, field_name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RowError(f"{field_name} must be text, got {type(value).__name__}")
    text = " ".join(clean_text(str(value)).split())
    if len(text) > _MAX_FIELD:
        raise RowError(f"{field_name} is longer than {_MAX_FIELD} characters")
    return text


def _currency(value: str) -> str:
    code = _SYMBOLS.get(value, _SYMBOLS.get(value.upper(), value.upper()))
    if not _CURRENCY_CODE.match(code):
        raise RowError(f"currency {value!r} is not a 3-letter code (CNY, USD, ...)")
    return code


def _price(value: Any) -> tuple[float | None, str | None]:
    """Price as a non-negative float plus the currency its text implied ("¥299" -> CNY)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool):
        raise RowError("price must be a number")
    if isinstance(value, (int, float)):
        number, implied = float(value), None
    else:
        m = _PRICE.match(clean_text(str(value)))
        if not m:
            raise RowError(f"price {str(value)[:40]!r} is not a number")
        number = float(m.group("num").replace(",", ""))
        marks = {mark for mark in (m.group("pre"), m.group("post")) if mark}
        codes = {_currency(mark) for mark in marks}
        if len(codes) > 1:
            raise RowError(f"price {value!r} names two currencies")
        implied = codes.pop() if codes else None
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise RowError(f"price {value!r} must be a non-negative number")
    return number, implied


def _stock(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise RowError("stock must be a whole number")
    try:
        number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
    except ValueError:
        raise RowError(f"stock {str(value)[:40]!r} is not a whole number") from None
    if not number.is_integer() or number < 0:
        raise RowError(f"stock {value!r} must be a whole number >= 0")
    return int(number)


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    raw: Iterable[Any] = value if isinstance(value, (list, tuple)) else _TAG_SPLIT.split(str(value))
    seen: dict[str, None] = {}
    for tag in raw:
        if isinstance(tag, (dict, list)):
            raise RowError("tags must be text or a list of text")
        t = _text(tag, "tag")
        if t:
            seen.setdefault(t, None)
    return tuple(seen)


def _url(value: Any, warnings: list[str]) -> str | None:
    url = _text(value, "url")
    if not url:
        return None
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", url, re.IGNORECASE):
        # Untrusted: never hand viewers a javascript: or file: link. The product
        # itself is still useful, so only the field is dropped.
        warnings.append(f"url {url[:60]!r} dropped (only http/https links are kept)")
        return None
    return url


def parse_product(
    raw: Mapping[Any, Any], row: int, default_currency: str | None = None
) -> tuple[Product, list[str]]:
    """Validate one catalog row; raises `RowError` if it cannot be used.

    Returns the product and warnings about dropped fields. Unknown keys with
    scalar values are kept as ``extra`` (rendered into the text, so a "color"
    column is searchable); nested values in unknown keys are ignored.
    """
    fields: dict[str, Any] = {}
    extra: list[tuple[str, str]] = []
    warnings: list[str] = []
    for key, value in raw.items():
        if key is None:  # csv.DictReader's bucket for surplus cells
            continue
        norm = normalize_key(key)
        canon = _ALIAS_TO_FIELD.get(norm)
        if canon is not None:
            if canon in fields and fields[canon] not in (None, ""):
                raise RowError(f"field {canon!r} given twice ({key!r})")
            fields[canon] = value
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            extra.append((_text(key, "column name"), _text(value, str(key))))
        elif isinstance(value, bool):
            extra.append((_text(key, "column name"), "yes" if value else "no"))
    pid = _text(fields.get("id"), "id")
    name = _text(fields.get("name"), "name")
    if not pid:
        raise RowError("missing id")
    if not name:
        raise RowError("missing name")
    price, implied = _price(fields.get("price"))
    currency_text = _text(fields.get("currency"), "currency")
    currency = _currency(currency_text) if currency_text else None
    if currency and implied and currency != implied:
        raise RowError(f"price {fields.get('price')!r} contradicts currency {currency}")
    currency = currency or implied or (default_currency if price is not None else None)
    product = Product(
        id=pid,
        name=name,
        price=price,
        currency=currency,
        url=_url(fields.get("url"), warnings),
        tags=_tags(fields.get("tags")),
        stock=_stock(fields.get("stock")),
        description=_text(fields.get("description"), "description"),
        extra=tuple(extra),
        row=row,
    )
    return product, warnings


def parse_products(
    rows: Iterable[tuple[int, Any]], default_currency: str | None = None
) -> CatalogContent:
    """Validate numbered rows; bad rows and duplicate ids become `RowIssue`s, never errors."""
    products: list[Product] = []
    issues: list[RowIssue] = []
    seen: dict[str, int] = {}
    default = _currency(default_currency) if default_currency else None
    for row, raw in rows:
        if not isinstance(raw, Mapping):
            issues.append(RowIssue(row, f"expected a product object, got {type(raw).__name__}"))
            continue
        try:
            product, warnings = parse_product(raw, row, default)
        except RowError as exc:
            issues.append(RowIssue(row, str(exc)))
            continue
        if product.id in seen:
            issues.append(RowIssue(row, f"duplicate id {product.id!r} (first at row {seen[product.id]})"))
            continue
        seen[product.id] = row
        products.append(product)
        issues.extend(RowIssue(row, w, skipped=False) for w in warnings)
    return CatalogContent(products=tuple(products), issues=tuple(issues))


def format_price(price: float) -> str:
    """299.0 -> "299", 29.9 -> "29.90": how the text shows a price (and how answers should)."""
    return str(int(price)) if float(price).is_integer() else f"{price:.2f}"


def product_draft(product: Product) -> ChunkDraft:
    """Render a product as a readable passage plus flat metadata.

    The text repeats every field a viewer might ask about (name, description,
    price, tags, stock, id, link) in a sentence-like form, so BM25 matches the
    words and an embedding model sees natural language, not a table row.
    """
    lang = detect_lang(f"{product.name} {product.description}")
    zh = lang == "zh"
    sep = "。" if zh else ". "
    parts: list[str] = [product.name if zh else product.name.rstrip(".")]
    if product.description:
        parts.append(product.description.rstrip("。." if not zh else "。"))
    if product.price is not None:
        amount = format_price(product.price)
        cur = product.currency or ""
        if zh:
            parts.append(f"价格：{amount} 元" if cur == "CNY" else f"价格：{amount} {cur}".rstrip())
        else:
            parts.append(f"Price: {amount} {cur}".rstrip())
    if product.tags:
        parts.append(("标签：" if zh else "Tags: ") + ", ".join(product.tags))
    if product.stock is not None:
        if zh:
            parts.append(f"库存：{product.stock} 件" if product.stock else "库存：已售罄")
        else:
            parts.append(f"Stock: {product.stock} available" if product.stock else "Stock: sold out")
    for key, value in product.extra:
        parts.append(f"{key}：{value}" if zh else f"{key}: {value}")
    parts.append(("商品编号：" if zh else "Product ID: ") + product.id)
    text = sep.join(p.strip() for p in parts if p.strip()) + ("。" if zh else ".")
    if product.url:  # last, and with no punctuation glued to it, so the link stays clickable
        text += ("\n链接：" if zh else "\nLink: ") + product.url
    meta: dict[str, MetaValue] = {"kind": "product", "id": product.id, "name": product.name}
    if product.price is not None:
        meta["price"] = product.price
    if product.currency:
        meta["currency"] = product.currency
    if product.url:
        meta["url"] = product.url
    if product.tags:
        meta["tags"] = ", ".join(product.tags)
    if product.stock is not None:
        meta["stock"] = product.stock
    return ChunkDraft("product", product.name, text, lang, meta)
